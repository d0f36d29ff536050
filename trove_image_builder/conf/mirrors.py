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

"""[mirrors]: package archives the image is built from."""

from oslo_config import cfg

GROUP = cfg.OptGroup('mirrors', title='Package mirror options')

OPTS = [
    cfg.BoolOpt('from_host', default=True,
                help='Take unset settings from the host: Debian mirrors '
                     'from its apt sources (on Debian hosts), and the pip '
                     'index and CA bundle from its pip configuration.'),
    cfg.URIOpt('debian', help='Debian archive (default: the host\'s, '
                              'else deb.debian.org).'),
    cfg.URIOpt('debian_security',
               help='Debian security archive (default: the host\'s, '
                    'else DIB\'s default).'),
    cfg.URIOpt('ubuntu', help='Ubuntu archive (default: DIB\'s).'),
]
