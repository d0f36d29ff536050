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

"""Unit tests for the sweep after a killed build, over a fake host."""

import json
import os
import shutil
import subprocess
from unittest import mock

import fixtures

from tests.unit import base
from trove_image_builder.build import partmap
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


class FakeBuildHost(object):
    """Mounts and loop devices as a killed DIB build leaves them.

    umount, losetup --json and losetup -d act on a fake mountinfo and a
    fake /sys/block the way the kernel would: a tmpfs holding a file a
    loop device backs is busy, and unmounting it lazily leaves the loop
    device backing "/image0.raw" (the path inside the detached mount).
    """

    def __init__(self, top):
        self.mountinfo = os.path.join(top, 'mountinfo')
        self.sys = os.path.join(top, 'sys')
        self.dev = os.path.join(top, 'dev')
        os.makedirs(self.dev)
        self.mounts = []  # [device, point]
        self.backs = {}  # loop name -> backing device
        self.calls = []
        self._write()

    def mount(self, device, point):
        self.mounts.append([device, point])
        self._write()

    def _write(self):
        with open(self.mountinfo, 'w') as f:
            for i, (device, point) in enumerate(self.mounts):
                f.write('%d 1 %s / %s rw - tmpfs tmpfs rw\n'
                        % (30 + i, device, point))

    def add_loop(self, name, path, device, offset=0):
        self.backs[name] = device
        base = os.path.join(self.sys, name)
        os.makedirs(os.path.join(base, 'loop'))
        for rel, value in (('loop/backing_file', path),
                           ('loop/offset', offset),
                           ('loop/sizelimit', 1 << 20 if offset else 0)):
            with open(os.path.join(base, rel), 'w') as f:
                f.write('%s\n' % value)

    def backing(self, name):
        try:
            with open(os.path.join(self.sys, name, 'loop',
                                   'backing_file')) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def attached(self):
        return sorted(n for n in self.backs if self.backing(n))

    def points(self):
        return [point for _dev, point in self.mounts]

    def run(self, argv, **_kw):
        self.calls.append(list(argv))
        ok = subprocess.CompletedProcess(argv, 0, stdout='')
        if argv[:2] == ['losetup', '--json']:
            devs = [{'name': '/dev/' + n, 'back-file': self.backing(n),
                     'back-maj:min': '  %s ' % self.backs[n]}
                    for n in self.attached()]
            ok.stdout = json.dumps({'loopdevices': devs})
            return ok
        if argv[:2] == ['losetup', '-d']:
            shutil.rmtree(os.path.join(self.sys,
                                       os.path.basename(argv[2]), 'loop'))
            return ok
        if argv[0] == 'umount':
            point = argv[-1]
            device = dict((p, d) for d, p in self.mounts)[point]
            held = [n for n in self.attached() if self.backs[n] == device]
            if held and '-l' not in argv:
                return subprocess.CompletedProcess(argv, 32, stdout='')
            for n in held:
                with open(os.path.join(self.sys, n, 'loop',
                                       'backing_file'), 'w') as f:
                    f.write('/image0.raw\n')
            self.mounts.remove([device, point])
            self._write()
            return ok
        raise AssertionError('unexpected command %r' % argv)


