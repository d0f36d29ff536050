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
from trove_image_builder import errors
from trove_image_builder import manifest


class TestManifest(base.TestCase):

    def test_round_trip_and_update(self):
        image = os.path.join(self.tmp, 'img.qcow2')
        path = manifest.write(image, {'sha256': 'abc'})
        self.assertEqual(os.path.join(self.tmp, 'img.json'), path)
        manifest.update(image, verified=True)
        data = manifest.read(image)
        self.assertEqual({'sha256': 'abc', 'verified': True,
                          'schema': manifest.SCHEMA}, data)
        self.assertFalse(os.path.exists(path + '.tmp'))

    def test_written_0640_even_over_an_older_file(self):
        image = os.path.join(self.tmp, 'img.qcow2')
        base.write(manifest.path_for(image), '{}', mode=0o666)
        path = manifest.write(image, {'sha256': 'abc'})
        self.assertEqual(0o640, os.stat(path).st_mode & 0o777)

    def test_verification_of_another_image_is_ignored(self):
        image = os.path.join(self.tmp, 'img.qcow2')
        manifest.write(image, {'sha256': 'abc'})
        self.assertIsNone(manifest.record_verification(
            image, {'result': 'pass', 'sha256': 'old'}))
        self.assertIsNone(manifest.record_verification(
            image, {'result': 'pass'}))
        self.assertNotIn('verification', manifest.read(image))
        manifest.record_verification(image, {'result': 'pass',
                                             'sha256': 'abc'})
        self.assertEqual({'result': 'pass', 'sha256': 'abc'},
                         manifest.verification(manifest.read(image)))
        for stale in ({'result': 'pass'},
                      {'result': 'pass', 'sha256': 'old'}):
            self.assertIsNone(manifest.verification(
                {'sha256': 'abc', 'verification': stale}))
        self.assertIsNone(manifest.verification({'sha256': 'abc'}))

    def test_missing_and_broken(self):
        image = os.path.join(self.tmp, 'img.qcow2')
        self.assertIsNone(manifest.read(image))
        self.assertRaises(errors.InputError, manifest.update, image, x=1)
        base.write(manifest.path_for(image), '{not json')
        self.assertRaises(errors.InputError, manifest.read, image)

    def test_dpkg_manifest_json(self):
        # The shape DIB 3.43's dpkg element writes.
        text = ('{"packages": [\n'
                '{"package": "adduser","arch": "all","version": "3.134",'
                '"status": "ii "    },\n'
                '{"package": "gone","arch": "all","version": "1",'
                '"status": "rc "    },\n'
                '{"package": "docker.io","arch": "amd64","version": '
                '"20.10.24","status": "ii "    }\n]}\n')
        self.assertEqual({'adduser': '3.134', 'docker.io': '20.10.24'},
                         manifest.parse_dpkg_manifest(text))

    def test_dpkg_manifest(self):
        self.assertEqual({'bash': '5.2.15-2+b7', 'docker.io': '20.10'},
                         manifest.parse_dpkg_manifest(
                             'bash 5.2.15-2+b7\ndocker.io 20.10\n\n'))


class TestCheckResults(base.TestCase):

    def test_records_of_this_image_only(self):
        data = {'sha256': 'aa',
                'verification': {'result': 'pass'},
                'conformance': {'result': 'fail', 'image_sha256': 'aa'}}
        self.assertEqual({'verification': 'pass', 'conformance': 'fail'},
                         manifest.check_results(data))
        self.assertEqual(['conformance'], manifest.failed_checks(data))
        # A record made for an earlier file at this path says nothing.
        data['conformance']['image_sha256'] = 'bb'
        self.assertEqual({'verification': 'pass'},
                         manifest.check_results(data))
        self.assertEqual([], manifest.failed_checks(None))
        self.assertEqual([], manifest.failed_checks(
            {'verification': 'garbage', 'conformance': {'result': '?'}}))
