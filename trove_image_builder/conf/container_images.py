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

"""[container_images]: datastore container images baked into images."""

from oslo_config import cfg

GROUP = cfg.OptGroup('container_images',
                     title='Embedded container image options')

OPTS = [
    cfg.StrOpt('archive_dir',
               help='Directory of container image archives (docker save '
                    'or OCI archive tarballs). When it holds one named '
                    'after the datastore version\'s container_image, '
                    'with "/" and ":" replaced by "_" and a .tar, '
                    '.tar.gz or .tgz suffix (mariadb:10.11.11 -> '
                    'mariadb_10.11.11.tar), the build embeds it, so the '
                    'first boot pulls nothing.'),
]
