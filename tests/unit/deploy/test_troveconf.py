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

from tests.unit import base
from trove_image_builder import catalog
from trove_image_builder.cloud import flavors
from trove_image_builder.deploy import datastores
from trove_image_builder.deploy import troveconf
from trove_image_builder import errors


def real_catalog():
    return catalog.Catalog.load(base.ELEMENTS)


class TestTroveConf(base.TestCase):

    def test_entries_default_versions_and_order(self):
        found = datastores.parse_entries('mysql, mariadb:11.4 mariadb:10.11',
                                         real_catalog())
        self.assertEqual([('mysql', '8.4'), ('mariadb', '11.4'),
                          ('mariadb', '10.11')],
                         [(v.datastore, v.name) for v in found])
        firsts = datastores.first_per_datastore(found)
        self.assertEqual(['mysql', 'mariadb'], list(firsts))
        self.assertEqual('11.4', firsts['mariadb'].name)

    def test_entry_errors(self):
        cat = real_catalog()
        for text, pattern in (('', 'no datastores'),
                              ('mongodb', 'unknown datastore'),
                              ('mariadb:9.9', 'unknown version'),
                              ('mariadb mariadb:10.11', 'listed twice')):
            self.assertRaisesRegex(errors.InputError, pattern,
                                   datastores.parse_entries, text, cat)

    def test_repository(self):
        for image, repo in (('mariadb:10.11.11', 'mariadb'),
                            ('postgres', 'postgres'),
                            ('quay.io:443/trove/mysql:8.4', 'quay.io:443/'
                                                            'trove/mysql'),
                            ('r.test/x/pg@sha256:abc', 'r.test/x/pg')):
            self.assertEqual(repo, troveconf.repository(image))

    def test_trove_and_guestagent_lines(self):
        versions = datastores.parse_entries('postgresql:16 mariadb',
                                            real_catalog())
        self.assertEqual([('DEFAULT', 'default_datastore', 'postgresql'),
                          ('postgresql', 'docker_image', 'postgres'),
                          ('mariadb', 'docker_image', 'mariadb')],
                         troveconf.lines(versions, 'trove'))
        self.assertEqual(troveconf.lines(versions, 'trove')[1:],
                         troveconf.lines(versions, 'guestagent'))

    def test_one_repository_per_datastore(self):
        ver = real_catalog().datastore('mysql').version('8.4')
        other = ver.__class__(**dict(ver.__dict__, name='x',
                                     container_image='percona:8.4'))
        self.assertRaisesRegex(errors.InputError, 'different container',
                               troveconf.docker_images, (ver, other))

    def test_tempest_lines(self):
        versions = datastores.parse_entries(
            'mariadb:11.4 mysql mariadb:10.11', real_catalog())
        lines = troveconf.lines(versions, 'tempest',
                                flavors.parse_all(flavors.DEFAULTS))
        self.assertEqual([
            ('service_available', 'trove', 'True'),
            ('database', 'enabled_datastores', 'mariadb,mysql'),
            ('database', 'default_datastore_versions',
             'mariadb:11.4,mysql:8.4'),
            ('database', 'pre_upgrade_datastore_versions', 'mariadb:10.11'),
            ('database', 'flavor_id', 'd2'),
            ('database', 'resize_flavor_id', 'd3')], lines)
        short = troveconf.lines(versions[1:2], 'tempest')
        self.assertEqual(3, len(short))

    def test_unknown_target(self):
        self.assertRaises(errors.InputError, troveconf.lines, (), 'nova')
