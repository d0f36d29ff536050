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

"""A datastore's image from the shared base, without running DIB again.

The base (OS, cloud-init, docker, the guest agent) is one raw image that
DIB builds once per OS, release and agent. What makes it a datastore's
image is small: /etc/trove-image-builder/datastore.json and, when asked,
container archives for docker to load at first boot. So a layer is a
checked copy of the base with those files written into its root
filesystem (a loop device over the file, no partition scanning needed
from the kernel), then converted to the output format.

Compressing 1.7 GiB into qcow2 is most of a layer's time, and the base
is the same in every layer: so it is compressed once (the packed base),
and a qcow2 layer is that file with the few clusters the layer changed
written into it (found by qemu-img rebase against the base, put in by
qemu-img commit). Layers with container archives are converted whole,
so that the archives are compressed too.
"""

import contextlib
import errno
import hashlib
import json
import os
import subprocess

from trove_image_builder.build import partmap
from trove_image_builder import errors
from trove_image_builder import imagefile

RECORD_PATH = os.path.join('etc', 'trove-image-builder', 'datastore.json')
# Where the trove-container-images element's loader looks at first boot.
ARCHIVE_DIR = os.path.join('var', 'lib', 'trove-container-images',
                           'archives')
# Bumped whenever what a layer writes changes, so old layers rebuild.
LAYER_FORMAT = 2
# qemu-img convert -c compresses one cluster per coroutine; eight of
# them out of order keep every core busy (DIB's own convert uses one).
_CONVERT_OPTIONS = {'qcow2': ('-c', '-m', '8', '-W')}
_ZERO = bytes(imagefile.CHUNK)
# Seconds between looks at a cancel event while a command runs.
CANCEL_POLL = 0.5


def _no_space(exc, path):
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return errors.BuildFailed('no space left on the device of %s'
                                  % path)
    return None


def copy_checked(src, dest, expected_sha256):
    """Copy src to a new private dest, holes kept; True if sha256 matches.

    The base is hashed while it is copied (one read), so a corrupt or
    truncated base is caught before anything is built on it.
    """
    return copy_hashed(src, dest) == expected_sha256


