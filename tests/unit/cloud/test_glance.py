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

import requests

from tests.unit import base
from trove_image_builder.cloud import glance as glance_mod
from trove_image_builder import imagefile


class TestBody(base.TestCase):

    def test_streams_in_blocks_and_hashes_once(self):
        path = os.path.join(self.tmp, 'data')
        data = os.urandom(10 * 2 ** 20 + 123)
        with open(path, 'wb') as f:
            f.write(data)
        seen = []
        body = glance_mod.Body(path, len(data), ['sha256', 'sha512'],
                               progress=lambda d, t: seen.append(d))
        self.assertEqual(len(data), len(body))
        blocks = list(body)
        self.assertEqual(data, b''.join(blocks))
        self.assertTrue(all(len(b) <= imagefile.CHUNK for b in blocks))
        self.assertEqual(3, len(blocks))
        self.assertEqual({'sha256': hashlib.sha256(data).hexdigest(),
                          'sha512': hashlib.sha512(data).hexdigest()},
                         body.hexdigests())
        self.assertEqual(len(data), seen[-1])

    def test_requests_sends_content_length_not_chunked(self):
        path = os.path.join(self.tmp, 'data')
        with open(path, 'wb') as f:
            f.write(b'x' * 1000)
        body = glance_mod.Body(path, 1000, ['sha256'])
        prepared = requests.Request('PUT', 'http://x/', data=body).prepare()
        self.assertEqual('1000', prepared.headers['Content-Length'])
        self.assertNotIn('Transfer-Encoding', prepared.headers)
