# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

import os
from unittest import mock

import fixtures

from tests.unit import base
from trove_image_builder.build import host
from trove_image_builder import errors

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# a comment inside the stanza
URIs: http://deb.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
"""


class TestMirrors(base.TestCase):

    def _root(self, os_id='debian', deb822=None, one_line=None):
        root = os.path.join(self.tmp, 'root')
        base.write(os.path.join(root, 'etc/os-release'),
                   'NAME=x\nID=%s\n' % os_id)
        if deb822:
            base.write(os.path.join(root, 'etc/apt/sources.list.d/'
                                          'debian.sources'), deb822)
        if one_line:
            base.write(os.path.join(root, 'etc/apt/sources.list'), one_line)
        return root

    def test_deb822(self):
        root = self._root(deb822=DEB822)
        self.assertEqual(('http://deb.example.org/debian',
                          'http://deb.example.org/debian-security'),
                         host.debian_mirrors(root))

    def test_one_line_with_options(self):
        root = self._root(one_line=(
            '# deb http://ignored/debian bookworm main\n'
            'deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ '
            'bookworm main\n'
            'deb http://m.example/debian-security bookworm-security main\n'
            'deb http://m.example/debian bookworm-backports main\n'))
        self.assertEqual(('http://m.example/debian',
                          'http://m.example/debian-security'),
                         host.debian_mirrors(root))

    def test_not_debian(self):
        root = self._root(os_id='ubuntu', deb822=DEB822)
        self.assertEqual((None, None), host.debian_mirrors(root))


class TestHostname(base.TestCase):

    def test_unresolved_hostname(self):
        def fails(name, port):
            raise host.socket.gaierror(-2, 'Name or service not known')
        self.assertEqual('vm', host.unresolved_hostname(
            resolve=fails, hostname=lambda: 'vm'))
        self.assertIsNone(host.unresolved_hostname(
            resolve=lambda name, port: [()], hostname=lambda: 'vm'))


class TestTools(base.TestCase):

    def setUp(self):
        super().setUp()
        # Whatever this host's resolver says.
        self.useFixture(fixtures.MockPatchObject(
            host, 'unresolved_hostname', return_value=None))

    def test_missing_tools_name_packages(self):
        which = mock.Mock(side_effect=lambda c, path: None if c in (
            'sgdisk', 'qemu-img') else '/usr/bin/' + c)
        self.assertEqual({'qemu-img': 'qemu-utils', 'sgdisk': 'gdisk'},
                         host.missing_tools(host.BUILD_TOOLS, which=which))

    @mock.patch.object(host, 'missing_tools', return_value={})
    def test_unresolved_hostname_refused_before_dib(self, _tools):
        with mock.patch.object(host, 'unresolved_hostname',
                               return_value='vm'):
            e = self.assertRaises(errors.HostError, host.check_build_host,
                                  'mbr')
        self.assertIn("'vm' does not resolve", str(e))
        self.assertIn('/etc/hosts', str(e))

    def test_check_build_host_says_what_to_install(self):
        with mock.patch.object(host, 'missing_tools',
                               return_value={'debootstrap': 'debootstrap',
                                             'sgdisk': 'gdisk'}):
            e = self.assertRaises(errors.HostError, host.check_build_host,
                                  'mbr')
        self.assertIn('apt-get install debootstrap gdisk', str(e))

    @mock.patch.object(host, 'missing_tools', return_value={})
    def test_no_device_mapper_needs_partmap(self, _tools):
        with mock.patch.object(host.partmap, 'host_has_device_mapper',
                               return_value=False), \
                mock.patch.object(host.partmap, 'is_installed',
                                  return_value=False):
            e = self.assertRaises(errors.HostError, host.check_build_host,
                                  'mbr')
        self.assertIn('host-setup', str(e))
        with mock.patch.object(host.partmap, 'host_has_device_mapper',
                               return_value=False), \
                mock.patch.object(host.partmap, 'is_installed',
                                  return_value=True):
            host.check_build_host('mbr')

    @mock.patch.object(host, 'missing_tools', return_value={})
    def test_efi_without_vfat_refused(self, _tools):
        with mock.patch.object(host.partmap, 'host_has_vfat',
                               return_value=False):
            e = self.assertRaises(errors.HostError, host.check_build_host,
                                  'efi')
        self.assertIn('--block-device mbr', str(e))

    def test_block_device_auto(self):
        self.assertEqual('efi', host.block_device('auto', has_vfat=True))
        self.assertEqual('mbr', host.block_device('auto', has_vfat=False))
        self.assertEqual('gpt', host.block_device('gpt', has_vfat=False))

    def test_require_root(self):
        e = self.assertRaises(errors.HostError, host.require_root,
                              geteuid=lambda: 1000)
        self.assertIn('needs root', str(e))
        host.require_root(geteuid=lambda: 0)

    def test_disk_image_create_configured_must_exist(self):
        self.assertRaises(errors.HostError, host.disk_image_create,
                          '/nonexistent')


class TestPipSettings(base.TestCase):

    def test_environment_wins_then_last_file(self):
        a = base.write(os.path.join(self.tmp, 'a.conf'),
                       '[global]\ncert = /a.pem\nindex-url = '
                       'file:///opt/pypi/simple\n')
        b = base.write(os.path.join(self.tmp, 'b.conf'),
                       '[global]\nindex-url = https://idx.example/simple\n')
        files = (a, b, os.path.join(self.tmp, 'missing.conf'))
        self.assertEqual('/a.pem', host.pip_setting('cert', {}, files))
        self.assertEqual('/env.pem', host.pip_setting(
            'cert', {'PIP_CERT': '/env.pem'}, files))
        self.assertEqual('https://idx.example/simple',
                         host.pip_index_url({}, files))
        # A local file:// index cannot be used inside the build chroot.
        self.assertIsNone(host.pip_index_url({}, (a,)))

    def test_ca_bundle_must_exist(self):
        ca = base.write(os.path.join(self.tmp, 'ca.pem'), 'x')
        self.assertEqual(ca, host.pip_ca_bundle({'PIP_CERT': ca}, ()))
        self.assertIsNone(host.pip_ca_bundle({'PIP_CERT': '/nope'}, ()))


class TestBaseUsage(base.TestCase):

    def test_counts_bases_by_blocks_not_apparent_size(self):
        bases = os.path.join(self.tmp, 'bases')
        os.makedirs(bases)
        with open(os.path.join(bases, 'trove-debian-bookworm-base.raw'),
                  'wb') as f:
            f.write(b'x' * 8192)
            f.truncate(1 << 30)  # sparse: 1 GiB apparent
        base.write(os.path.join(bases, '.trove-x-base.partial.raw'), 'p')
        base.write(os.path.join(bases, 'trove-debian-bookworm-base.json'),
                   '{}')
        count, used = host.base_usage(bases)
        self.assertEqual(1, count)
        self.assertGreaterEqual(used, 8192)
        self.assertLess(used, 1 << 20)
        self.assertEqual((0, 0), host.base_usage(os.path.join(self.tmp,
                                                              'none')))
