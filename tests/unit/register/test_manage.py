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

import json
import os
import subprocess

import fixtures

from tests.unit import base
from tests.unit.register import test_register
from trove_image_builder import errors
from trove_image_builder.register import manage
from trove_image_builder.register import manage_query


class FakeRun:
    """Stands in for subprocess.run: records argv, answers by verb."""

    def __init__(self, state):
        self.state = state
        self.argv = []
        self.fail = {}

    def __call__(self, argv, **kwargs):
        self.argv.append(argv)
        if manage.QUERY_SCRIPT in argv:
            out = manage_query.MARKER + json.dumps(self.state) + '\n'
            return subprocess.CompletedProcess(argv, 0, out, '')
        verb = argv[3]
        if verb in self.fail:
            return subprocess.CompletedProcess(argv, *self.fail[verb])
        if verb == 'datastore_version_update':
            self.state['datastore'] = self.state['datastore'] or {
                'id': 'd', 'default_version_id': None}
            self.state['versions'] = [{
                'id': 'v-1', 'name': argv[5], 'manager': argv[6],
                'image_id': argv[7], 'active': argv[9] == '1',
                'version': argv[argv.index('--version') + 1],
                'image_tags': argv[argv.index('--image-tags') + 1]
                if '--image-tags' in argv else ''}]
            return subprocess.CompletedProcess(
                argv, 0, "Datastore version '10.11(10.11.10)' updated.\n", '')
        if verb == 'datastore_update':
            if argv[5]:
                self.state['datastore']['default_version_id'] = 'v-1'
            return subprocess.CompletedProcess(
                argv, 0, "Datastore 'mariadb' updated.\n", '')
        return subprocess.CompletedProcess(argv, 0, 'Loading ...\n', '')


