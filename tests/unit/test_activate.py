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
from unittest import mock

import fixtures

from tests.unit import base
from tests.unit.register import test_register
from tests.unit import test_load
from trove_image_builder import activate
from trove_image_builder.cloud import connection
from trove_image_builder import errors
from trove_image_builder import register

TAGS = test_register.TAGS


class FakeGlance:

    def __init__(self, images=()):
        self.images = {i['id']: i for i in images}

    def get(self, image_id):
        return self.images.get(image_id)

    def newest_with_tags(self, tags):
        found = [i for i in self.images.values()
                 if set(tags) <= set(i.get('tags', []))
                 and i['status'] == 'active']
        return found[-1] if found else None


def two_versions():
    """mariadb 10.11 (default, by tags) and 11.4 (by image id)."""
    reg = test_register.FakeRegistrar()
    reg.register(test_register.wanted())
    reg.set_default(reg.version('mariadb', '10.11'))
    reg.register(test_register.wanted(name='11.4', version_number='11.4.4',
                                      image_id='img-114', image_tags=()))
    reg.calls = []
    return reg


class TestActivate(base.TestCase):

    def setUp(self):
        super().setUp()
        self.reg = two_versions()
        self.glance = FakeGlance([
            {'id': 'img-1011', 'status': 'active', 'tags': list(TAGS)},
            {'id': 'img-114', 'status': 'active', 'tags': ['trove']}])

    def default(self):
        return [v.name for v in self.reg.versions('mariadb') if v.default]

    def test_switch_default(self):
        result = activate.activate(self.reg, self.glance, 'mariadb', '11.4')
        self.assertTrue(result.changed)
        self.assertEqual('10.11', result.previous_default)
        self.assertEqual('img-114', result.image['id'])
        self.assertEqual(['11.4'], self.default())
        again = activate.activate(self.reg, self.glance, 'mariadb', '11.4')
        self.assertFalse(again.changed)
        self.assertEqual(1, len([c for c in self.reg.calls
                                 if c[0] == 'default']))

    def test_by_tags(self):
        activate.activate(self.reg, self.glance, 'mariadb', '11.4')
        result = activate.activate(self.reg, self.glance, 'mariadb', '10.11')
        self.assertEqual('img-1011', result.image['id'])

    def assertRefusedKeepsDefault(self, pattern, *args):
        self.assertRaisesRegex(errors.Refused, pattern, activate.activate,
                               self.reg, self.glance, *args)
        self.assertEqual(['10.11'], self.default())
        self.assertEqual([], [c for c in self.reg.calls
                              if c[0] == 'default'])

    def test_unknown_version_or_datastore(self):
        self.assertRefusedKeepsDefault(
            r'mariadb 12.0 is not registered \(registered: 10.11, 11.4\)',
            'mariadb', '12.0')
        self.assertRefusedKeepsDefault('datastore mysql is not registered',
                                       'mysql', '8.0')

    def test_missing_image(self):
        del self.glance.images['img-114']
        self.assertRefusedKeepsDefault('img-114 of datastore version '
                                       'mariadb 11.4 is missing',
                                       'mariadb', '11.4')

    def test_inactive_image(self):
        self.glance.images['img-114']['status'] = 'deactivated'
        self.assertRefusedKeepsDefault('deactivated, not active',
                                       'mariadb', '11.4')

    def test_no_image_with_tags(self):
        self.glance.images['img-1011']['status'] = 'queued'
        activate.activate(self.reg, self.glance, 'mariadb', '11.4')
        self.reg.calls = []
        self.assertRaisesRegex(errors.Refused, 'no active image in Glance '
                               'carries the tags trove,mariadb,mariadb-10.11',
                               activate.activate, self.reg, self.glance,
                               'mariadb', '10.11')
        self.assertEqual(['11.4'], self.default())

    def test_inactive_version(self):
        self.reg.stores['mariadb']['versions'][1]['active'] = False
        self.assertRefusedKeepsDefault('inactive', 'mariadb', '11.4')


