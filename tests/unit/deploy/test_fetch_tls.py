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

"""--image-url against a real HTTPS server with a self-signed CA.

Nothing is mocked: requests talks TLS to a server on 127.0.0.1 whose
certificate a CA made for the test signed.
"""

import os

from tests import tlsserver
from tests.unit import base
from tests.unit import test_load
from trove_image_builder.deploy import fetch
from trove_image_builder import errors
from trove_image_builder import manifest


class TestFetchTLS(base.TestCase):

    def setUp(self):
        super().setUp()
        base.require_tool(self, 'qemu-img')
        image = test_load.make_qcow2(self.tmp, data_mib=1)
        with open(image, 'rb') as f:
            self.data = f.read()
        certs = os.path.join(self.tmp, 'certs')
        os.makedirs(certs)
        self.server = self.useFixture(tlsserver.HTTPSServer(
            certs, {'/trove/guest.qcow2': self.data}))
        self.url = self.server.url('/trove/guest.qcow2')
        self.dir = os.path.join(self.tmp, 'downloads')

    def downloads(self):
        """Files in the download dir but the lock's."""
        return [n for n in os.listdir(self.dir) if not n.endswith('.lock')]

    def test_unknown_ca_fails_clearly(self):
        exc = self.assertRaises(errors.InputError, fetch.fetch, self.url,
                                self.dir)
        self.assertEqual(
            'downloading %s: TLS certificate verification failed '
            '(unable to get local issuer certificate); give the '
            'server\'s CA bundle with --os-cacert, or --insecure with '
            '--image-checksum' % self.url, str(exc))
        self.assertEqual(2, exc.exit_code)
        # Refused in the handshake: no request reached the server and
        # nothing was written.
        self.assertEqual(0, self.server.requests)
        self.assertEqual([], self.downloads())

    def test_another_ca_fails_too(self):
        other, _ca = tlsserver.make_ca(self.tmp, 'another CA')
        exc = self.assertRaises(errors.InputError, fetch.fetch, self.url,
                                self.dir, cacert=other)
        self.assertIn('TLS certificate verification failed', str(exc))
        self.assertEqual([], self.downloads())

    def test_verified_with_its_ca_bundle(self):
        path, was_cached = fetch.fetch(self.url, self.dir,
                                       cacert=self.server.ca_file)
        self.assertFalse(was_cached)
        with open(path, 'rb') as f:
            self.assertEqual(self.data, f.read())
        self.assertEqual(self.url, manifest.read(path)['source_url'])
        self.assertEqual(1, self.server.requests)

    def test_insecure_skips_verification(self):
        path, _cached = fetch.fetch(self.url, self.dir, verify=False,
                                    cacert=os.path.join(self.tmp, 'none'))
        self.assertEqual(manifest.sha256_file(path),
                         manifest.read(path)['sha256'])
        self.assertEqual(1, self.server.requests)

    def test_missing_ca_bundle(self):
        missing = os.path.join(self.tmp, 'none.pem')
        exc = self.assertRaises(errors.InputError, fetch.fetch, self.url,
                                self.dir, cacert=missing)
        self.assertEqual('CA bundle not found: %s' % missing, str(exc))
        self.assertEqual(0, self.server.requests)
