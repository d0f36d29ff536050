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

"""[build]: what image to build and where it goes."""

from oslo_config import cfg

GROUP = cfg.OptGroup('build', title='Image build options')

OPTS = [
    cfg.StrOpt('datastore', default='mariadb',
               help='Datastore built when the command names none; '
                    '"generic" builds the datastore-agnostic image.'),
    cfg.StrOpt('os', help='Guest operating system (default: the first '
                          'in the elements\' os-releases.yaml, Debian).'),
    cfg.StrOpt('release', help='Guest OS release (default: the OS\'s '
                               'default release).'),
    cfg.StrOpt('format', default='qcow2', choices=['qcow2', 'raw'],
               help='Image file format.'),
    cfg.IntOpt('image_size', min=1,
               help='Root disk size in GiB. Unset: sized to content; '
                    'growroot grows it on first boot.'),
    cfg.StrOpt('block_device', default='auto',
               choices=['auto', 'mbr', 'gpt', 'efi'],
               help='Disk layout. auto: efi (GPT, BIOS+UEFI) where the '
                    'host can make vfat, mbr (BIOS) otherwise.'),
    cfg.StrOpt('output_dir', default='/var/lib/trove-image-builder/images',
               help='Where images, manifests and build logs are written.'),
    cfg.StrOpt('work_dir', default='/var/lib/trove-image-builder/work',
               help='Scratch space for DIB (its temporary dirs, locks).'),
    cfg.StrOpt('cache_dir', default='/var/cache/trove-image-builder',
               help='DIB image cache (debootstrap tarballs, downloads); '
                    'kept between builds.'),
    cfg.StrOpt('base_dir',
               help='Where the shared base images are kept (one per OS, '
                    'release and guest agent; every datastore image is '
                    'made from one). Default: <cache_dir>/bases.'),
    cfg.IntOpt('jobs', default=0, min=0,
               help='Images made at once from a shared base, then '
                    'datastore versions uploaded and registered at once '
                    '(deploy of several datastore versions). 0: one per '
                    'CPU core.'),
    cfg.BoolOpt('wheel_cache', default=True,
                help='Keep the wheels of the guest agent\'s venv in '
                     '<cache_dir>/trove-wheels, one wheelhouse per OS '
                     'release, Python, agent version (or source tree '
                     'requirements), constraints and index, and install '
                     'from there '
                     'instead of downloading them at every build. Never '
                     'part of the image.'),
    cfg.IntOpt('cache_lock_timeout', default=10800, min=0,
               help='Seconds a build waits for another one using the same '
                    'cache_dir before it gives up (exit code 5).'),
    cfg.StrOpt('elements_dir',
               help='Use this elements directory instead of the shipped '
                    'one.'),
    cfg.ListOpt('extra_elements_path', default=[],
                help='More element directories searched by DIB.'),
    cfg.ListOpt('extra_elements', default=[],
                help='More elements added to every image.'),
]
