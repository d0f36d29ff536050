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
from trove_image_builder import redact


class TestRedact(base.TestCase):

    def test_url(self):
        self.assertEqual('https://u:***@h:8080/p',
                         redact.url('https://u:pw@h:8080/p'))
        self.assertEqual('https://h/p', redact.url('https://h/p'))
        self.assertEqual('plain', redact.url('plain'))

    def test_tokens(self):
        # A token as the user name (pip indexes, Git hosts).
        self.assertEqual('https://***@pypi.example/simple',
                         redact.url('https://glpat-s3cret@pypi.example/'
                                    'simple'))
        self.assertEqual('https://__token__:***@h/simple',
                         redact.url('https://__token__:s3cret@h/simple'))
        # Signed and token URLs: every query value.
        self.assertEqual(
            'https://h/i.qcow2?temp_url_sig=***&temp_url_expires=***',
            redact.url('https://h/i.qcow2?temp_url_sig=ab12&'
                       'temp_url_expires=1700000000'))
        self.assertEqual('https://h/p?***', redact.url('https://h/p?s3cret'))
        self.assertEqual('https://h/p#frag', redact.url('https://h/p#frag'))
