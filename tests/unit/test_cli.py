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

import io
import json
import os
import sys
from unittest import mock

import fixtures

from tests.unit import base
from trove_image_builder import catalog
from trove_image_builder.cli import app
from trove_image_builder.cli import common
from trove_image_builder.cli import host as host_cli


class TestCli(base.TestCase):

    def run_cli(self, *argv):
        return self.main("""
            [build]
            elements_dir = %s
            output_dir = %s
            [mirrors]
            from_host = false
            """ % (self.fake_elements(), os.path.join(self.tmp, 'out')),
            *argv)

    def test_list_json(self):
        rc, out, _err = self.run_cli('list', '-f', 'json')
        self.assertEqual(0, rc)
        rows = json.loads(out)
        self.assertEqual([('mariadb', '10.11'), ('mariadb', '11.4')],
                         [(r['datastore'], r['version']) for r in rows])
        self.assertTrue(rows[0]['default'])

    def test_list_os(self):
        rc, out, _err = self.run_cli('list', '--os', '-f', 'json')
        self.assertEqual(0, rc)
        self.assertIn({'os': 'ubuntu', 'release': 'noble',
                       'default': False, 'element': 'ubuntu-minimal'},
                      json.loads(out))

    def test_dry_run_prints_command_and_variables(self):
        stop = self.assertRaises(
            SystemExit, self.run_cli, 'build', 'mariadb',
            '--datastore-version', '11.4', '--dry-run',
            '--guest-agent-version', '25.1.0', '--format', 'raw')
        self.assertEqual(0, stop.code)
        text = sys.stdout.getvalue()
        self.assertIn('# DIB_TROVE_GUEST_AGENT_VERSION=25.1.0', text)
        command, layer = text.strip().splitlines()[-2:]
        self.assertTrue(command.startswith('env '))
        self.assertIn('disk-image-create -t raw -o ', command)
        self.assertTrue(command.endswith(' trove-container-images'))
        self.assertNotIn('trove-mariadb', command)
        self.assertRegex(layer, r'^# then \S+/trove-debian-bookworm-mariadb-'
                                r'11\.4\.raw: the base \S+/trove-debian-'
                                r'bookworm-base\.raw \+ datastore\.json '
                                r'\(mariadb 11\.4, container image ')
        self.assertFalse(os.path.exists(os.path.join(self.tmp, 'out')))

    def test_errors_are_one_line_with_codes(self):
        cases = [
            (('build', 'oracle', '--dry-run'), 2, "unknown datastore"),
            (('build', 'mariadb', '--datastore-version', '1', '--dry-run'),
             2, "unknown version '1'"),
            (('build', '--os', 'arch', '--dry-run'), 2, "unknown OS"),
            (('build', '--release', 'sid', '--dry-run'), 2,
             "unknown debian release 'sid'"),
            (('build', '--dev-mode', '--dry-run'), 2,
             '--guest-agent-source'),
            (('build', '--dev-mode', '--guest-agent-source', '/nonexistent',
              '--dry-run'), 2, 'not a Trove source tree'),
        ]
        for argv, code, words in cases:
            rc, _out, err = self.run_cli(*argv)
            self.assertEqual(code, rc, argv)
            self.assertEqual(1, len(err.strip().splitlines()), err)
            self.assertIn(words, err)
            self.assertNotIn('Traceback', err)

    def test_missing_config_file(self):
        _out, err = self.capture()
        rc = app.main(['--config-file', '/nonexistent.conf', 'list'])
        self.assertEqual(2, rc)
        self.assertIn('nonexistent.conf', err.getvalue())
        self.assertNotIn('Traceback', err.getvalue())

    def test_malformed_config_file_exits_2(self):
        rc, _out, err = self.main('[build\nfoo\n', 'list')
        self.assertEqual(2, rc)
        self.assertIn('configuration: Failed to parse', err)
        self.assertNotIn('Traceback', err)

    def test_bad_option_value_exits_2_before_any_work(self):
        # verify's memory is only read once the image is checked: the
        # value must fail first, whatever the command.
        for command in (['list'], ['verify', '/nonexistent.img']):
            rc, _out, err = self.main('[verify]\nmemory = lots\n',
                                      *command)
            self.assertEqual(2, rc, command)
            self.assertIn('memory', err)
            self.assertNotIn('nonexistent', err)

    def test_unknown_cloud_exits_2(self):
        clouds = base.write(os.path.join(self.tmp, 'clouds.yaml'), '''
            clouds:
              known:
                auth: {auth_url: 'http://127.0.0.1:9/'}
            ''')
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_CLIENT_CONFIG_FILE', clouds))
        rc, _out, err = self.main('', 'activate', '--os-cloud', 'nope',
                                  'mariadb', '10.11')
        self.assertEqual(2, rc)
        self.assertIn('Cloud nope was not found', err)

    def test_partition_mapper_refusal_exits_3(self):
        prefix = os.path.join(self.tmp, 'prefix')
        base.write(os.path.join(prefix, 'sbin', 'kpartx'), 'not ours')
        self.useFixture(fixtures.MockPatchObject(
            host_cli.host, 'require_root'))
        self.useFixture(fixtures.MockPatchObject(
            host_cli.partmap, 'host_has_device_mapper', return_value=False))
        rc, _out, err = self.main('', 'host-setup', '--prefix', prefix)
        self.assertEqual(3, rc)
        self.assertIn('refusing to replace %s/sbin/kpartx' % prefix, err)