class TestRelease(base.TestCase):

    def setUp(self):
        super().setUp()
        self.host = FakeBuildHost(self.tmp)
        for name, value in (('SYS_BLOCK', self.host.sys),
                            ('DEV_DIR', self.host.dev),
                            ('MAPPER_DIR', os.path.join(self.host.dev,
                                                        'mapper'))):
            self.useFixture(fixtures.MockPatchObject(partmap, name, value))
        self.useFixture(fixtures.MockPatchObject(
            partmap, '_run', lambda argv: self.host.run(argv).stdout))
        self.work = os.path.join(self.tmp, 'work', 'trove-x')
        self.partial = os.path.join(self.tmp, 'images', '.trove-x.partial')

    def release(self):
        return sweep.release(self.work, partial=self.partial,
                             run=self.host.run,
                             mountinfo=self.host.mountinfo)

    def test_killed_build_image_on_its_tmpfs(self):
        # What kill -9 of a build leaves: DIB's image on its own tmpfs,
        # the parent loop and a partition loop over it, the partition
        # mounted as the chroot's root with the host's /proc inside.
        h, work = self.host, self.work
        h.mount('0:22', '/proc')
        h.mount('0:50', work + '/dib_image.A')
        h.mount('0:51', work + '/dib_build.B')
        h.mount('7:1', work + '/dib_build.B/mnt')
        h.mount('0:22', work + '/dib_build.B/mnt/proc')
        image = work + '/dib_image.A/image0.raw'
        h.add_loop('loop0', image, '0:50')
        h.add_loop('loop1', image, '0:50', offset=1 << 20)
        done = self.release()
        self.assertEqual([], h.attached())
        self.assertEqual(['/proc'], h.points())
        # Detached before the tmpfs went, so it went without -l.
        self.assertNotIn(['umount', '-l', work + '/dib_image.A'], h.calls)
        self.assertIn('detach %s/loop1' % h.dev, done)
        self.assertIn('umount %s/dib_image.A' % work, done)

    def test_only_what_this_build_backs(self):
        h, work = self.host, self.work
        other = os.path.join(self.tmp, 'work', 'trove-x-dev')
        h.mount('8:1', '/')
        # A bind of the host's root below the build: its files are not
        # the build's for being on that filesystem.
        h.mount('8:1', work + '/dib_build.B/mnt/cache')
        h.mount('0:60', other + '/dib_image.C')
        h.add_loop('loop0', other + '/dib_image.C/image0.raw', '0:60')
        h.add_loop('loop1', '/srv/elsewhere.img', '8:1')
        h.add_loop('loop2', self.partial + '.raw', '8:1')
        h.add_loop('loop3', self.partial[:-len('.partial')] +
                   '-dev.partial.raw', '8:1')
        h.add_loop('loop4', work + '/dib_image.Z/image0.raw (deleted)',
                   '0:70')
        h.add_loop('loop5', work + '/dib_image.Y/image0.raw', '0:71',
                   offset=1 << 20)
        # An orphan of someone's lazily unmounted tmpfs: nothing says
        # whose, so it stays.
        h.add_loop('loop6', '/image0.raw', '0:99')
        self.release()
        self.assertEqual(['loop0', 'loop1', 'loop3', 'loop6'],
                         h.attached())
        self.assertEqual(['/', other + '/dib_image.C'], h.points())

    def test_reused_device_is_left_alone(self):
        # Listed as ours, but reattached to another file before the
        # detach: the check against sysfs keeps it.
        h = self.host
        h.add_loop('loop0', self.work + '/dib_image.A/image0.raw', '0:50')
        listed = h.run(['losetup', '--json'])
        shutil.rmtree(os.path.join(h.sys, 'loop0'))
        h.add_loop('loop0', '/srv/other.img', '8:1')
        real_run = h.run

        def run(argv, **kw):
            if argv[:2] == ['losetup', '--json']:
                return listed
            return real_run(argv, **kw)
        h.run = run
        self.assertEqual([], self.release())
        self.assertEqual(['loop0'], h.attached())


class TestIdentified(base.TestCase):
    """Loops known when DIB is stopped, found again by what they back."""

    LIST = {'loopdevices': [
        {'name': '/dev/loop3', 'back-maj:min': '0:58', 'back-ino': 12,
         'offset': 0, 'sizelimit': 0},
        {'name': '/dev/loop4', 'back-maj:min': '0:58', 'back-ino': 12,
         'offset': 1048576, 'sizelimit': 2097152},
        {'name': '/dev/loop5', 'back-maj:min': '8:1', 'back-ino': 99,
         'offset': 0, 'sizelimit': 0}]}

    def run_losetup(self, listing):
        return lambda argv, **kw: mock.Mock(stdout=json.dumps(listing))

    def test_same_backing_inode_is_detached_whatever_its_path(self):
        loops = [partmap.Loop('loop3', '/w/tmp/image0.raw', 0, 0),
                 partmap.Loop('loop4', '/w/tmp/image0.raw', 1048576,
                              2097152)]
        ids = sweep.identities(loops, run=self.run_losetup(self.LIST))
        self.assertEqual({'loop3': ('0:58', '12', '', ''),
                          'loop4': ('0:58', '12', '1048576', '2097152')},
                         ids)
        # Later: the tmpfs went, the path reads /image0.raw; loop4 was
        # freed and reused for another file meanwhile.
        later = {'loopdevices': [
            dict(self.LIST['loopdevices'][0]),
            {'name': '/dev/loop4', 'back-maj:min': '8:1', 'back-ino': 7,
             'offset': 0, 'sizelimit': 0}]}
        with mock.patch.object(partmap, 'loop_info', side_effect=lambda n:
                               partmap.Loop(n, '/image0.raw', 0, 0)), \
                mock.patch.object(partmap, 'release_loops',
                                  side_effect=lambda v: ['/dev/' + i.name
                                                         for i in v]) as rel:
            done = sweep.release_identified(ids,
                                            run=self.run_losetup(later))
        self.assertEqual(['/dev/loop3'], done)
        self.assertEqual(['loop3'], [i.name for i in rel.call_args[0][0]])

    def test_nothing_known_nothing_done(self):
        run = mock.Mock()
        self.assertEqual([], sweep.release_identified({}, run=run))
        run.assert_not_called()
