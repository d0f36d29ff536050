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

"""The kpartx/dmsetup stand-in against real loop devices, file systems, fstrim.

Needs root (loop devices, mkfs, mount).  Each test works on its own
64 MiB image file and cleans up with release_file even when it fails.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from tests import skips
from trove_image_builder.build import partmap

TOOLS = ('losetup', 'partx', 'blockdev', 'parted', 'sgdisk', 'mkfs.ext4',
         'mount', 'umount', 'fstrim')
MiB = 1024 * 1024


def _skip_reason():
    if os.geteuid() != 0:
        return 'needs root to attach loop devices and mount file systems'
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing:
        return 'missing tools: %s' % ' '.join(missing)
    if not os.path.exists('/dev/loop-control'):
        return 'no /dev/loop-control: this kernel has no loop devices'
    return None


def run(*argv):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          universal_newlines=True).stdout


class TestPartmapForReal(unittest.TestCase):

    def setUp(self):
        super().setUp()
        reason = _skip_reason()
        if reason:
            skips.skip(self, reason)
        self.dir = tempfile.mkdtemp(prefix='partmap-func-')
        self.addCleanup(shutil.rmtree, self.dir)
        self.image = os.path.join(self.dir, 'disk.img')
        with open(self.image, 'wb') as f:
            f.truncate(64 * MiB)
        # Runs last: nothing may stay attached whatever happened.
        self.addCleanup(partmap.release_file, self.image)
        # The program as sudo runs it: through links named after the
        # commands it replaces.
        self.bin = os.path.join(self.dir, 'bin')
        os.mkdir(self.bin)
        for name in partmap.COMMANDS:
            os.symlink(os.path.abspath(partmap.__file__),
                       os.path.join(self.bin, name))
        self.mnt = os.path.join(self.dir, 'mnt')
        os.mkdir(self.mnt)

    def attach(self, *opts):
        self.parent = run('losetup', '--find', '--show', *opts,
                          self.image).strip()
        self.name = os.path.basename(self.parent)
        return self.parent

    def cmd(self, name, *args, rc=0):
        proc = subprocess.run([sys.executable, os.path.join(self.bin, name)]
                              + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              universal_newlines=True)
        self.assertEqual(rc, proc.returncode, proc.stderr)
        return proc.stdout

    def loops_over_image(self):
        """{loop device: (offset, sizelimit)} as losetup sees them."""
        out = run('losetup', '--list', '--noheadings', '--raw',
                  '--output', 'NAME,OFFSET,SIZELIMIT',
                  '--associated', self.image)
        return {f[0]: (int(f[1]), int(f[2]))
                for f in (line.split() for line in out.splitlines())}

    def mapping(self, number):
        return '/dev/mapper/%sp%d' % (self.name, number)

    def mount(self, device, *opts):
        run('mount', *opts, device, self.mnt)
        self.addCleanup(subprocess.run, ['umount', self.mnt],
                        stderr=subprocess.DEVNULL)

    def test_mbr_map_mkfs_mount_fstrim_unmap(self):
        self.attach()
        run('parted', '-s', self.parent, 'mklabel', 'msdos',
            'mkpart', 'primary', 'ext4', '1MiB', '40MiB',
            'mkpart', 'primary', 'ext4', '40MiB', '63MiB')
        out = self.cmd('kpartx', '-uvs', self.parent)
        self.assertEqual(2, len(out.splitlines()), out)
        self.assertIn('add map %sp1 ' % self.name, out)
        p1, p2 = self.mapping(1), self.mapping(2)
        loops = self.loops_over_image()
        self.assertEqual((MiB, 39 * MiB),
                         loops[os.path.realpath(p1)])
        self.assertEqual((40 * MiB, 23 * MiB),
                         loops[os.path.realpath(p2)])

        run('mkfs.ext4', '-q', p1)
        self.mount(p1)
        with open(os.path.join(self.mnt, 'hello'), 'w') as f:
            f.write('partmap\n')
        run('sync')
        self.assertIn('trimmed', run('fstrim', '--verbose', self.mnt))
        run('umount', self.mnt)

        # -u again keeps the same loop devices.
        before = {p: os.path.realpath(p) for p in (p1, p2)}
        self.cmd('kpartx', '-uvs', self.parent)
        self.assertEqual(before, {p: os.path.realpath(p) for p in (p1, p2)})
        self.assertEqual(3, len(self.loops_over_image()))

        out = self.cmd('kpartx', '-dv', self.parent)
        self.assertEqual(['del devmap : %sp1' % self.name,
                          'del devmap : %sp2' % self.name],
                         out.splitlines())
        self.assertFalse(os.path.lexists(p1) or os.path.lexists(p2))
        self.assertEqual([self.parent], list(self.loops_over_image()))

        # The data went to the right place of the file: map it again.
        self.cmd('kpartx', '-a', self.parent)
        self.mount(p1, '-o', 'ro')
        with open(os.path.join(self.mnt, 'hello')) as f:
            self.assertEqual('partmap\n', f.read())
        run('umount', self.mnt)
        self.cmd('kpartx', '-d', self.parent)
        run('losetup', '-d', self.parent)
        self.assertEqual({}, self.loops_over_image())

    def test_mbr_logical_partitions_skip_the_container(self):
        self.attach()
        run('parted', '-s', self.parent, 'mklabel', 'msdos',
            'mkpart', 'primary', 'ext4', '1MiB', '20MiB',
            'mkpart', 'extended', '20MiB', '63MiB',
            'mkpart', 'logical', 'ext4', '21MiB', '40MiB')
        self.cmd('kpartx', '-uvs', self.parent)
        self.assertTrue(os.path.islink(self.mapping(5)))
        self.assertFalse(os.path.lexists(self.mapping(2)))
        run('mkfs.ext4', '-q', self.mapping(5))
        self.cmd('kpartx', '-d', self.parent)
        self.assertEqual([self.parent], list(self.loops_over_image()))

    def gpt(self):
        run('sgdisk', '-n', '1:0:+20M', '-t', '1:8300',
            '-n', '2:0:0', '-t', '2:8300', self.parent)
        self.cmd('kpartx', '-uvs', self.parent)

    def test_gpt_and_dmsetup_remove(self):
        self.attach()
        self.gpt()
        p2 = self.mapping(2)
        run('mkfs.ext4', '-q', p2)
        self.mount(p2)
        self.assertIn('trimmed', run('fstrim', '--verbose', self.mnt))
        run('umount', self.mnt)
        self.assertIn('%sp2\t(' % self.name, self.cmd('dmsetup', 'ls'))
        for number in (1, 2):
            self.cmd('dmsetup', 'remove', '%sp%d' % (self.name, number))
            self.assertFalse(os.path.lexists(self.mapping(number)))
        # Absent is fine, as DIB's rollback expects.
        self.cmd('dmsetup', 'remove', '%sp1' % self.name)
        self.cmd('dmsetup', '--noudevsync', 'mknodes')
        self.assertEqual([self.parent], list(self.loops_over_image()))

    def test_gpt_on_4096_byte_sectors(self):
        self.attach('--sector-size', '4096')
        self.gpt()
        first = int(run('sgdisk', '-i', '1', self.parent)
                    .split('First sector: ')[1].split()[0])
        loop = os.path.realpath(self.mapping(1))
        self.assertEqual((first * 4096, 20 * MiB),
                         self.loops_over_image()[loop])
        with open('/sys/block/%s/queue/logical_block_size'
                  % os.path.basename(loop)) as f:
            self.assertEqual('4096', f.read().strip())
        run('mkfs.ext4', '-q', self.mapping(1))
        self.mount(self.mapping(1))
        run('umount', self.mnt)
        self.cmd('kpartx', '-d', self.parent)

    def test_release_file(self):
        self.attach()
        self.gpt()
        parts = [os.path.realpath(self.mapping(n)) for n in (1, 2)]
        released = partmap.release_file(self.image)
        self.assertEqual(sorted(parts), sorted(released[:2]))
        self.assertEqual([self.parent], released[2:])
        self.assertEqual({}, self.loops_over_image())
        self.assertFalse(os.path.lexists(self.mapping(1)))
        self.assertEqual([], partmap.release_file(self.image))


if __name__ == '__main__':
    unittest.main()
