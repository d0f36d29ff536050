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

"""[guest_agent]: how Trove's guest agent gets into the image."""

from oslo_config import cfg

GROUP = cfg.OptGroup('guest_agent', title='Trove guest agent options')

OPTS = [
    cfg.StrOpt('version', default='26.0.0',
               help='Version of the trove package installed from PyPI '
                    '(production mode).'),
    cfg.StrOpt('constraints',
               help='pip constraints file for the agent\'s venv. Unset: '
                    'the upper-constraints file shipped with this tool.'),
    cfg.StrOpt('pip_index_url',
               help='pip index used inside the image build. Unset: the '
                    'host pip\'s own index-url (PIP_INDEX_URL or '
                    'pip.conf), else PyPI.'),
    cfg.StrOpt('pip_ca_bundle',
               help='CA bundle pip uses to verify the index during the '
                    'build (TLS-inspecting proxies, private indexes). '
                    'Unset: the host pip\'s own (PIP_CERT or pip.conf '
                    'cert), if any. Verification is never turned off.'),
    cfg.BoolOpt('dev_mode', default=False,
                help='Install the agent from a local Trove source tree '
                     'instead of PyPI.'),
    cfg.StrOpt('source',
               help='Local Trove source tree used in dev mode; copied '
                    'into the image at build time.'),
]