def copy_hashed(src, dest):
    """Copy src to a new private dest, holes kept; src's sha256 (hex)."""
    digest = hashlib.sha256()
    fd_in = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd_in).st_size
        fd_out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                         os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            pos = 0
            while pos < size:
                try:
                    data = os.lseek(fd_in, pos, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno != errno.ENXIO:  # ENXIO: only a hole left
                        raise
                    data = size
                _hash_zeros(digest, data - pos)
                if data >= size:
                    break
                hole = os.lseek(fd_in, data, os.SEEK_HOLE)
                _copy_range(fd_in, fd_out, data, hole, digest)
                pos = hole
            # No fsync: dest is a work copy, and the finished image is
            # synced before it is renamed into place.
            os.ftruncate(fd_out, size)
        finally:
            os.close(fd_out)
    except OSError as exc:
        raise _no_space(exc, dest) or exc
    finally:
        os.close(fd_in)
    return digest.hexdigest()


def _hash_zeros(digest, length):
    while length > 0:
        step = min(length, len(_ZERO))
        digest.update(_ZERO[:step] if step < len(_ZERO) else _ZERO)
        length -= step


def _copy_range(fd_in, fd_out, start, end, digest):
    pos = start
    while pos < end:
        block = os.pread(fd_in, min(imagefile.CHUNK, end - pos), pos)
        if not block:
            break
        digest.update(block)
        # Zero blocks inside data extents stay holes in the copy.
        if block.count(0) != len(block):
            os.pwrite(fd_out, block, pos)
        pos += len(block)


def _partitions(path):
    res = subprocess.run(['partx', '-g', '-r', '-o', 'NR,START,SECTORS,TYPE',
                          path], capture_output=True, text=True, check=False)
    return partmap.parse_partx(res.stdout) if res.returncode == 0 else []


def root_partition(path):
    """(offset, size) of the largest partition of a raw image file.

    Every block-device layout the build offers (mbr, gpt, efi) puts the
    root filesystem in its largest partition; a file without a table is
    a bare filesystem.
    """
    parts = _partitions(path)
    if not parts:
        return 0, os.path.getsize(path)
    best = max(parts, key=lambda p: p.size)
    return best.start, best.size


def grow(image, extra):
    """Give the root filesystem extra bytes more (rounded up to a MiB).

    The base is sized to its own content; an embedded container archive
    needs room for itself and for docker's copy of it at first boot.
    The root partition (the last one in every layout) and its ext4
    grow into the longer file.
    """
    size = os.path.getsize(image) + extra
    size += -size % (1 << 20)
    parts = _partitions(image)
    if parts:
        root = max(parts, key=lambda p: p.size)
        if root.start + root.size < max(p.start + p.size for p in parts):
            raise errors.BuildFailed('the root partition of %s is not the '
                                     'last one; cannot grow it' % image)
    os.truncate(image, size)
    if parts:
        if _is_gpt(image):
            # GPT keeps a backup table at the disk's end: move it there.
            _run(['sfdisk', '-q', '--relocate', 'gpt-bak-std', image],
                 'moving the backup partition table')
        _run_input(['sfdisk', '-q', '--no-reread', '--no-tell-kernel',
                    '-N', str(root.number), image], ', +\n',
                   'growing the root partition of %s' % image)
    loop = _attach_root(image)
    try:
        # resize2fs wants a freshly checked filesystem; exit 1 means
        # e2fsck fixed something harmless (the base was unmounted clean).
        res = subprocess.run(['e2fsck', '-f', '-p', loop],
                             capture_output=True, text=True, check=False)
        if res.returncode > 1:
            raise errors.BuildFailed('e2fsck of the base\'s root failed: %s'
                                     % imagefile.last_line(res.stdout +
                                                           res.stderr))
        _run(['resize2fs', loop], 'growing the root filesystem')
    finally:
        partmap.release_file(image)


def _is_gpt(image):
    res = subprocess.run(['sfdisk', '--dump', image], capture_output=True,
                         text=True, check=False)
    return 'label: gpt' in res.stdout


def _run_input(argv, text, what):
    res = subprocess.run(argv, input=text, capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise errors.BuildFailed('%s failed: %s'
                                 % (what, imagefile.last_line(res.stderr)))


def _attach_root(image):
    """A loop device over the image's root partition (release_file it)."""
    offset, size = root_partition(image)
    return _run(['losetup', '--find', '--show', '--offset', str(offset),
                 '--sizelimit', str(size), image], 'attaching %s' % image)


def _run(argv, what, cancel=None):
    """argv's stdout; stopped (Interrupted) as soon as cancel is set.

    Layers run in worker threads, which no signal reaches: the thread
    that gets SIGINT sets cancel instead.
    """
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=CANCEL_POLL)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    raise errors.Interrupted('%s: cancelled' % what)
    except BaseException:
        # Interrupted here or cancelled: the command goes too, now.
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise errors.BuildFailed('%s failed: %s'
                                 % (what, imagefile.last_line(err)))
    return out.strip()


@contextlib.contextmanager
def mounted(image, mount_dir):
    """The image's root filesystem mounted read-write at mount_dir."""
    loop = _attach_root(image)
    try:
        os.makedirs(mount_dir, mode=0o700, exist_ok=True)
        _run(['mount', '-o', 'nodev,nosuid', loop, mount_dir],
             'mounting the root filesystem of %s' % image)
        try:
            if not os.path.isdir(os.path.join(mount_dir, 'etc')):
                raise errors.BuildFailed('the base %s has no root '
                                         'filesystem in its largest '
                                         'partition' % image)
            yield mount_dir
        finally:
            _run(['umount', mount_dir], 'unmounting %s' % mount_dir)
    finally:
        partmap.release_file(image)


def _inside(root, rel):
    """root/rel, refusing any path a symlink in the base leads outside."""
    path = os.path.join(root, rel)
    parent = os.path.realpath(os.path.dirname(path))
    if parent != root and not parent.startswith(root + os.sep):
        raise errors.BuildFailed('%s leads outside the image' % rel)
    return path


def write_record(root, record):
    """/etc/trove-image-builder/datastore.json, as the element wrote it."""
    root = os.path.realpath(root)
    path = _inside(root, RECORD_PATH)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    text = json.dumps(record, indent=2, sort_keys=True) + '\n'
    _write_new(path, text.encode(), 0o644)


def write_archives(root, archives, lib):
    """Each archive as a docker-archive tar the first-boot loader reads.

    lib is the trove-container-images element's library, the same code
    that converts archives in a DIB build.
    """
    root = os.path.realpath(root)
    dest_dir = _inside(root, os.path.join(ARCHIVE_DIR, 'x'))
    dest_dir = os.path.dirname(dest_dir)
    os.makedirs(dest_dir, mode=0o700, exist_ok=True)
    names = []
    for n, archive in enumerate(archives, 1):
        name = os.path.basename(archive.path)
        for suffix in ('.gz', '.tgz', '.tar'):
            if name.endswith(suffix):
                name = name[:-len(suffix)]
        target = os.path.join(dest_dir, '%02d-%s.tar' % (n, name))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                     os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, 'wb') as out:
            lib.write_docker_archive(archive.path, out)
        names.append(os.path.basename(target))
    return names


