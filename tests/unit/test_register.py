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

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from requests_mock.contrib import fixture as rm_fixture
from troveclient.v1 import client as trove_v1

from tests.unit import base
from trove_image_builder import errors
from trove_image_builder import register
from trove_image_builder.register import api
from trove_image_builder.register import manage
from trove_image_builder.register import manage_query

TROVE = 'http://trove.test/v1.0/proj'


class FakeRegistrar(register.Registrar):
    """Trove in a dict: {datastore: {'default': id, 'versions': [...]}}."""

    name = 'fake'

    def __init__(self, stores=None):
        self.stores = stores if stores is not None else {}
        self.calls = []
        self.count = 0

    def versions(self, datastore):
        store = self.stores.get(datastore)
        if store is None:
            return None
        return [register.Registered(default=v['id'] == store['default'],
                                    **v) for v in store['versions']]

    def _create(self, want, datastore_exists):
        self.calls.append(('create', want, datastore_exists))
        self.count += 1
        store = self.stores.setdefault(want.datastore,
                                       {'default': None, 'versions': []})
        store['versions'].append(dict(
            id='v-%d' % self.count, datastore=want.datastore, name=want.name,
            version_number=want.version_number, manager=want.manager,
            image_id=want.image_id, image_tags=tuple(want.image_tags),
            active=want.active))

    def _update(self, prev, want):
        self.calls.append(('update', prev.id, want))
        for v in self.stores[want.datastore]['versions']:
            if v['id'] == prev.id:
                v.update(manager=want.manager, image_id=want.image_id,
                         image_tags=tuple(want.image_tags),
                         active=want.active)

    def _load_rules(self, version, rules_path, rules):
        self.calls.append(('rules', version.id, rules_path))
        return len(rules), None

    def _set_default(self, version):
        self.calls.append(('default', version.id))
        self.stores[version.datastore]['default'] = version.id


TAGS = ('trove', 'mariadb', 'mariadb-10.11')


def wanted(**kw):
    values = dict(datastore='mariadb', name='10.11',
                  version_number='10.11.10', manager='mariadb',
                  image_tags=TAGS)
    values.update(kw)
    return register.Wanted(**values)


class TestRegistrarLogic(base.TestCase):

    def test_create_then_unchanged_then_updated(self):
        reg = FakeRegistrar()
        first = reg.register(wanted())
        self.assertEqual('created', first.action)
        self.assertEqual(('create', wanted(), False), reg.calls[0])
        self.assertEqual('unchanged', reg.register(wanted()).action)
        third = reg.register(wanted(image_id='img-2', image_tags=()))
        self.assertEqual('updated', third.action)
        self.assertEqual(('image tags trove,mariadb,mariadb-10.11 -> '
                          'image img-2',), third.changes)
        self.assertEqual('img-2', third.version.image_id)
        self.assertEqual(first.version.id, third.version.id)
        self.assertEqual(TAGS, third.previous.image_tags)

    def test_version_number_is_kept(self):
        reg = FakeRegistrar()
        reg.register(wanted())
        out = reg.register(wanted(version_number='10.11.11',
                                  manager='mysql'))
        self.assertEqual('updated', out.action)
        self.assertEqual('10.11.10', out.version.version_number)
        self.assertIn('kept version number 10.11.10', out.notes[0])
        self.assertEqual(1, len(reg.stores['mariadb']['versions']))

    def test_ambiguous_names_refused(self):
        reg = FakeRegistrar()
        reg.register(wanted())
        reg._create(wanted(version_number='10.11.99'), True)
        self.assertRaises(errors.Refused, reg.version, 'mariadb', '10.11')
        self.assertEqual('10.11.99', reg.version(
            'mariadb', '10.11', '10.11.99').version_number)
        out = reg.register(wanted(version_number='10.11.99', manager='x'))
        self.assertEqual('updated', out.action)
        self.assertRaises(errors.Refused, reg.register,
                          wanted(version_number='1'))

    def test_unknown_datastore_and_version(self):
        reg = FakeRegistrar()
        self.assertRaisesRegex(errors.Refused, 'datastore mysql is not',
                               reg.version, 'mysql', '8.0')
        reg.register(wanted())
        self.assertRaisesRegex(errors.Refused,
                               r'mariadb 11.4 is not registered '
                               r'\(registered: 10.11\)',
                               reg.version, 'mariadb', '11.4')

    def test_tag_limits(self):
        register.check_tags(TAGS)
        self.assertRaises(errors.InputError, register.check_tags,
                          ('a',) * 6)
        self.assertRaises(errors.InputError, register.check_tags,
                          ('x' * 21,))

    def test_rules(self):
        reg = FakeRegistrar()
        version = reg.register(wanted()).version
        written, total, note = reg.load_rules(
            version, 'trove:templates/mariadb/validation-rules.json')
        self.assertEqual((0, 0), (written, total))
        self.assertIn('--validation-rules', note)
        path = base.write(os.path.join(self.tmp, 'rules.json'), json.dumps(
            {'configuration-parameters': [
                {'name': 'max_connections', 'restart_required': False,
                 'min': 1, 'max': 100000, 'type': 'integer'}]}))
        self.assertEqual((1, 1, None), reg.load_rules(version, path))
        base.write(path, '{"configuration-parameters": 3}')
        self.assertRaises(errors.InputError, reg.load_rules, version, path)


