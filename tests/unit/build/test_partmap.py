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

"""Unit tests for the kpartx/dmsetup stand-in, over a fake sysfs and /dev.

losetup, partx and blockdev are simulated by FakeHost, which keeps a fake
/sys/block tree up to date the way the kernel would.
"""

import io
import os
import shutil
import stat
import subprocess
import tempfile
import unittest
from unittest import mock

from trove_image_builder.build import partmap

MBR_TABLE = ('1 2048 38912 0x83\n'
             '2 40960 81920 0xf\n'
             '5 43008 38912 0x83\n')
GPT_TABLE = ('1 2048 20480 0fc63daf-8483-4772-8e79-3d69d8477de4\n'
             '2 22528 40960 0fc63daf-8483-4772-8e79-3d69d8477de4\n')
MiB = 1024 * 1024


class FakeHost(object):
    """A fake /sys/block, /dev and /dev/mapper plus losetup and partx."""

    def __init__(self, top):
        self.sys = os.path.join(top, 'sys')
        self.dev = os.path.join(top, 'dev')
        self.mapper = os.path.join(self.dev, 'mapper')
        os.makedirs(self.sys)
        os.makedirs(self.dev)
        self.table = MBR_TABLE
        self.calls = []

    def add_loop(self, name, path, offset=0, sizelimit=0, sector=512,
                 ro=False):
        base = os.path.join(self.sys, name)
        for rel, value in (('loop/backing_file', path),
                           ('loop/offset', offset),
                           ('loop/sizelimit', sizelimit),
                           ('queue/logical_block_size', sector),
                           ('ro', int(ro)),
                           ('dev', '7:%s' % name[4:])):
            os.makedirs(os.path.dirname(os.path.join(base, rel)),
                        exist_ok=True)
            with open(os.path.join(base, rel), 'w') as f:
                f.write('%s\n' % value)
        return os.path.join(self.dev, name)

    def loops(self):
        return {i.name: i for i in partmap.attached_loops()}

    def link(self, name, loop):
        os.makedirs(self.mapper, exist_ok=True)
        os.symlink(os.path.join(self.dev, loop),
                   os.path.join(self.mapper, name))

    def links(self):
        if not os.path.isdir(self.mapper):
            return {}
        return {n: os.path.basename(os.readlink(os.path.join(self.mapper,
                                                             n)))
                for n in os.listdir(self.mapper)}

    def run(self, argv):
        self.calls.append(list(argv))
        if argv[0] == 'blockdev':
            return ''
        if argv[0] == 'partx':
            return self.table
        if argv[:2] == ['losetup', '-d']:
            name = os.path.basename(argv[2])
            shutil.rmtree(os.path.join(self.sys, name, 'loop'))
            return ''
        if argv[:3] == ['losetup', '--find', '--show']:
            opts = dict(zip(argv[3::2], argv[4::2]))
            free = next('loop%d' % n for n in range(100)
                        if 'loop%d' % n not in self.loops())
            return self.add_loop(free, argv[-1],
                                 offset=int(opts['--offset']),
                                 sizelimit=int(opts['--sizelimit']),
                                 sector=int(opts['--sector-size'])) + '\n'
        raise AssertionError('unexpected command %r' % argv)

    def finds(self):
        return [c for c in self.calls if c[:2] == ['losetup', '--find']]

    def detaches(self):
        return [os.path.basename(c[2]) for c in self.calls
                if c[:2] == ['losetup', '-d']]