def _write_new(path, data, mode):
    tmp = path + '.tib-tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                 os.O_NOFOLLOW, mode)
    with os.fdopen(fd, 'wb') as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def convert(raw, dest, fmt, cancel=None):
    """raw -> dest in fmt (qcow2 compressed, like DIB's own output)."""
    argv = ['qemu-img', 'convert', '-f', 'raw', '-O', fmt]
    argv += _CONVERT_OPTIONS.get(fmt, ())
    _run(argv + [raw, dest], 'converting %s to %s' % (raw, fmt), cancel)


def pack(raw, dest, cancel=None):
    """The base compressed once, for every qcow2 layer made from it."""
    convert(raw, dest, 'qcow2', cancel)


def diff(base_raw, work_raw, overlay, cancel=None):
    """A qcow2 overlay over base_raw holding where work_raw differs.

    qemu-img rebase, in its safe mode, compares the old backing file
    (the layer) with the new one (the base) cluster by cluster and keeps
    in the overlay only the clusters that differ.
    """
    _run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b',
          os.path.abspath(work_raw), overlay], 'creating %s' % overlay)
    _run(['qemu-img', 'rebase', '-q', '-f', 'qcow2', '-F', 'raw', '-b',
          os.path.abspath(base_raw), overlay],
         'comparing the layer with the base %s' % base_raw, cancel)


def apply(overlay, packed, cancel=None):
    """overlay's clusters written into packed, a copy of the packed base.

    packed has the base's content, so pointing the overlay at it changes
    nothing it reads (rebase -u); commit then leaves packed holding the
    layer, with no backing file of its own.
    """
    _run(['qemu-img', 'rebase', '-q', '-u', '-f', 'qcow2', '-F', 'qcow2',
          '-b', os.path.abspath(packed), overlay],
         'pointing the layer at %s' % packed)
    _run(['qemu-img', 'commit', '-q', '-d', '-f', 'qcow2', overlay],
         'writing the layer into %s' % packed, cancel)


def archive_room(archives):
    """Root room for archives: each, docker's copy, the loaded layers."""
    return 3 * sum(os.path.getsize(a.path) for a in archives)


def write_layer(work_image, mount_dir, record, archives, lib):
    """Write the datastore's files into work_image; disk full: exit 4."""
    try:
        if archives:
            grow(work_image, archive_room(archives))
        with mounted(work_image, mount_dir) as root:
            if record:
                write_record(root, record)
            if archives:
                write_archives(root, archives, lib)
    except OSError as exc:
        raise _no_space(exc, work_image) or errors.BuildFailed(
            'writing the datastore layer into %s failed: %s'
            % (work_image, exc))