class TestCli(base.TestCase):
    """The real CLI; cloud and Trove replaced at their boundary."""

    def setUp(self):
        super().setUp()
        self.reg = two_versions()
        self.glance = FakeGlance([
            {'id': 'img-1011', 'status': 'active', 'tags': list(TAGS)},
            {'id': 'img-114', 'status': 'active', 'tags': []}])
        self.useFixture(fixtures.MockPatchObject(
            connection, 'connect', return_value=mock.Mock()))
        self.useFixture(fixtures.MockPatchObject(
            register, 'make', side_effect=lambda *a: self.reg))
        self.useFixture(fixtures.MockPatch(
            'trove_image_builder.cloud.glance.Glance',
            side_effect=lambda *a: self.glance))

    def run_cli(self, *argv):
        return self.main('[cloud]\n', *argv)

    def test_activate_json(self):
        rc, out, err = self.run_cli('activate', 'mariadb', '11.4',
                                    '-f', 'json')
        self.assertEqual(0, rc, err)
        data = json.loads(out)
        self.assertEqual(('11.4', '10.11', True, 'img-114'), (
            data['default_version'], data['previous_default'],
            data['changed'], data['image']))

    def test_refusals_are_one_line(self):
        del self.glance.images['img-114']
        for argv, words in [(('mariadb', '12.0'), 'is not registered'),
                            (('mariadb', '11.4'), 'missing from Glance')]:
            rc, out, err = self.run_cli('activate', *argv)
            self.assertEqual(errors.Refused.exit_code, rc)
            self.assertEqual(1, len(err.strip().splitlines()), err)
            self.assertIn(words, err)
            self.assertNotIn('Traceback', err)
        self.assertEqual('10.11', self.reg.version('mariadb', '10.11').name)
        self.assertTrue(self.reg.version('mariadb', '10.11').default)

    def test_cloud_errors_are_one_line(self):
        connection.connect.side_effect = errors.CloudError(
            'authentication failed: Keystone refused the credentials')
        rc, _out, err = self.run_cli('activate', 'mariadb', '11.4')
        self.assertEqual(errors.CloudError.exit_code, rc)
        self.assertEqual('trove-image-builder: authentication failed: '
                         'Keystone refused the credentials\n', err)

    def test_load_errors_are_one_line(self):
        image = test_load.make_qcow2(self.tmp, data_mib=1)
        test_load.write_manifest(image, format='raw')
        rc, _out, err = self.run_cli('load', image)
        self.assertEqual(errors.InputError.exit_code, rc)
        self.assertEqual(1, len(err.strip().splitlines()), err)
        self.assertIn('format mismatch', err)
        rc, _out, err = self.run_cli('load', image + '.missing')
        self.assertEqual(2, rc)
        self.assertIn('image not found', err)


class TestRecordedChecks(base.TestCase):

    def setUp(self):
        super().setUp()
        self.reg = two_versions()

    def glance(self, **props):
        return FakeGlance([dict({'id': 'img-114', 'status': 'active',
                                 'tags': ['trove']}, **props)])

    def test_failed_check_on_the_image_refuses(self):
        glance = self.glance(trove_image_builder_conformance='fail',
                             trove_image_builder_verification='pass')
        exc = self.assertRaises(errors.Refused, activate.activate, self.reg,
                                glance, 'mariadb', '11.4')
        self.assertEqual(9, exc.exit_code)
        self.assertIn('failed its conformance check', str(exc))
        self.assertIn('--force', str(exc))
        self.assertEqual([], [c for c in self.reg.calls
                              if c[0] == 'default'])
        result = activate.activate(self.reg, glance, 'mariadb', '11.4',
                                   force=True)
        self.assertTrue(result.changed)

    def test_passed_or_unrecorded_checks_activate(self):
        for props in ({}, {'trove_image_builder_conformance': 'pass'}):
            reg = two_versions()
            result = activate.activate(reg, self.glance(**props), 'mariadb',
                                       '11.4')
            self.assertTrue(result.changed)