class FakeHostTestCase(unittest.TestCase):

    def setUp(self):
        super().setUp()
        top = tempfile.mkdtemp(prefix='partmap-test-')
        self.addCleanup(shutil.rmtree, top)
        self.host = FakeHost(top)
        self.image = os.path.join(top, 'disk.img')
        for name, value in (('SYS_BLOCK', self.host.sys),
                            ('DEV_DIR', self.host.dev),
                            ('MAPPER_DIR', self.host.mapper)):
            patcher = mock.patch.object(partmap, name, value)
            patcher.start()
            self.addCleanup(patcher.stop)
        patcher = mock.patch.object(partmap, '_run', self.host.run)
        patcher.start()
        self.addCleanup(patcher.stop)

    def main(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        with mock.patch('sys.stderr', err):
            rc = partmap.main(list(argv), out)
        return rc, out.getvalue(), err.getvalue()


class TestParsing(unittest.TestCase):

    def test_mbr_skips_extended_container(self):
        parts = partmap.parse_partx(MBR_TABLE)
        self.assertEqual([partmap.Partition(1, MiB, 38912 * 512),
                          partmap.Partition(5, 43008 * 512, 38912 * 512)],
                         parts)

    def test_gpt_guids_are_not_extended(self):
        parts = partmap.parse_partx(GPT_TABLE)
        self.assertEqual([1, 2], [p.number for p in parts])
        self.assertEqual(22528 * 512, parts[1].start)

    def test_partx_units_are_512_bytes_whatever_the_sector_size(self):
        # partx on a 4096-byte-sector loop still reports 512-byte units.
        part = partmap.parse_partx('1 2048 20480 0x83\n')[0]
        self.assertEqual((MiB, 10 * MiB), (part.start, part.size))

    def test_blank_lines_empty_type_and_zero_size(self):
        parts = partmap.parse_partx('\n1 2048 100\n2 4096 0 0x83\n\n')
        self.assertEqual([partmap.Partition(1, MiB, 51200)], parts)

    def test_garbage_is_an_error(self):
        self.assertRaises(partmap.PartmapError, partmap.parse_partx,
                          'NR START SECTORS TYPE\n')

    def test_extended_types(self):
        for ptype in ('0x5', '0x05', '0xf', '0x85', '0XF'):
            self.assertTrue(partmap._is_extended(ptype), ptype)
        for ptype in ('0x83', '0xef', '', 'ebd0a0a2-b9e5-4433-87c0'):
            self.assertFalse(partmap._is_extended(ptype), ptype)

    def test_part_names(self):
        self.assertEqual('loop0p1', partmap.part_name('loop0', 1))
        self.assertEqual('loop12p15', partmap.part_name('loop12', 15))
        self.assertEqual('sda2', partmap.part_name('sda', 2))
        self.assertEqual('loop0-1', partmap.part_name('loop0', 1, '-'))


class TestPlacement(unittest.TestCase):

    def parent(self, offset=0, sizelimit=0):
        return partmap.Loop('loop0', '/img', offset, sizelimit)

    def test_offset_adds_parent_offset(self):
        part = partmap.Partition(1, MiB, 10 * MiB)
        self.assertEqual((MiB, 10 * MiB),
                         partmap.placement(self.parent(), part))
        self.assertEqual((3 * MiB, 10 * MiB),
                         partmap.placement(self.parent(2 * MiB), part))

    def test_parent_size_limit_clamps(self):
        part = partmap.Partition(1, MiB, 10 * MiB)
        self.assertEqual((MiB, 4 * MiB),
                         partmap.placement(self.parent(0, 5 * MiB), part))

    def test_partition_beyond_parent_limit(self):
        part = partmap.Partition(3, 8 * MiB, MiB)
        self.assertRaises(partmap.PartmapError, partmap.placement,
                          self.parent(0, 5 * MiB), part)


class TestKpartx(FakeHostTestCase):

    def setUp(self):
        super().setUp()
        self.parent = self.host.add_loop('loop0', self.image)

    def test_map_creates_loop_per_partition_over_the_file(self):
        rc, out, err = self.main('/usr/local/sbin/kpartx', '-uvs',
                                 self.parent)
        self.assertEqual((0, ''), (rc, err))
        self.assertEqual({'loop0p1': 'loop1', 'loop0p5': 'loop2'},
                         self.host.links())
        loops = self.host.loops()
        self.assertEqual((self.image, MiB, 38912 * 512),
                         loops['loop1'][1:])
        self.assertEqual((self.image, 43008 * 512, 38912 * 512),
                         loops['loop2'][1:])
        self.assertEqual(['add map loop0p1 (7:1): 0 38912 linear 7:0 2048',
                          'add map loop0p5 (7:2): 0 38912 linear 7:0 43008'],
                         out.splitlines())
        self.assertIn(['blockdev', '--flushbufs', self.parent],
                      self.host.calls)

    def test_quiet_without_v(self):
        rc, out, _ = self.main('kpartx', '-a', self.parent)
        self.assertEqual((0, ''), (rc, out))
        self.assertEqual(2, len(self.host.links()))

    def test_map_is_idempotent(self):
        self.main('kpartx', '-uvs', self.parent)
        before = self.host.links()
        rc, out, _ = self.main('kpartx', '-av', self.parent)
        self.assertEqual(0, rc)
        self.assertEqual(before, self.host.links())
        self.assertEqual(2, len(self.host.finds()))
        self.assertEqual([], self.host.detaches())
        self.assertEqual(2, len(out.splitlines()))

    def test_changed_table_replaces_and_drops_stale_mappings(self):
        self.main('kpartx', '-u', self.parent)
        self.host.table = '1 4096 1000 0x83\n'
        rc, _, _ = self.main('kpartx', '-u', self.parent)
        self.assertEqual(0, rc)
        self.assertEqual(['loop1', 'loop2'], sorted(self.host.detaches()))
        links = self.host.links()
        self.assertEqual(['loop0p1'], list(links))
        self.assertEqual(4096 * 512, self.host.loops()[links['loop0p1']][2])

    def test_sector_size_and_read_only_follow_the_parent(self):
        self.host.add_loop('loop0', self.image, sector=4096, ro=True)
        self.main('kpartx', '-u', self.parent)
        find = self.host.finds()[0]
        self.assertEqual('4096', find[find.index('--sector-size') + 1])
        self.assertIn('--read-only', find)
        self.assertEqual(self.image, find[-1])

    def test_parent_offset_is_added(self):
        self.host.add_loop('loop0', self.image, offset=MiB)
        self.main('kpartx', '-u', self.parent)
        self.assertEqual(2 * MiB, self.host.loops()['loop1'].offset)

    def test_link_to_other_files_loop_is_not_detached(self):
        self.host.add_loop('loop7', '/elsewhere.img', MiB)
        self.host.link('loop0p1', 'loop7')
        rc, _, _ = self.main('kpartx', '-u', self.parent)
        self.assertEqual(0, rc)
        self.assertEqual([], self.host.detaches())
        self.assertIn('loop7', self.host.loops())
        self.assertNotEqual('loop7', self.host.links()['loop0p1'])

    def test_dangling_link_is_replaced(self):
        self.host.link('loop0p1', 'loop9')
        self.assertEqual(0, self.main('kpartx', '-u', self.parent)[0])
        self.assertEqual('loop1', self.host.links()['loop0p1'])

    def test_foreign_mapper_entry_is_an_error(self):
        os.makedirs(self.host.mapper)
        open(os.path.join(self.host.mapper, 'loop0p1'), 'w').close()
        rc, _, err = self.main('kpartx', '-u', self.parent)
        self.assertEqual(1, rc)
        self.assertIn('not a partmap link', err)

    def test_delete_detaches_partition_loops_only(self):
        self.main('kpartx', '-uvs', self.parent)
        rc, out, _ = self.main('kpartx', '-dv', self.parent)
        self.assertEqual(0, rc)
        self.assertEqual(['del devmap : loop0p1', 'del devmap : loop0p5'],
                         out.splitlines())
        self.assertEqual({}, self.host.links())
        self.assertEqual(['loop0'], list(self.host.loops()))

    def test_delete_leaves_other_files_loop_and_fails(self):
        self.main('kpartx', '-u', self.parent)
        self.host.add_loop('loop7', '/elsewhere.img')
        self.host.link('loop0p3', 'loop7')
        rc, _, err = self.main('kpartx', '-d', self.parent)
        self.assertEqual(1, rc)
        self.assertIn('/elsewhere.img', err)
        self.assertEqual(['loop1', 'loop2'], sorted(self.host.detaches()))
        self.assertEqual({'loop0p3': 'loop7'}, self.host.links())

    def test_delete_does_not_touch_other_parents(self):
        self.main('kpartx', '-u', self.parent)
        self.host.link('loop10p1', 'loop9')
        self.assertEqual(0, self.main('kpartx', '-d', self.parent)[0])
        self.assertEqual({'loop10p1': 'loop9'}, self.host.links())

    def test_list(self):
        rc, out, _ = self.main('kpartx', '-l', self.parent)
        self.assertEqual(0, rc)
        self.assertEqual('loop0p1 : 0 38912 %s 2048' % self.parent,
                         out.splitlines()[0])
        self.assertEqual({}, self.host.links())

    def test_not_a_loop_device(self):
        rc, _, err = self.main('kpartx', '-u', '/dev/vda')
        self.assertEqual(1, rc)
        self.assertIn('not an attached loop device', err)

    def test_deleted_backing_file(self):
        self.host.add_loop('loop0', self.image + partmap.DELETED)
        self.assertEqual(1, self.main('kpartx', '-u', self.parent)[0])

    def test_usage_errors(self):
        for args in (['-x', self.parent], ['-v', self.parent],
                     ['-a', '-d', self.parent], ['-a'],
                     ['-a', self.parent, self.parent]):
            rc, _, err = self.main('kpartx', *args)
            self.assertEqual(2, rc, args)
            self.assertEqual(1, len(err.splitlines()), args)


class TestDmsetup(FakeHostTestCase):

    def setUp(self):
        super().setUp()
        self.parent = self.host.add_loop('loop0', self.image)
        self.main('kpartx', '-u', self.parent)

    def test_remove(self):
        rc, _, _ = self.main('dmsetup', 'remove', 'loop0p1')
        self.assertEqual(0, rc)
        self.assertEqual(['loop1'], self.host.detaches())
        self.assertEqual({'loop0p5': 'loop2'}, self.host.links())

    def test_remove_absent_is_fine(self):
        rc, _, err = self.main('dmsetup', 'remove', 'loop0p4')
        self.assertEqual(0, rc)
        self.assertIn('no such mapping', err)

    def test_remove_without_parent_only_drops_dangling_links(self):
        self.host.run(['losetup', '-d', self.parent])
        self.host.run(['losetup', '-d', 'loop2'])
        rc, _, err = self.main('dmsetup', 'remove', 'loop0p1')
        self.assertEqual(1, rc)
        self.assertIn('left alone', err)
        self.assertEqual(0, self.main('dmsetup', 'remove', 'loop0p5')[0])
        self.assertEqual({'loop0p1': 'loop1'}, self.host.links())
        self.assertIn('loop1', self.host.loops())

    def test_mknodes_is_a_no_op(self):
        calls = len(self.host.calls)
        self.assertEqual((0, '', ''),
                         self.main('dmsetup', '--noudevsync', 'mknodes'))
        self.assertEqual(calls, len(self.host.calls))

    def test_ls(self):
        rc, out, _ = self.main('dmsetup', 'ls')
        self.assertEqual(['loop0p1\t(7:1)', 'loop0p5\t(7:2)'],
                         out.splitlines())
        self.main('kpartx', '-d', self.parent)
        self.assertEqual('No devices found\n', self.main('dmsetup', 'ls')[1])

    def test_unsupported(self):
        for args in (['create', 'x'], ['remove'], [], ['--bogus', 'ls']):
            rc, _, err = self.main('dmsetup', *args)
            self.assertEqual(2, rc, args)
            self.assertEqual(1, len(err.splitlines()), args)


class TestDispatch(FakeHostTestCase):

    def test_first_argument_selects_command(self):
        parent = self.host.add_loop('loop0', self.image)
        rc, _, _ = self.main('/usr/bin/partmap.py', 'kpartx', '-u', parent)
        self.assertEqual(0, rc)
        self.assertEqual(2, len(self.host.links()))
        self.assertEqual(0, self.main('partmap', 'dmsetup', 'mknodes')[0])

    def test_program_name_wins(self):
        kpartx = mock.Mock(return_value=0)
        with mock.patch.dict(partmap.HANDLERS, {'kpartx': kpartx}):
            self.main('/usr/local/sbin/kpartx', 'dmsetup')
        self.assertEqual(['dmsetup'], kpartx.call_args[0][0])

    def test_unknown(self):
        self.assertEqual(2, self.main('partmap')[0])
        self.assertEqual(2, self.main('partmap', 'losetup')[0])


class TestRelease(FakeHostTestCase):

    def test_release_partitions_first_then_parent(self):
        parent = self.host.add_loop('loop0', self.image)
        self.main('kpartx', '-u', parent)
        self.host.add_loop('loop5', '/other.img')
        self.host.link('loop5p1', 'loop5')
        released = partmap.release_file(self.image)
        dev = self.host.dev
        self.assertEqual([os.path.join(dev, n)
                          for n in ('loop1', 'loop2', 'loop0')], released)
        self.assertEqual(['loop5'], list(self.host.loops()))
        self.assertEqual({'loop5p1': 'loop5'}, self.host.links())

    def test_release_deleted_file_and_orphan_links(self):
        self.host.add_loop('loop3', self.image + partmap.DELETED)
        self.host.link('loop3p1', 'loop8')
        self.host.link('loop4p1', 'loop9')
        released = partmap.release_file(self.image)
        self.assertEqual([os.path.join(self.host.dev, 'loop3')], released)
        self.assertEqual({'loop4p1': 'loop9'}, self.host.links())

    def test_release_nothing(self):
        self.assertEqual([], partmap.release_file(self.image))
        self.assertEqual([], self.host.calls)

    def test_release_command(self):
        self.host.add_loop('loop0', self.image)
        rc, out, _ = self.main('partmap', 'release', self.image)
        self.assertEqual(0, rc)
        self.assertIn('loop0', out)


class TestInstall(unittest.TestCase):

    def setUp(self):
        super().setUp()
        self.prefix = tempfile.mkdtemp(prefix='partmap-prefix-')
        self.addCleanup(shutil.rmtree, self.prefix)
        self.sbin = os.path.join(self.prefix, 'sbin')
        self.program = os.path.join(self.prefix, partmap.PROGRAM)

    def test_install(self):
        self.assertFalse(partmap.is_installed(self.prefix))
        self.assertEqual(self.program, partmap.install(self.prefix))
        self.assertTrue(partmap.is_installed(self.prefix))
        self.assertEqual(0o755, stat.S_IMODE(os.stat(self.program).st_mode))
        with open(self.program, 'rb') as f, open(partmap.__file__,
                                                 'rb') as g:
            self.assertEqual(g.read(), f.read())
        for name in ('kpartx', 'dmsetup'):
            self.assertEqual(self.program,
                             os.readlink(os.path.join(self.sbin, name)))

    def test_install_is_idempotent_and_repairs(self):
        partmap.install(self.prefix)
        os.unlink(os.path.join(self.sbin, 'dmsetup'))
        with open(self.program, 'w') as f:
            f.write('old\n')
        partmap.install(self.prefix)
        partmap.install(self.prefix)
        self.assertTrue(partmap.is_installed(self.prefix))
        self.assertEqual(['dmsetup', 'kpartx'], sorted(os.listdir(self.sbin)))
        with open(self.program) as f:
            self.assertTrue(f.read().startswith('#!/usr/bin/python3\n'))

    def test_installed_program_runs(self):
        partmap.install(self.prefix)
        proc = subprocess.run([os.path.join(self.sbin, 'dmsetup'),
                               'mknodes'], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        self.assertEqual(0, proc.returncode, proc.stderr)
        proc = subprocess.run([os.path.join(self.sbin, 'kpartx'), '-z'],
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              universal_newlines=True)
        self.assertEqual(2, proc.returncode)
        self.assertTrue(proc.stderr.startswith('kpartx: '))

    def test_refuses_to_clobber(self):
        os.makedirs(self.sbin)
        foreign = os.path.join(self.sbin, 'kpartx')
        with open(foreign, 'w') as f:
            f.write('#!/bin/sh\n')
        os.symlink('/usr/sbin/dmsetup', os.path.join(self.sbin, 'dmsetup'))
        self.assertRaises(partmap.PartmapError, partmap.install, self.prefix)
        self.assertFalse(os.path.exists(self.program))
        self.assertFalse(partmap.is_installed(self.prefix))
        self.assertEqual([], partmap.uninstall(self.prefix))
        self.assertTrue(os.path.isfile(foreign))
        self.assertTrue(os.path.islink(os.path.join(self.sbin, 'dmsetup')))

    def test_uninstall_removes_only_ours(self):
        partmap.install(self.prefix)
        os.unlink(os.path.join(self.sbin, 'kpartx'))
        with open(os.path.join(self.sbin, 'kpartx'), 'w') as f:
            f.write('#!/bin/sh\n')
        removed = partmap.uninstall(self.prefix)
        self.assertEqual([os.path.join(self.sbin, 'dmsetup'), self.program],
                         removed)
        self.assertEqual(['kpartx'], os.listdir(self.sbin))
        self.assertFalse(os.path.exists(os.path.dirname(self.program)))
        self.assertEqual([], partmap.uninstall(self.prefix))


class TestHostProbes(unittest.TestCase):

    def setUp(self):
        super().setUp()
        fd, self.proc = tempfile.mkstemp()
        os.close(fd)
        self.addCleanup(os.unlink, self.proc)

    def probe(self, proc_text, modprobe):
        with open(self.proc, 'w') as f:
            f.write(proc_text)
        with mock.patch.object(partmap, 'PROC_MISC', self.proc), \
                mock.patch.object(partmap, 'PROC_FILESYSTEMS', self.proc), \
                mock.patch('subprocess.run', side_effect=modprobe) as run:
            return (partmap.host_has_device_mapper(),
                    partmap.host_has_vfat(), run)

    def test_listed_in_proc(self):
        dm, vfat, run = self.probe(' 236 device-mapper\n\tvfat\n', None)
        self.assertEqual((True, True), (dm, vfat))
        run.assert_not_called()

    def test_modprobe_would_load(self):
        dm, vfat, run = self.probe('nodev\tsysfs\n', [
            mock.Mock(returncode=0), mock.Mock(returncode=1)])
        self.assertEqual((True, False), (dm, vfat))
        self.assertEqual(['modprobe', '-n', '-q', 'dm_mod'],
                         run.call_args_list[0][0][0])
        self.assertEqual(['modprobe', '-n', '-q', 'vfat'],
                         run.call_args_list[1][0][0])

    def test_no_modprobe(self):
        dm, vfat, _ = self.probe('\text4\n', FileNotFoundError())
        self.assertEqual((False, False), (dm, vfat))


class TestRun(unittest.TestCase):

    def test_failure_carries_stderr(self):
        with mock.patch('subprocess.run', return_value=mock.Mock(
                returncode=1, stdout='', stderr='partx: boom\n')):
            with self.assertRaises(partmap.PartmapError) as ctx:
                partmap._run(['partx', '/dev/loop0'])
        self.assertIn('partx: boom', str(ctx.exception))

    def test_missing_command(self):
        with mock.patch('subprocess.run', side_effect=FileNotFoundError(
                2, 'No such file or directory')):
            self.assertRaises(partmap.PartmapError, partmap._run,
                              ['losetup'])


if __name__ == '__main__':
    unittest.main()


class TestReleaseLoops(FakeHostTestCase):

    def test_device_mapper_holders_go_first(self):
        # With the real kpartx a dm partition holds its parent open.
        self.host.add_loop('loop0', self.image)
        holder = os.path.join(self.host.sys, 'dm-0')
        os.makedirs(os.path.join(holder, 'dm'))
        with open(os.path.join(holder, 'dm', 'name'), 'w') as f:
            f.write('loop0p1\n')
        os.makedirs(os.path.join(self.host.sys, 'loop0', 'holders'))
        os.symlink(holder, os.path.join(self.host.sys, 'loop0', 'holders',
                                        'dm-0'))
        real_run = self.host.run

        def run(argv):
            if argv[0] == 'dmsetup':
                self.host.calls.append(list(argv))
                return ''
            return real_run(argv)
        with mock.patch.object(partmap, '_run', run):
            released = partmap.release_loops(
                list(self.host.loops().values()))
        self.assertEqual([os.path.join(self.host.dev, 'loop0')], released)
        self.assertEqual([['dmsetup', 'remove', 'loop0p1'],
                          ['losetup', '-d',
                           os.path.join(self.host.dev, 'loop0')]],
                         self.host.calls)

    def test_changed_device_is_skipped(self):
        self.host.add_loop('loop0', self.image)
        seen = self.host.loops()['loop0']
        self.host.run(['losetup', '-d', '/dev/loop0'])
        self.host.add_loop('loop0', '/other.img')
        self.assertEqual([], partmap.release_loops([seen]))
        self.assertEqual('/other.img', self.host.loops()['loop0'].file)
