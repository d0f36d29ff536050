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

"""[cloud]: which cloud to talk to, and how images go into Glance."""

from oslo_config import cfg

GROUP = cfg.OptGroup('cloud', title='Cloud connection and Glance options')

OPTS = [
    cfg.StrOpt('os_cloud',
               help='Cloud name in clouds.yaml. Unset: $OS_CLOUD, else '
                    'the OS_* variables (OS_AUTH_URL, ...).'),
    cfg.StrOpt('region_name', help='Region (default: the cloud\'s).'),
    cfg.BoolOpt('insecure', default=False,
                help='Skip TLS certificate verification. Off by default; '
                     'for test clouds only.'),
    cfg.StrOpt('cacert',
               help='CA bundle to verify the cloud\'s TLS certificates.'),
    cfg.IntOpt('api_timeout', default=120, min=1,
               help='Seconds to wait for any one answer from a service.'),
    cfg.StrOpt('visibility', default='private',
               choices=['private', 'shared', 'community', 'public'],
               help='Glance visibility of uploaded images. Trove boots '
                    'them in its service project: load with that '
                    'project\'s credentials, or share the image.'),
    cfg.StrOpt('container_format', default='bare',
               help='Glance container format.'),
    cfg.StrOpt('hash_algorithm', default='sha512',
               help='Glance\'s [DEFAULT] hashing_algorithm; the upload '
                    'computes it on the fly to check os_hash_value.'),
    cfg.IntOpt('cleanup_timeout', default=60, min=0,
               help='Seconds to keep trying to delete a half-uploaded '
                    'image when Glance failed during the upload.'),
    cfg.IntOpt('leftover_age', default=21600, min=0,
               help='Seconds after which a half-uploaded image of the '
                    'same file, made by this tool in the same project '
                    'from another host, counts as abandoned and is '
                    'deleted (one from this host is deleted at once).'),
]
