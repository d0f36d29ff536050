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

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from requests_mock.contrib import fixture as rm_fixture
from troveclient.v1 import client as trove_v1

from tests.unit import base
from tests.unit.register import test_register
from trove_image_builder import errors
from trove_image_builder import register
from trove_image_builder.register import api


TROVE = 'http://trove.test/v1.0/proj'
VERSION = register.Registered('v-1', 'mariadb', '10.11', '10.11.10',
                              'mariadb', '', ('trove',), True)


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
             'image': '', 'image_tags': list(test_register.TAGS),
             'active': True,
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
        out = self.reg.register(test_register.wanted())
        self.assertEqual('created', out.action)
        body = self.m.request_history[2].json()['version']
        self.assertEqual({'name': '10.11', 'datastore_name': 'mariadb',
                          'datastore_manager': 'mariadb',
                          'image_tags': list(test_register.TAGS),
                          'packages': [],
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
        out = self.reg.register(test_register.wanted(image_id='i-2',
                                                     image_tags=()))
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
                                      'mariadb', '', test_register.TAGS, True)
        self.reg.set_default(version)
        self.assertEqual({'default': True}, self.m.last_request.json())

    def _rules(self, *rules):
        return base.write(os.path.join(self.tmp, 'r.json'), json.dumps(
            {'configuration-parameters': list(rules)}))

    def test_rules_create_modify_delete_skip(self):
        url = TROVE + '/mgmt/datastores/versions/v-1/parameters'
        self.m.get(url, json={'configuration-parameters': [
            {'name': 'same', 'restart_required': False, 'type': 'integer',
             'max_size': 10}, {'name': 'changed', 'restart_required': True,
                               'type': 'string'},
            {'name': 'gone', 'restart_required': False, 'type': 'string'},
            {'name': 'autocommit', 'restart_required': False,
             'type': 'boolean'}]})
        self.m.post(url, status_code=200, json={})
        self.m.put(url + '/changed', status_code=200, json={})
        self.m.delete(url + '/gone', status_code=204)
        path = self._rules(
            {'name': 'same', 'restart_required': False, 'min': 0,
             'max': 10, 'type': 'integer'},
            {'name': 'changed', 'restart_required': False,
             'type': 'string'},
            {'name': 'new', 'restart_required': False, 'min': 0,
             'max': 18446744073709551615, 'type': 'integer'},
            {'name': 'autocommit', 'restart_required': False,
             'type': 'boolean'},
            {'name': 'performance_schema', 'restart_required': True,
             'type': 'boolean'})
        change = self.reg.load_rules(VERSION, path)
        self.assertEqual('created 1, modified 1, deleted 1, unchanged 2, '
                         'skipped 1 of 5', change.summary())
        self.assertEqual((('new',), ('changed',), ('gone',)),
                         (change.create, change.modify, change.delete))
        self.assertIn('performance_schema (boolean)', change.notes[0])
        writes = [(r.method, r.path.rsplit('/', 1)[-1], r.json()
                   if r.body else None) for r in self.m.request_history
                  if r.method != 'GET']
        self.assertEqual([
            ('POST', 'parameters', {'configuration-parameter': {
                'name': 'new', 'restart_required': 0,
                'data_type': 'integer', 'min_size': 0,
                'max_size': 18446744073709551615}}),
            ('PUT', 'changed', {'configuration-parameter': {
                'name': 'changed', 'restart_required': 0,
                'data_type': 'string'}}),
            ('DELETE', 'gone', None)], writes)

    def test_rules_unchanged_writes_nothing(self):
        url = TROVE + '/mgmt/datastores/versions/v-1/parameters'
        # Trove's view leaves out a 0 minimum; the file spells it out.
        self.m.get(url, json={'configuration-parameters': [
            {'name': 'max_connections', 'restart_required': False,
             'type': 'integer', 'max_size': 100000},
            {'name': 'sql_mode', 'restart_required': False,
             'type': 'string'}]})
        path = self._rules(
            {'name': 'max_connections', 'restart_required': False,
             'min': 0, 'max': 100000, 'type': 'integer'},
            {'name': 'sql_mode', 'restart_required': False,
             'type': 'string'})
        change = self.reg.load_rules(VERSION, path)
        self.assertEqual('created 0, modified 0, deleted 0, unchanged 2, '
                         'skipped 0 of 2', change.summary())
        self.assertEqual(['GET'], [r.method for r in self.m.request_history])

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
