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
                                      'mariadb', '', test_register.TAGS, True)
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
