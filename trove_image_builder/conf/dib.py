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

"""[dib]: how diskimage-builder is run."""

from oslo_config import cfg

GROUP = cfg.OptGroup('dib', title='diskimage-builder options')

OPTS = [
    cfg.StrOpt('disk_image_create',
               help='Path of disk-image-create. Unset: the one installed '
                    'beside this tool, else the one on PATH.'),
    cfg.BoolOpt('debootstrap_cache', default=True,
                help='Keep and reuse DIB\'s debootstrap tarball.'),
    cfg.IntOpt('debug_trace', default=0, min=0, max=2,
               help='DIB_DEBUG_TRACE for element scripts.'),
    cfg.DictOpt('extra_env', default={},
                help='More DIB_* variables, e.g. DIB_APT_LOCAL_CACHE:0. '
                     'Only names starting with DIB_ are accepted.'),
    cfg.IntOpt('timeout', default=10800, min=1,
               help='Seconds one disk-image-create may run; then it is '
                    'stopped and the build fails.'),
    cfg.IntOpt('stop_timeout', default=120, min=1,
               help='Seconds DIB gets to clean up after SIGTERM before it '
                    'is killed.'),
]