class TestRealElementsDryRun(base.TestCase):
    """Command-level checks against the real elements.

    Ubuntu cannot be built here (its archives are unreachable), so this is
    where its support is checked.
    """

    def dry_run(self, *argv):
        out, err = self.capture()
        conf = base.write(os.path.join(self.tmp, 'real.conf'), """
            [build]
            elements_dir = %s
            output_dir = %s
            [mirrors]
            from_host = false
            ubuntu = http://archive.example/ubuntu
            """ % (base.ELEMENTS, os.path.join(self.tmp, 'out')))
        stop = self.assertRaises(SystemExit, app.main,
                                 ['--config-file', conf, 'build'] +
                                 list(argv) + ['--dry-run'])
        self.assertEqual(0, stop.code, err.getvalue())
        return out.getvalue()

    def test_ubuntu_releases(self):
        for release in ('jammy', 'noble'):
            text = self.dry_run('postgresql', '--os', 'ubuntu',
                                '--release', release)
            command, layer = text.strip().splitlines()[-2:]
            self.assertIn('# DIB_RELEASE=%s' % release, text)
            self.assertIn('DIB_DISTRIBUTION_MIRROR='
                          'http://archive.example/ubuntu', command)
            self.assertNotIn('DEBIAN_SECURITY', command)
            self.assertIn(' ubuntu-minimal vm ', command)
            self.assertIn('trove-ubuntu-%s-base.raw + datastore.json '
                          '(postgresql ' % release, layer)

    def test_every_datastore_version_plans(self):
        cat = catalog.Catalog.load(base.ELEMENTS)
        for ds in cat.datastores.values():
            for ver in ds.versions:
                text = self.dry_run(ds.name, '--datastore-version',
                                    ver.name)
                self.assertIn('%s %s, container image %s)'
                              % (ds.name, ver.name, ver.container_image),
                              text)


class TestOutput(base.TestCase):

    def output(self, verbose_level):
        stream = io.StringIO()
        app = mock.Mock(stderr=stream,
                        options=mock.Mock(verbose_level=verbose_level))
        out = common.Output(app)
        out.say('building')
        out.note('careful')
        out.tail(['last line'])
        return stream.getvalue()

    def test_progress_notes_and_tails(self):
        self.assertEqual('building\nnote: careful\n  | last line\n',
                         self.output(1))

    def test_quiet_silences_progress_only(self):
        self.assertEqual('note: careful\n  | last line\n', self.output(0))
