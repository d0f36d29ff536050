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

"""Configuration parameters registered by a default `load` (issue 11).

The image is a small qcow2 whose manifest keeps validation rules the
way a build does (rules.keep, the file of the minicloud's trove 26, the
release a default build puts in the image), so no image build is
needed. Trove's own API then lists the parameters and validates a
configuration group against them.
"""

import json
import os

from integration.scenarios import base
from trove_image_builder import rules as rules_mod

DS = base.TEST_DATASTORE
# The management API writes these types only (its schema).
API_TYPES = ('integer', 'string')


def summary(created=0, modified=0, deleted=0, unchanged=0, skipped=0,
            total=0):
    return ('created %d, modified %d, deleted %d, unchanged %d, skipped %d '
            'of %d' % (created, modified, deleted, unchanged, skipped,
                       total))


class TestConfigurationParameters(base.ScenarioTestCase):

    def setUp(self):
        super().setUp()
        with open(self.rules_file('mariadb')) as f:
            self.rules = json.load(f)['configuration-parameters']
        self.total = len(self.rules)
        self.api_ok = len([r for r in self.rules
                           if r['type'] in API_TYPES])

    def image(self):
        name = 'tib-params-%s' % self.unique
        path = base.make_qcow2(os.path.join(self.tmp, name + '.qcow2'), 2)
        version = '1.0-%s' % self.unique
        record = rules_mod.keep(path, {'mariadb': (
            self.rules_file('mariadb'), rules_mod.FROM_IMAGE)}, '26.0.0')
        base.write_manifest(path, DS, version,
                            **{rules_mod.MANIFEST_KEY: record})
        self.delete_version_later(DS, version)
        return path, version

    def load_ok(self, *args):
        res = self.load(*args)
        self.assertEqual(0, res.rc, res)
        data = res.json()
        self.delete_image_later(data['image_id'])
        return data

    def listed(self, version):
        rows = self.openstack('database', 'configuration', 'parameter',
                              'list', version, '--datastore', DS)
        return {r['Name']: r for r in rows}

    def group_is_validated(self, version):
        """trove-api accepts max_connections in range, refuses it out."""
        name = 'tib-cfg-%s' % self.unique
        created = self.openstack(
            'database', 'configuration', 'create', name,
            json.dumps({'max_connections': 200}), '--datastore', DS,
            '--datastore-version', version)
        self.addCleanup(self.openstack, 'database', 'configuration',
                        'delete', created['id'], parse=False, check=False)
        self.assertEqual({'max_connections': 200},
                         json.loads(created['values'])
                         if isinstance(created['values'], str)
                         else created['values'])
        refused = self.cloud.run(
            'openstack', '--os-cloud', base.ADMIN, 'database',
            'configuration', 'create', name + '-bad',
            json.dumps({'max_connections': -1}), '--datastore', DS,
            '--datastore-version', version, check=False)
        self.assertNotEqual(0, refused.returncode)
        self.assertIn('max_connections', refused.stderr)

    def test_default_load_registers_parameters_through_the_api(self):
        path, version = self.image()
        data = self.load_ok(path)
        self.assertEqual('api', data['registrar'])
        skipped = self.total - self.api_ok
        self.assertEqual(summary(created=self.api_ok, skipped=skipped,
                                 total=self.total),
                         data['config_parameters'])
        listed = self.listed(version)
        self.assertEqual(self.api_ok, len(listed))
        self.assertEqual('integer', listed['max_connections']['Type'])
        self.group_is_validated(version)

        again = self.load_ok(path)
        self.assertFalse(again['uploaded'])
        self.assertTrue(again['registration'].startswith('unchanged'),
                        again)
        self.assertEqual(summary(unchanged=self.api_ok, skipped=skipped,
                                 total=self.total),
                         again['config_parameters'])

        # A changed file: one bound moved, one parameter dropped.
        changed = [dict(r) for r in self.rules
                   if r['name'] != 'connect_timeout']
        for rule in changed:
            if rule['name'] == 'max_connections':
                rule['max'] = 4000
        rules_path = os.path.join(self.tmp, 'changed-rules.json')
        with open(rules_path, 'w') as f:
            json.dump({'configuration-parameters': changed}, f)
        res = self.load_ok(path, '--validation-rules', rules_path)
        self.assertEqual(summary(modified=1, deleted=1,
                                 unchanged=self.api_ok - 2,
                                 skipped=skipped, total=self.total - 1),
                         res['config_parameters'])
        listed = self.listed(version)
        self.assertNotIn('connect_timeout', listed)
        self.assertEqual(4000, listed['max_connections']['Max Size'])

    def test_manage_registrar_registers_every_parameter(self):
        path, version = self.image()
        data = self.load_ok(path, '--registrar', 'manage')
        self.assertEqual(summary(created=self.total, total=self.total),
                         data['config_parameters'])
        listed = self.listed(version)
        self.assertEqual(self.total, len(listed))
        self.assertIn('max_connections', listed)
        self.group_is_validated(version)

        again = self.load_ok(path, '--registrar', 'manage')
        self.assertTrue(again['registration'].startswith('unchanged'),
                        again)
        self.assertEqual(summary(unchanged=self.total, total=self.total),
                         again['config_parameters'])
