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

"""build -> load -> register -> activate with a real image and a real
(small) cloud, checked with the real `openstack` CLI.

The build is the real `trove-image-builder build mariadb` into
/var/lib/trove-image-builder/test-images: about five minutes the first
time, a cache hit afterwards. It needs root and a host that passes
`trove-image-builder host-check`.
"""

import json
import os

from integration.scenarios import base

OUTPUT_DIR = os.environ.get('TIB_TEST_IMAGES',
                            '/var/lib/trove-image-builder/test-images')


class TestBuildLoadActivate(base.ScenarioTestCase):

    def build(self):
        conf = self.conf_file(build={'output_dir': OUTPUT_DIR})
        res = self.tool('build', 'mariadb', '-f', 'json', conf=conf,
                        timeout=3600)
        self.assertEqual(0, res.rc, res)
        return res.json()

    def test_build_load_register_activate(self):
        built = self.build()
        image = built['image']
        with open(built['manifest']) as f:
            facts = json.load(f)
        self.assertEqual(('mariadb', 'qcow2'),
                         (facts['datastore'], facts['format']))
        version = facts['datastore_version']
        rules = self.rules_file('mariadb')
        # A known starting point, so the registration's outcome is exact:
        # no version yet (created), or one this load must re-enable.
        before = self.version_row('mariadb', version)
        if before:
            self.openstack('datastore', 'version', 'set', before['ID'],
                           '--disable', parse=False)

        res = self.load(image, '--validation-rules', rules)
        self.assertEqual(0, res.rc, res)
        loaded = res.json()
        image_id = loaded['image_id']
        self.assertEqual(facts['sha256'], loaded['sha256'])
        if before is None:
            self.assertTrue(loaded['registration'].startswith('created ('),
                            loaded['registration'])
        else:
            self.assertTrue(loaded['registration'].startswith('updated: '),
                            loaded['registration'])
            self.assertIn('active False -> True', loaded['registration'])

        shown = self.openstack('image', 'show', image_id)
        self.assertEqual('active', shown['status'])
        self.assertEqual(os.path.getsize(image), shown['size'])
        self.assertEqual('qcow2', shown['disk_format'])
        self.assertEqual({'trove', 'mariadb', 'mariadb-%s' % version},
                         set(shown['tags']))
        props = shown['properties']
        self.assertEqual(base.file_hash(image, 'md5'), shown['checksum'])
        self.assertEqual('sha512', props['os_hash_algo'])
        self.assertEqual(base.file_hash(image, 'sha512'),
                         props['os_hash_value'])
        self.assertEqual('virtio', props['hw_rng_model'])
        self.assertEqual(facts['os'], props['os_distro'])
        self.assertEqual(facts['release'], props['os_version'])
        self.assertEqual(facts['sha256'],
                         props['trove_image_builder_sha256'])

        row = self.version_row('mariadb', version)
        self.assertIsNotNone(row)
        self.assertEqual(loaded['version_number'], row['Version'])
        if row['Version'] != facts['version_number']:
            # Registered by an earlier image of another number: Trove
            # cannot renumber a version, and load says so.
            self.assertIn('kept version number', loaded['notes'])
        detail = self.openstack('datastore', 'version', 'show', row['ID'])
        self.assertTrue(detail['active'])
        params = self.openstack('database', 'configuration', 'parameter',
                                'list', version, '--datastore', 'mariadb')
        self.assertGreater(len(params), 30)

        res = self.activate('mariadb', version)
        self.assertEqual(0, res.rc, res)
        self.assertEqual(image_id, res.json()['image'])
        ds = self.openstack('datastore', 'show', 'mariadb')
        self.assertEqual(version, ds['default_version'])

        # Idempotent: the same image again is neither uploaded nor
        # registered twice.
        res = self.load(image, '--validation-rules', rules)
        self.assertEqual(0, res.rc, res)
        again = res.json()
        self.assertFalse(again['uploaded'])
        self.assertEqual(image_id, again['image_id'])
        self.assertTrue(again['registration'].startswith('unchanged'),
                        again)
        same = self.openstack('image', 'list', '--property',
                              'trove_image_builder_sha256=%s'
                              % facts['sha256'])
        self.assertEqual([image_id], [i['ID'] for i in same])
        listed = self.openstack('datastore', 'version', 'list', 'mariadb')
        self.assertEqual(1, len([v for v in listed
                                 if v['Name'] == version]))
