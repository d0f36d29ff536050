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

from unittest import mock

from tests.unit import base
from trove_image_builder.cloud import calls
from trove_image_builder.cloud import connection


class TestTranslate(base.TestCase):

    def test_messages(self):
        from keystoneauth1 import exceptions as ksa_exc
        cases = [
            (ksa_exc.ConnectFailure(
                'Unable to establish connection to http://127.0.0.1:9292/v2/'
                'images: HTTPConnectionPool(host=\'127.0.0.1\', port=9292):'
                ' Max retries exceeded (Caused by NewConnectionError(\'x: '
                '[Errno 111] Connection refused\'))'),
             'cannot reach Glance at http://127.0.0.1:9292: connection '
             'refused'),
            (ksa_exc.Unauthorized('The request you have made requires '
                                  'authentication.'),
             'authentication failed: Glance refused the credentials '
             '(check clouds.yaml / OS_* variables)'),
            (ksa_exc.SSLError('https://cloud.example:5000/v3 certificate '
                              'verify failed'),
             'TLS verification failed talking to Glance at '
             'https://cloud.example:5000; give the CA bundle with [cloud] '
             'cacert (or --insecure, for a test cloud only)'),
            (ksa_exc.EndpointNotFound(), 'the cloud\'s catalog has no Glance'
                                         ' endpoint'),
        ]
        for exc, text in cases:
            self.assertEqual(text, str(calls.translate(exc, 'Glance')))

    def test_insecure_only_when_asked(self):
        with mock.patch('openstack.connect') as connect:
            connection.connect(connection.Options(os_cloud='c'))
            self.assertNotIn('verify', connect.call_args[1])
            connection.connect(connection.Options(os_cloud='c', insecure=True))
            self.assertFalse(connect.call_args[1]['verify'])
            connection.connect(connection.Options(cacert='/ca.pem'))
            self.assertEqual('/ca.pem', connect.call_args[1]['cacert'])
