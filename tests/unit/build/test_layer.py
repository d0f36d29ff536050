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

import contextlib
import errno
import json
import os
import shutil
import subprocess
import threading
import time
from unittest import mock

import fixtures

from tests.unit import base
from trove_image_builder.build import layer
from trove_image_builder import errors
from trove_image_builder import manifest

MIB = 2 ** 20


class TestCopyChecked(base.TestCase):

    def sparse_file(self):
        path = os.path.join(self.tmp, 'base.raw')
        with open(path, 'wb') as f:
            f.write(b'head' * 1000)
            f.seek(64 * MIB)
            f.write(b'middle')
            f.truncate(128 * MIB)  # ends in a hole
        return path

    def test_same_bytes_holes_kept_checksum_matches(self):
        src = self.sparse_file()
        dest = os.path.join(self.tmp, 'copy.raw')
        self.assertTrue(layer.copy_checked(src, dest,
                                           manifest.sha256_file(src)))
        self.assertEqual(manifest.sha256_file(src),
                         manifest.sha256_file(dest))
        st = os.stat(dest)
        self.assertEqual(128 * MIB, st.st_size)
        self.assertLess(st.st_blocks * 512, 16 * MIB)
        self.assertEqual(0o600, st.st_mode & 0o777)

    def test_copy_hashed_gives_the_sha256_of_what_it_read(self):
        src = self.sparse_file()
        dest = os.path.join(self.tmp, 'copy.raw')
        self.assertEqual(manifest.sha256_file(src),
                         layer.copy_hashed(src, dest))
        self.assertEqual(manifest.sha256_file(src),
                         manifest.sha256_file(dest))

    def test_corrupt_or_truncated_base_is_reported(self):
        src = self.sparse_file()
        good = manifest.sha256_file(src)
        with open(src, 'r+b') as f:
            f.seek(64 * MIB)
            f.write(b'M')
        self.assertFalse(layer.copy_checked(
            src, os.path.join(self.tmp, 'a.raw'), good))
        os.truncate(src, 100 * MIB)
        self.assertFalse(layer.copy_checked(
            src, os.path.join(self.tmp, 'b.raw'), good))

    def test_never_writes_through_an_existing_path(self):
        src = self.sparse_file()
        victim = base.write(os.path.join(self.tmp, 'victim'), 'keep')
        dest = os.path.join(self.tmp, 'link.raw')
        os.symlink(victim, dest)
        self.assertRaises(FileExistsError, layer.copy_checked, src, dest,
                          'x')
        with open(victim) as f:
            self.assertEqual('keep', f.read())

    def test_full_disk_is_a_build_failure_naming_the_path(self):
        src = self.sparse_file()
        dest = os.path.join(self.tmp, 'copy.raw')
        with mock.patch('os.pwrite',
                        side_effect=OSError(errno.ENOSPC, 'No space')):
            e = self.assertRaises(errors.BuildFailed, layer.copy_checked,
                                  src, dest, 'x')
        self.assertEqual(4, e.exit_code)
        self.assertIn(dest, str(e))


def gpt_disk(directory, table):
    """A 64 MiB file with a GPT made by sfdisk from table's lines."""
    if not shutil.which('sfdisk'):
        raise AssertionError('sfdisk (util-linux) is missing')
    path = os.path.join(directory, 'disk.raw')
    with open(path, 'wb') as f:
        f.truncate(64 * MIB)
    subprocess.run(['sfdisk', '-q', path], check=True, text=True,
                   input='label: gpt\n' + table)
    return path


class TestRootPartition(base.TestCase):

    def test_largest_partition_of_a_real_table(self):
        # A small BIOS boot partition, then the root, as layouts do.
        path = gpt_disk(self.tmp, 'start=2048, size=16384, '
                                  'type=21686148-6449-6E6F-744E-656564454649\n'
                                  'start=18432, type=linux\n')
        offset, size = layer.root_partition(path)
        self.assertEqual(18432 * 512, offset)
        self.assertGreater(size, 40 * MIB)

    def test_no_table_is_a_bare_filesystem(self):
        path = os.path.join(self.tmp, 'fs.raw')
        with open(path, 'wb') as f:
            f.truncate(8 * MIB)
        self.assertEqual((0, 8 * MIB), layer.root_partition(path))