class TestManageRegistrar(base.TestCase):

    def setUp(self):
        super().setUp()
        self.trove_dir = os.path.join(self.tmp, 'trove')
        base.write(os.path.join(self.trove_dir, 'templates', 'mariadb',
                                'validation-rules.json'),
                   json.dumps({'configuration-parameters': [
                       {'name': 'a', 'type': 'string',
                        'restart_required': False}]}))
        self.tm = base.write(os.path.join(self.tmp, 'bin', 'trove-manage'),
                             '#!/opt/trove/bin/python -s\n', mode=0o755)
        self.conf = base.write(os.path.join(self.tmp, 'trove.conf'), '')
        self.run = FakeRun({'trove_dir': self.trove_dir, 'datastore': None,
                            'versions': []})
        self.reg = manage.ManageRegistrar(self.tm, self.conf, run=self.run)

    def test_register_new_datastore_rules_and_default(self):
        out = self.reg.register(test_register.wanted())
        self.assertEqual('created', out.action)
        self.assertEqual(['/opt/trove/bin/python', '-s',
                          manage.QUERY_SCRIPT, '--config-file', self.conf,
                          'mariadb'], self.run.argv[0])
        self.assertEqual([self.tm, '--config-file', self.conf,
                          'datastore_update', 'mariadb', ''],
                         self.run.argv[1])
        self.assertEqual(['datastore_version_update', 'mariadb', '10.11',
                          'mariadb', '', '', '1', '--version', '10.11.10',
                          '--image-tags', 'trove,mariadb,mariadb-10.11'],
                         self.run.argv[2][3:])
        self.assertEqual(test_register.TAGS, out.version.image_tags)
        self.assertEqual('created 1, modified 0, deleted 0, unchanged 0, '
                         'skipped 0 of 1', self.reg.load_rules(
                             out.version, 'trove:templates/mariadb/'
                             'validation-rules.json').summary())
        self.assertEqual(['db_load_datastore_config_parameters', 'mariadb',
                          '10.11', os.path.join(
                              self.trove_dir, 'templates', 'mariadb',
                              'validation-rules.json'),
                          '--version', '10.11.10'], self.run.argv[-1][3:])
        self.reg.set_default(out.version)
        self.assertTrue(self.reg.version('mariadb', '10.11').default)

    def _loaded(self, *names):
        self.run.state['datastore'] = {'id': 'd', 'default_version_id': None}
        self.run.state['versions'] = [{
            'id': 'v-1', 'name': '10.11', 'version': '10.11.10',
            'manager': 'mariadb', 'image_id': '', 'image_tags': 'trove',
            'active': True, 'parameters': [
                {'name': n, 'restart_required': False, 'type': 'string',
                 'max': None, 'min': None} for n in names]}]
        return self.reg.version('mariadb', '10.11')

    def test_rules_unchanged_runs_no_trove_manage(self):
        version = self._loaded('a')
        calls = len(self.run.argv)
        change = self.reg.load_rules(version, 'trove:templates/mariadb/'
                                              'validation-rules.json')
        self.assertEqual(('a',), change.unchanged)
        self.assertFalse(change.changes)
        # only reads (the query script), no trove-manage write
        self.assertTrue(all(manage.QUERY_SCRIPT in argv
                            for argv in self.run.argv[calls:]))

    def test_rules_dropped_parameter_removes_then_loads(self):
        version = self._loaded('a', 'gone')
        change = self.reg.load_rules(version, 'trove:templates/mariadb/'
                                              'validation-rules.json')
        self.assertEqual(('gone',), change.delete)
        self.assertEqual(
            [['db_remove_datastore_config_parameters', 'mariadb', '10.11',
              '--version', '10.11.10'],
             ['db_load_datastore_config_parameters', 'mariadb', '10.11',
              os.path.join(self.trove_dir, 'templates', 'mariadb',
                           'validation-rules.json'), '--version',
              '10.11.10']], [a[3:] for a in self.run.argv[-2:]])

    def test_failures_are_one_line(self):
        self.run.fail['datastore_update'] = (
            1, 'Command failed, please check log for more info.\n',
            'Traceback (most recent call last):\n  File "x"\n'
            'trove.common.exception.DatastoreVersionInactive: Datastore '
            'version 10.11 is inactive.\n')
        exc = self.assertRaises(errors.CloudError, self.reg.register,
                                test_register.wanted())
        self.assertEqual('trove-manage datastore_update failed (exit 1): '
                         'trove.common.exception.DatastoreVersionInactive: '
                         'Datastore version 10.11 is inactive.', str(exc))

    def test_printed_failure_with_exit_zero(self):
        self.run.fail['datastore_version_update'] = (
            0, "Datastore 'mariadb' cannot be found.\n", '')
        self.run.state['datastore'] = {'id': 'd', 'default_version_id': None}
        self.assertRaisesRegex(errors.CloudError, 'cannot be found',
                               self.reg.register, test_register.wanted())

    def test_a_hung_trove_manage_is_stopped(self):
        tm = base.write(os.path.join(self.tmp, 'bin', 'hung-manage'),
                        '#!/bin/sh\nexec sleep 5\n', mode=0o755)
        self.useFixture(fixtures.MockPatchObject(manage, 'TIMEOUT', 1))
        reg = manage.ManageRegistrar(tm, self.conf)
        exc = self.assertRaises(errors.CloudError, reg.manage,
                                'datastore_update', 'mariadb', '')
        self.assertEqual('trove-manage datastore_update did not finish in '
                         '1 seconds', str(exc))

    def test_missing_command_or_config(self):
        reg = manage.ManageRegistrar('/nonexistent/trove-manage', self.conf,
                                     run=self.run)
        self.assertRaisesRegex(errors.InputError, 'trove-manage not found',
                               reg.versions, 'mariadb')
        reg = manage.ManageRegistrar(self.tm, '/nonexistent.conf',
                                     run=self.run)
        self.assertRaisesRegex(errors.InputError, 'trove.conf not found',
                               reg.versions, 'mariadb')
