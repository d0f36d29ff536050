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

import hashlib
import os

from requests_mock.contrib import fixture as rm_fixture

from tests.unit import base
from tests.unit import test_load
from trove_image_builder.deploy import fetch
from trove_image_builder import errors
from trove_image_builder import manifest


class TestFetch(base.TestCase):

    URL = 'https://images.test/trove/guest.qcow2'

    def setUp(self):
        super().setUp()
        self.mocker = self.useFixture(rm_fixture.Fixture())
        image = test_load.make_qcow2(self.tmp, data_mib=1)
        with open(image, 'rb') as f:
            self.data = f.read()
        self.dir = os.path.join(self.tmp, 'downloads')

    def test_download_once_then_cached(self):
        self.mocker.get(self.URL, content=self.data)
        path, was_cached = fetch.fetch(self.URL, self.dir)
        self.assertFalse(was_cached)
        self.assertTrue(path.endswith('-guest.qcow2'))
        facts = manifest.read(path)
        self.assertEqual(('qcow2', len(self.data), self.URL, 'generic'),
                         (facts['format'], facts['size'],
                          facts['source_url'], facts['datastore']))
        self.assertEqual(manifest.sha256_file(path), facts['sha256'])
        for written in (path, manifest.path_for(path)):
            self.assertEqual(0o640, os.stat(written).st_mode & 0o777)
        again, was_cached = fetch.fetch(self.URL, self.dir)
        self.assertEqual((path, True), (again, was_cached))
        self.assertEqual(1, self.mocker.call_count)
        fetch.fetch(self.URL, self.dir, refresh=True)
        self.assertEqual(2, self.mocker.call_count)

    def test_plain_http_needs_insecure(self):
        url = 'http://images.test/trove/guest.qcow2'
        self.mocker.get(url, content=self.data)
        exc = self.assertRaises(errors.InputError, fetch.fetch, url,
                                self.dir)
        self.assertEqual('plain http image URL refused: %s; give an https '
                         'URL, or --insecure (with --image-checksum) to '
                         'download it anyway' % url, str(exc))
        self.assertEqual(0, self.mocker.call_count)
        path, _cached = fetch.fetch(url, self.dir, verify=False)
        self.assertTrue(os.path.isfile(path))

    def test_checksum(self):
        self.mocker.get(self.URL, content=self.data)
        good = 'sha256:' + hashlib.sha256(self.data).hexdigest()
        exc = self.assertRaises(errors.InputError, fetch.fetch, self.URL,
                                self.dir, checksum='sha256:' + '0' * 64)
        self.assertIn('its sha256 is not the one --image-checksum gives',
                      str(exc))
        self.assertEqual([], [f for f in os.listdir(self.dir)
                              if not f.endswith('.lock')])
        path, was_cached = fetch.fetch(self.URL, self.dir, checksum=good)
        self.assertFalse(was_cached)
        sha512 = 'SHA512:' + hashlib.sha512(self.data).hexdigest()
        self.assertEqual((path, True), fetch.fetch(self.URL, self.dir,
                                                   checksum=sha512))
        # A checksum the cached file does not have: downloaded again.
        self.assertRaises(errors.InputError, fetch.fetch, self.URL,
                          self.dir, checksum='md5:' + '0' * 32)
        self.assertRaisesRegex(errors.InputError, 'ALGORITHM:HEX',
                               fetch.fetch, self.URL, self.dir,
                               checksum='nope:zz')

    def test_password_never_written(self):
        url = 'https://u:s3cret@images.test/g.qcow2'
        self.mocker.get(url, content=self.data)
        path, _cached = fetch.fetch(url, self.dir)
        with open(manifest.path_for(path)) as f:
            self.assertNotIn('s3cret', f.read())
        self.assertTrue(fetch.fetch(url, self.dir)[1])

    def test_failures_leave_nothing(self):
        self.mocker.get(self.URL, status_code=404)
        self.assertRaisesRegex(errors.InputError, 'HTTP 404', fetch.fetch,
                               self.URL, self.dir)
        self.mocker.get(self.URL, text='<html>not an image</html>')
        self.assertRaisesRegex(errors.InputError, 'format mismatch',
                               fetch.fetch, self.URL, self.dir)
        self.assertEqual([], [n for n in os.listdir(self.dir)
                              if not n.startswith('.')])
        self.assertRaisesRegex(errors.InputError, 'http', fetch.fetch,
                               'file:///etc/passwd', self.dir)