class TestApiRegistrar(base.TestCase):
    """python-troveclient for real, Trove's HTTP API mocked."""

    def setUp(self):
        super().setUp()
        self.m = self.useFixture(rm_fixture.Fixture())
        sess = ks_session.Session(
            auth=token_endpoint.Token(TROVE, 'token'))
        self.reg = api.ApiRegistrar(None, trove_v1.Client(session=sess))
        self.versions = []

    def _version(self, **kw):
        v = {'id': 'v-1', 'name': '10.11', 'version': '10.11.10',
             'datastore_name': 'mariadb', 'datastore_manager': 'mariadb',
             'image': '', 'image_tags': list(TAGS), 'active': True,
             'default': False, 'packages': [''], 'datastore_id': 'd-1'}
        v.update(kw)
        return v

    def test_create_when_absent(self):
        self.m.get(TROVE + '/mgmt/datastore-versions',
                   [{'json': {'versions': []}},
                    {'json': {'versions': [self._version()]}}])
        self.m.get(TROVE + '/datastores/mariadb', status_code=404,
                   json={'itemNotFound': {'message': 'no', 'code': 404}})
        self.m.post(TROVE + '/mgmt/datastore-versions', status_code=202)
        out = self.reg.register(wanted())
        self.assertEqual('created', out.action)
        body = self.m.request_history[2].json()['version']
        self.assertEqual({'name': '10.11', 'datastore_name': 'mariadb',
                          'datastore_manager': 'mariadb',
                          'image_tags': list(TAGS), 'packages': [],
                          'active': True, 'default': False,
                          'version': '10.11.10'}, body)
        self.assertEqual('v-1', out.version.id)

    def test_update_by_id(self):
        self.m.get(TROVE + '/mgmt/datastore-versions', [
            {'json': {'versions': [self._version()]}},
            {'json': {'versions': [self._version(image='i-2',
                                                 image_tags=[''])]}}])
        self.m.patch(TROVE + '/mgmt/datastore-versions/v-1',
                     status_code=202)
        out = self.reg.register(wanted(image_id='i-2', image_tags=()))
        self.assertEqual('updated', out.action)
        self.assertEqual({'datastore_manager': 'mariadb', 'image': 'i-2',
                          'image_tags': [], 'active': True},
                         self.m.request_history[1].json())
        self.assertEqual(('i-2', ()), (out.version.image_id,
                                       out.version.image_tags))

    def test_set_default(self):
        self.m.patch(TROVE + '/mgmt/datastore-versions/v-1',
                     status_code=202)
        version = register.Registered('v-1', 'mariadb', '10.11', '10.11.10',
                                      'mariadb', '', TAGS, True)
        self.reg.set_default(version)
        self.assertEqual({'default': True}, self.m.last_request.json())

    def test_rules_create_modify_skip(self):
        url = TROVE + '/mgmt/datastores/versions/v-1/parameters'
        self.m.get(url, json={'configuration-parameters': [
            {'name': 'same', 'restart_required': False, 'type': 'integer',
             'max_size': 10}, {'name': 'changed', 'restart_required': True,
                               'type': 'string'}]})
        self.m.post(url, status_code=200, json={})
        self.m.put(url + '/changed', status_code=200, json={})
        path = base.write(os.path.join(self.tmp, 'r.json'), json.dumps(
            {'configuration-parameters': [
                {'name': 'same', 'restart_required': False, 'min': 0,
                 'max': 10, 'type': 'integer'},
                {'name': 'changed', 'restart_required': False,
                 'type': 'string'},
                {'name': 'new', 'restart_required': False, 'min': 0,
                 'max': 18446744073709551615, 'type': 'integer'}]}))
        version = register.Registered('v-1', 'mariadb', '10.11', '10.11.10',
                                      'mariadb', '', TAGS, True)
        written, total, note = self.reg.load_rules(version, path)
        self.assertEqual((2, 3, None), (written, total, note))
        base.write(path, json.dumps({'configuration-parameters': [
            {'name': 'performance_schema', 'restart_required': True,
             'type': 'boolean'}]}))
        written, total, note = self.reg.load_rules(version, path)
        self.assertEqual((0, 1), (written, total))
        self.assertIn('performance_schema (boolean)', note)
        posted = [r for r in self.m.request_history if r.method == 'POST']
        self.assertEqual('new', posted[0].json()[
            'configuration-parameter']['name'])
        self.assertEqual(18446744073709551615, posted[0].json()[
            'configuration-parameter']['max_size'])

    def test_errors_are_translated(self):
        self.m.get(TROVE + '/mgmt/datastore-versions', status_code=403,
                   json={'forbidden': {'message': 'User does not have admin '
                                       'privileges.', 'code': 403}})
        exc = self.assertRaises(errors.CloudError, self.reg.versions,
                                'mariadb')
        self.assertEqual('Trove answered HTTP 403: User does not have admin '
                         'privileges.', str(exc))

    def test_trove_rules_path_needs_local_trove(self):
        self.assertIsNone(self.reg.rules_path('trove:templates/x.json'))
        self.assertEqual('/a/b.json', self.reg.rules_path('/a/b.json'))


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
        out = self.reg.register(wanted())
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
        self.assertEqual(TAGS, out.version.image_tags)
        self.assertEqual((1, 1, None), self.reg.load_rules(
            out.version, 'trove:templates/mariadb/validation-rules.json'))
        self.assertEqual(['db_load_datastore_config_parameters', 'mariadb',
                          '10.11', os.path.join(
                              self.trove_dir, 'templates', 'mariadb',
                              'validation-rules.json'),
                          '--version', '10.11.10'], self.run.argv[-1][3:])
        self.reg.set_default(out.version)
        self.assertTrue(self.reg.version('mariadb', '10.11').default)

    def test_failures_are_one_line(self):
        self.run.fail['datastore_update'] = (
            1, 'Command failed, please check log for more info.\n',
            'Traceback (most recent call last):\n  File "x"\n'
            'trove.common.exception.DatastoreVersionInactive: Datastore '
            'version 10.11 is inactive.\n')
        exc = self.assertRaises(errors.CloudError, self.reg.register,
                                wanted())
        self.assertEqual('trove-manage datastore_update failed (exit 1): '
                         'trove.common.exception.DatastoreVersionInactive: '
                         'Datastore version 10.11 is inactive.', str(exc))

    def test_printed_failure_with_exit_zero(self):
        self.run.fail['datastore_version_update'] = (
            0, "Datastore 'mariadb' cannot be found.\n", '')
        self.run.state['datastore'] = {'id': 'd', 'default_version_id': None}
        self.assertRaisesRegex(errors.CloudError, 'cannot be found',
                               self.reg.register, wanted())

    def test_missing_command_or_config(self):
        reg = manage.ManageRegistrar('/nonexistent/trove-manage', self.conf,
                                     run=self.run)
        self.assertRaisesRegex(errors.InputError, 'trove-manage not found',
                               reg.versions, 'mariadb')
        reg = manage.ManageRegistrar(self.tm, '/nonexistent.conf',
                                     run=self.run)
        self.assertRaisesRegex(errors.InputError, 'trove.conf not found',
                               reg.versions, 'mariadb')
