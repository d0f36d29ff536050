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

from tests.unit import base
from trove_image_builder import catalog
from trove_image_builder import errors


class TestCatalog(base.TestCase):

    def test_reads_datastores_and_systems(self):
        cat = catalog.Catalog.load(self.fake_elements())
        ds = cat.datastore('mariadb')
        self.assertEqual('trove-mariadb', ds.element)
        self.assertEqual('10.11', ds.default_version.name)
        self.assertEqual('11.4.4', ds.version('11.4').version_number)
        self.assertEqual('mariadb', ds.version('11.4').manager)
        self.assertEqual('debian', cat.default_os)
        self.assertEqual('bookworm', cat.operating_system().release())
        self.assertEqual('noble', cat.operating_system('ubuntu').release())

    def test_unknown_names_are_input_errors(self):
        cat = catalog.Catalog.load(self.fake_elements())
        e = self.assertRaises(errors.InputError, cat.datastore, 'oracle')
        self.assertIn("unknown datastore 'oracle'", str(e))
        self.assertIn('generic', str(e))
        e = self.assertRaises(errors.InputError,
                              cat.datastore('mariadb').version, '5.5')
        self.assertIn('10.11, 11.4', str(e))
        self.assertRaises(errors.InputError, cat.operating_system, 'arch')
        self.assertRaises(errors.InputError,
                          cat.operating_system('debian').release, 'sid')

    def test_two_defaults_rejected(self):
        root = self.fake_elements()
        path = os.path.join(root, 'trove-mariadb', 'datastore.yaml')
        with open(path, 'a') as f:
            f.write('    default: true\n')
        e = self.assertRaises(errors.HostError, catalog.Catalog.load, root)
        self.assertIn('exactly one version must be default', str(e))

    def test_missing_field_named(self):
        root = self.fake_elements()
        base.write(os.path.join(root, 'trove-x', 'datastore.yaml'), """
            datastore: x
            versions:
              - name: "1"
            """)
        e = self.assertRaises(errors.HostError, catalog.Catalog.load, root)
        self.assertIn("missing 'manager'", str(e))

    def test_broken_yaml_reported(self):
        root = self.fake_elements()
        base.write(os.path.join(root, 'trove-y', 'datastore.yaml'),
                   'datastore: [unclosed\n')
        e = self.assertRaises(errors.HostError, catalog.Catalog.load, root)
        self.assertIn('cannot read', str(e))
