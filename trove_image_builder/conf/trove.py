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

"""[trove]: how images are registered with Trove."""

from oslo_config import cfg

GROUP = cfg.OptGroup('trove', title='Trove registration options')

OPTS = [
    cfg.StrOpt('registrar', default='api', choices=['api', 'manage'],
               help='api: Trove\'s management API through '
                    'python-troveclient (any cloud). manage: the '
                    'trove-manage command on this host (devstack, before '
                    'trove-api runs).'),
    cfg.StrOpt('register_by', default='tags', choices=['tags', 'id'],
               help='Datastore versions find their image by tags (the '
                    'newest active image carrying all of them) or by '
                    'image id.'),
    cfg.StrOpt('trove_manage', default='trove-manage',
               help='trove-manage command (manage registrar).'),
    cfg.StrOpt('config_file', default='/etc/trove/trove.conf',
               help='trove.conf read by trove-manage (manage registrar).'),
]
