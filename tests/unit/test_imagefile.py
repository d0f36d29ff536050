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

"""Images that point at host files are refused by every step (issue 10.1).

Real qemu-img makes the hostile files: a qcow2 backed by a host file, a
qcow2 with an external data file, a VMDK whose extent is another file.
"""

import os
import shutil
import subprocess
from unittest import mock

import fixtures
from requests_mock.contrib import fixture as rm_fixture

from tests.unit import base
from tests.unit import test_load
from trove_image_builder import deploy
from trove_image_builder.deploy import fetch
from trove_image_builder import errors
from trove_image_builder import imagefile
from trove_image_builder import load
from trove_image_builder import manifest
from trove_image_builder import verify
from trove_image_builder.verify import conformance


def qemu_img(*args):
    subprocess.run(('qemu-img',) + args, check=True, capture_output=True)


class HostileImages(base.TestCase):

    def setUp(self):
        super().setUp()
        base.require_tool(self, 'qemu-img')
        self.secret = base.write(os.path.join(self.tmp, 'host-secret'),
                                 'root:secret\n')

    def backed(self, name='backed.qcow2'):
        path = os.path.join(self.tmp, name)
        qemu_img('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b',
                 self.secret, path)
        return path

    def with_data_file(self):
        path = os.path.join(self.tmp, 'datafile.qcow2')
        qemu_img('create', '-q', '-f', 'qcow2', '-o',
                 'data_file=%s,data_file_raw=on' % self.secret, path, '1M')
        return path

    def with_manifest(self, path, fmt='qcow2'):
        manifest.write(path, {'name': 'x', 'format': fmt,
                              'datastore': 'mariadb',
                              'datastore_version': '10.11',
                              'sha256': manifest.sha256_file(path),
                              'size': os.path.getsize(path)})
        return path


class TestCheckFile(HostileImages):

    def test_backing_file_refused(self):
        exc = self.assertRaises(errors.InputError, imagefile.check_file,
                                self.backed(), 'qcow2')
        self.assertIn('has a backing file (%s)' % self.secret, str(exc))
        self.assertEqual(2, exc.exit_code)

    def test_backing_file_refused_whatever_is_claimed(self):
        # Named and declared raw: qemu-img probes it as the qcow2 it is.
        path = self.backed('looks.raw')
        for declared in ('raw', None):
            self.assertRaisesRegex(errors.InputError, 'backing file',
                                   imagefile.check_file, path, declared)

    def test_external_data_file_refused(self):
        self.assertRaisesRegex(
            errors.InputError, 'external data file \\(%s\\)' % self.secret,
            imagefile.check_file, self.with_data_file(), None)

    def test_vmdk_extent_elsewhere_refused(self):
        path = os.path.join(self.tmp, 'flat.vmdk')
        qemu_img('create', '-q', '-f', 'vmdk', '-o',
                 'subformat=monolithicFlat', path, '1M')
        self.assertRaisesRegex(errors.InputError, 'extent in another file',
                               imagefile.check_file, path, 'vmdk')

    def test_self_contained_vmdk_accepted(self):
        path = os.path.join(self.tmp, 'sparse.vmdk')
        qemu_img('create', '-q', '-f', 'vmdk', path, '1M')
        self.assertEqual('vmdk', imagefile.check_file(path, 'vmdk'))

    def test_formats_outside_the_list_refused(self):
        # qed: a format with backing files that no Trove image uses.
        path = os.path.join(self.tmp, 'x.qed')
        qemu_img('create', '-q', '-f', 'qed', path, '1M')
        self.assertRaisesRegex(errors.InputError, 'a qed image: only',
                               imagefile.check_file, path, None)

    def test_claimed_format_must_match(self):
        path = os.path.join(self.tmp, 'plain.qcow2')
        qemu_img('create', '-q', '-f', 'qcow2', path, '1M')
        self.assertRaisesRegex(errors.InputError,
                               'format mismatch: .* is qcow2, .* says raw',
                               imagefile.check_file, path, 'raw')
        self.assertEqual('qcow2', imagefile.check_file(path, 'qcow2'))


class TestVhd(HostileImages):

    def test_vhd_goes_to_glance_as_vhd(self):
        path = os.path.join(self.tmp, 'disk.vhd')
        qemu_img('create', '-q', '-f', 'vpc', path, '1M')
        for declared in (None, 'vhd', 'vpc'):
            image = load.describe(load.Request(path, disk_format=declared,
                                               register=False))
            self.assertEqual('vhd', image.disk_format, declared)
        self.assertRaisesRegex(errors.InputError, 'is vpc, .* says qcow2',
                               load.describe, load.Request(
                                   path, disk_format='qcow2',
                                   register=False))


