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
from unittest import mock

from keystoneauth1 import exceptions as ksa_exc

from tests.unit import base
from tests.unit.cloud import test_flavors
from tests.unit.cloud import test_quota
from trove_image_builder import errors
from trove_image_builder import register
from trove_image_builder.register import params


class FakeRegistrar(register.Registrar):
    """Trove in a dict: {datastore: {'default': id, 'versions': [...]}}."""

    name = 'fake'

    def __init__(self, stores=None):
        self.stores = stores if stores is not None else {}
        self.calls = []
        self.count = 0
        self.params = {}

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

    def _parameters(self, version):
        return dict(self.params.get(version.id, {}))

    def _apply_rules(self, version, rules_path, change):
        self.calls.append(('rules', version.id, rules_path))
        held = self.params.setdefault(version.id, {})
        for rule in register.read_rules(rules_path):
            held[rule['name']] = params.from_rule(rule)
        for name in change.delete:
            del held[name]

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
        change = reg.load_rules(
            version, 'trove:templates/mariadb/validation-rules.json')
        self.assertEqual('not loaded', change.summary())
        self.assertIn('--validation-rules', change.notes[0])
        path = base.write(os.path.join(self.tmp, 'rules.json'), json.dumps(
            {'configuration-parameters': [
                {'name': 'max_connections', 'restart_required': False,
                 'min': 1, 'max': 100000, 'type': 'integer'}]}))
        self.assertEqual('created 1, modified 0, deleted 0, unchanged 0, '
                         'skipped 0 of 1',
                         reg.load_rules(version, path).summary())
        calls = len(reg.calls)
        again = reg.load_rules(version, path)
        self.assertEqual(('max_connections',), again.unchanged)
        self.assertEqual(calls, len(reg.calls))  # nothing written
        base.write(path, '{"configuration-parameters": 3}')
        self.assertRaises(errors.InputError, reg.load_rules, version, path)


class TestChooseRegistrar(base.TestCase):

    def test_choices(self):
        say = []
        conn = test_flavors.FakeConn(endpoints=('database',))
        self.assertEqual('api', register.choose(conn, 'api', say))
        conn.session = mock.Mock()
        conn.session.get.return_value = test_quota.FakeResponse(200, {})
        self.assertEqual('api', register.choose(conn, 'auto',
                                                say.append))
        self.assertEqual('http://database.test/',
                         conn.session.get.call_args[0][0])
        conn.session.get.side_effect = ksa_exc.ConnectFailure('refused')
        self.assertEqual('manage', register.choose(conn, 'auto',
                                                   say.append))
        self.assertIn('not answering', say[-1])
        self.assertEqual('manage', register.choose(
            test_flavors.FakeConn(endpoints=()), 'auto', say.append))
        self.assertIn('no Trove endpoint', say[-1])