class TestGrow(base.TestCase):

    def test_room_for_an_archive_its_copy_and_its_layers(self):
        a = base.write(os.path.join(self.tmp, 'a.tar'), 'x' * 1000)
        b = base.write(os.path.join(self.tmp, 'b.tar'), 'x' * 24)
        self.assertEqual(3072, layer.archive_room(
            [mock.Mock(path=a), mock.Mock(path=b)]))

    def test_a_root_that_is_not_last_is_refused_untouched(self):
        path = gpt_disk(self.tmp, 'start=2048, size=98304, type=linux\n'
                                  'start=100352, size=8192, type=linux\n')
        e = self.assertRaises(errors.BuildFailed, layer.grow, path, MIB)
        self.assertIn('not the last one', str(e))
        self.assertEqual(64 * MIB, os.path.getsize(path))


class TestWrite(base.TestCase):

    def test_record_is_what_the_element_wrote(self):
        root = os.path.join(self.tmp, 'root')
        os.makedirs(os.path.join(root, 'etc'))
        record = {'datastore': 'mariadb', 'version': '10.11'}
        layer.write_record(root, record)
        path = os.path.join(root, layer.RECORD_PATH)
        with open(path) as f:
            self.assertEqual(record, json.load(f))
        self.assertEqual(0o644, os.stat(path).st_mode & 0o777)

    def test_a_symlink_in_the_base_cannot_lead_outside(self):
        root = os.path.join(self.tmp, 'root')
        outside = os.path.join(self.tmp, 'outside')
        os.makedirs(os.path.join(root, 'etc'))
        os.makedirs(outside)
        os.symlink(outside, os.path.join(root, 'etc', 'trove-image-builder'))
        e = self.assertRaises(errors.BuildFailed, layer.write_record, root,
                              {'datastore': 'x'})
        self.assertIn('leads outside the image', str(e))
        self.assertEqual([], os.listdir(outside))

    def test_archives_become_private_docker_archives(self):
        root = os.path.join(self.tmp, 'root')
        os.makedirs(root)
        lib = mock.Mock()
        lib.write_docker_archive.side_effect = (
            lambda path, out: out.write(b'tar of ' + path.encode()))
        archives = [mock.Mock(path='/srv/a/mariadb_10.11.11.tar.gz'),
                    mock.Mock(path='/srv/b/extra.tar')]
        names = layer.write_archives(root, archives, lib)
        self.assertEqual(['01-mariadb_10.11.11.tar', '02-extra.tar'], names)
        target = os.path.join(root, layer.ARCHIVE_DIR, names[0])
        with open(target, 'rb') as f:
            self.assertEqual(b'tar of /srv/a/mariadb_10.11.11.tar.gz',
                             f.read())
        self.assertEqual(0o600, os.stat(target).st_mode & 0o777)
        self.assertEqual(0o700, os.stat(os.path.dirname(target)).st_mode
                         & 0o777)


class TestWriteLayer(base.TestCase):

    def setUp(self):
        super().setUp()
        root = os.path.join(self.tmp, 'root')
        os.makedirs(os.path.join(root, 'etc'))
        self.root = root

        @contextlib.contextmanager
        def mounted(image, mount_dir):
            yield root

        self.useFixture(fixtures.MockPatchObject(layer, 'mounted', mounted))

    def test_full_disk_in_the_image_is_exit_4_with_the_path(self):
        with mock.patch.object(layer, '_write_new', side_effect=OSError(
                errno.ENOSPC, 'No space left on device')):
            e = self.assertRaises(errors.BuildFailed, layer.write_layer,
                                  '/w/base.raw', '/w/root', {'a': 1}, (),
                                  None)
        self.assertEqual(4, e.exit_code)
        self.assertEqual('no space left on the device of /w/base.raw',
                         str(e))

    def test_generic_writes_nothing(self):
        layer.write_layer('/w/base.raw', '/w/root', None, (), None)
        self.assertEqual(['etc'], os.listdir(self.root))
        self.assertEqual([], os.listdir(os.path.join(self.root, 'etc')))