class TestLimits(base.TestCase):
    """qemu-img runs capped in time, memory and CPU (a stand-in shows)."""

    def fake_qemu_img(self, script):
        bin_dir = os.path.join(self.tmp, 'bin')
        base.write(os.path.join(bin_dir, 'qemu-img'),
                   '#!/bin/sh\n' + script, mode=0o755)
        self.useFixture(fixtures.EnvironmentVariable(
            'PATH', bin_dir + os.pathsep + os.environ['PATH']))

    def test_limits_apply_to_qemu_img(self):
        self.fake_qemu_img('ulimit -v; ulimit -t\n')
        out = imagefile.run('info', 'x').stdout.split()
        self.assertEqual([str(imagefile.LIMIT_ADDRESS_SPACE // 1024),
                          str(imagefile.LIMIT_CPU_SECONDS)], out)
        # ...and not to this process.
        self.assertNotEqual('%d' % (imagefile.LIMIT_ADDRESS_SPACE // 1024),
                            subprocess.run(['sh', '-c', 'ulimit -v'],
                                           capture_output=True,
                                           text=True).stdout.strip())

    def test_timeout(self):
        self.fake_qemu_img('exec sleep 30\n')
        exc = self.assertRaises(errors.InputError, imagefile.run, 'info',
                                '/x/img', timeout=0.5)
        self.assertEqual('qemu-img info did not finish in 0 seconds: /x/img',
                         str(exc))

    def test_info_shares_the_image(self):
        # A verify booting the image holds qemu's lock; info still reads it.
        self.fake_qemu_img('echo "$@"\n')
        with mock.patch('json.loads', side_effect=lambda s: {'a': s}):
            self.assertEqual('info --force-share --output json /i\n',
                             imagefile.info('/i')['a'])


class TestEveryStepRefuses(HostileImages):
    """verify, conformance, load, fetch, deploy: refused before any work."""

    def no_qemu(self, qemu):
        """A list of what was started; qemu itself never runs here."""
        started = []

        def fail(*args, **kwargs):
            started.append(args)
            raise AssertionError('qemu reached: %s' % (args,))
        for name in ('Machine', 'create_overlay', 'create_disk'):
            self.useFixture(fixtures.MockPatchObject(qemu, name,
                                                     side_effect=fail))
        return started

    def test_verify_before_qemu_starts(self):
        path = self.with_manifest(self.backed())
        started = self.no_qemu(verify.qemu)
        self.assertRaisesRegex(errors.InputError, 'backing file', verify.run,
                               path, verify.Options(work_dir=self.tmp))
        self.assertEqual([], started)

    def test_verify_claimed_format(self):
        path = os.path.join(self.tmp, 'img.qcow2')
        qemu_img('create', '-q', '-f', 'qcow2', path, '1M')
        self.with_manifest(path, fmt='raw')
        self.assertRaisesRegex(errors.InputError, 'format mismatch',
                               verify.run, path,
                               verify.Options(work_dir=self.tmp))

    def test_verify_command_exits_2(self):
        rc, _out, err = self.main(
            '[build]\nwork_dir = %s\n' % self.tmp, 'verify',
            self.with_data_file())
        self.assertEqual(2, rc)
        self.assertIn('external data file', err)

    def test_conformance_before_qemu_starts(self):
        path = self.with_manifest(self.backed())
        started = self.no_qemu(conformance.qemu)
        self.useFixture(fixtures.MockPatchObject(
            shutil, 'which', return_value='/usr/bin/socat'))
        # Never install the trove client venv here.
        self.useFixture(fixtures.MockPatchObject(
            conformance, 'client_venv', side_effect=started.append))
        self.assertRaisesRegex(
            errors.InputError, 'backing file', conformance.run, path,
            'mariadb:10.11', conformance.Options(
                work_dir=self.tmp, transport_url='rabbit://u:p@h:5672/'),
            catalog=None)
        self.assertEqual([], started)

    def test_load_before_the_cloud_is_reached(self):
        path = self.with_manifest(self.backed())
        connect = mock.Mock(side_effect=AssertionError('cloud reached'))
        self.assertRaisesRegex(errors.InputError, 'backing file', load.run,
                               load.Request(path), connect)
        self.assertEqual(0, connect.call_count)

    def test_fetch_keeps_nothing(self):
        url = 'https://images.test/guest.qcow2'
        with open(self.backed(), 'rb') as f:
            self.useFixture(rm_fixture.Fixture()).get(url, content=f.read())
        downloads = os.path.join(self.tmp, 'downloads')
        self.assertRaisesRegex(errors.InputError,
                               'gave no usable image: .*backing file',
                               fetch.fetch, url, downloads)
        self.assertEqual([], [f for f in os.listdir(downloads)
                              if not f.endswith('.lock')])

    def test_deploy_before_any_upload(self):
        loads = self.useFixture(fixtures.MockPatchObject(deploy.load,
                                                         'run')).mock
        conn = mock.Mock()
        self.assertRaisesRegex(
            errors.InputError, 'external data file', deploy.run,
            deploy.Request(datastores='mariadb:10.11', registrar='api',
                           image_file=self.with_data_file(),
                           state_file=os.path.join(self.tmp, 'state')),
            self.make_conf(build={'elements_dir': base.ELEMENTS}),
            lambda: conn)
        self.assertEqual(0, loads.call_count)
        self.assertEqual([], conn.image.method_calls)


class TestMakeQcow2StillLoads(base.TestCase):
    """The images the other tests load stay acceptable."""

    def test_plain_qcow2(self):
        base.require_tool(self, 'qemu-img')
        path = test_load.make_qcow2(self.tmp, data_mib=1)
        self.assertEqual('qcow2', imagefile.check_file(path, 'qcow2'))
