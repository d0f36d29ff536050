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

import os

from tests.unit import base
from trove_image_builder.build import sweep


class TestMounts(base.TestCase):

    def mountinfo(self, *points):
        path = os.path.join(self.tmp, 'mountinfo')
        with open(path, 'wb') as f:
            for i, point in enumerate(points):
                f.write(b'%d 1 8:1 / %s rw,relatime - ext4 /dev/sda1 rw\n'
                        % (30 + i, point))
        return path

    def test_bind_mounts_inside_the_chroot_are_ours(self):
        # The trove-guest-agent element's wheel cache and DIB's apt
        # cache are bind-mounted inside TMP_MOUNT_PATH, which is under
        # the build's TMP_DIR: a killed build's sweep releases them.
        work = os.fsencode(os.path.join(self.tmp, 'work', 'img'))
        mnt = work + b'/dib_build.Ab12/mnt'
        info = self.mountinfo(mnt + b'/var/cache/trove-wheels',
                              mnt + b'/var/cache/apt/archives', mnt,
                              b'/var/cache/trove-image-builder')
        found = sweep.mounts_under(os.fsdecode(work), mountinfo=info)
        self.assertEqual(os.fsdecode(mnt), found[-1])
        self.assertEqual(
            {os.fsdecode(mnt + b'/var/cache/trove-wheels'),
             os.fsdecode(mnt + b'/var/cache/apt/archives')}, set(found[:2]))

    def test_non_ascii_and_blank_mount_paths(self):
        work = os.path.join(self.tmp, 'wörk dir')
        os.makedirs(work)
        raw = os.fsencode(work).replace(b' ', b'\\040')
        # Latin-1 bytes, not UTF-8: still a path of ours, byte for byte.
        odd = os.fsencode(work) + b'/caf\xe9'
        info = self.mountinfo(raw + b'/mnt', raw + b'/mnt/proc',
                              odd.replace(b' ', b'\\040'), b'/elsewhere')
        found = sweep.mounts_under(work, mountinfo=info)
        # Deepest first; the two at the same depth in any order.
        self.assertEqual(work + '/mnt/proc', found[0])
        self.assertEqual({work + '/mnt', os.fsdecode(odd)}, set(found[1:]))
        self.assertEqual(odd, os.fsencode(os.fsdecode(odd)))