class TestConvert(base.TestCase):

    def test_qcow2_is_compressed_on_every_core(self):
        with mock.patch.object(layer, '_run') as run:
            layer.convert('/w/base.raw', '/o/x.qcow2', 'qcow2')
        argv = run.call_args[0][0]
        self.assertEqual(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2',
                          '-c', '-m', '8', '-W', '/w/base.raw',
                          '/o/x.qcow2'], argv)

    def test_failure_is_a_build_failure(self):
        e = self.assertRaises(errors.BuildFailed, layer._run,
                              ['sh', '-c', 'echo "qemu-img: No space" >&2; '
                               'exit 1'], 'converting')
        self.assertEqual('converting failed: qemu-img: No space', str(e))

    def test_cancel_stops_the_command(self):
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        e = self.assertRaises(errors.Interrupted, layer._run,
                              ['sleep', '30'], 'converting', cancel)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn('cancelled', str(e))


class TestPatch(base.TestCase):
    """A qcow2 layer as the packed base with the changed clusters in it."""

    def qemu_img(self, *args):
        return subprocess.run(('qemu-img',) + args, check=True,
                              capture_output=True, text=True).stdout

    def raw(self, name, chunks):
        path = os.path.join(self.tmp, name)
        with open(path, 'wb') as f:
            for offset, data in chunks:
                f.seek(offset)
                f.write(data)
            f.truncate(32 * MIB)
        return path

    def test_the_result_reads_as_the_layer_and_stands_alone(self):
        noise = os.urandom(MIB)
        common = [(0, b'boot' * 1000), (4 * MIB, noise),
                  (20 * MIB, b'\x01' * (2 * MIB))]
        base_raw = self.raw('base.raw', common)
        # The layer: a few bytes here and there, one at the very end.
        work = self.raw('work.raw', common + [
            (4 * MIB + 10, b'datastore.json'), (31 * MIB, b'tail')])
        packed = os.path.join(self.tmp, 'packed.qcow2')
        layer.pack(base_raw, packed)
        out = os.path.join(self.tmp, 'out.qcow2')
        shutil.copyfile(packed, out)
        overlay = os.path.join(self.tmp, 'layer.qcow2')

        layer.diff(base_raw, work, overlay)
        # Only the clusters that differ were kept (64 KiB clusters).
        kept = sum(e['length'] for e in json.loads(self.qemu_img(
            'map', '--output=json', overlay)) if e['depth'] == 0)
        self.assertEqual(2 * 64 * 1024, kept)
        layer.apply(overlay, out)

        self.assertIn('Images are identical',
                      self.qemu_img('compare', '-f', 'raw', '-F', 'qcow2',
                                    work, out))
        info = json.loads(self.qemu_img('info', '--output=json', out))
        self.assertNotIn('backing-filename', info)
        self.assertEqual(32 * MIB, info['virtual-size'])
        # The base's clusters stay compressed: the file grew by about
        # the two clusters written, not by the noise megabyte again.
        self.assertLess(os.path.getsize(out) - os.path.getsize(packed),
                        MIB // 2)

    def test_the_long_steps_can_be_cancelled(self):
        cancel = threading.Event()
        with mock.patch.object(layer, '_run') as run:
            layer.diff('/w/base.raw', '/w/work.raw', '/w/l.qcow2', cancel)
            layer.apply('/w/l.qcow2', '/o/x.qcow2', cancel)
        cancellable = [c[0][0][1:3] for c in run.call_args_list
                       if c[0][2:] == (cancel,)]
        # the comparison and the commit, not the instant steps
        self.assertEqual([['rebase', '-q'], ['commit', '-q']], cancellable)
