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

"""Undo what an interrupted or failed DIB run left under its temp dir.

DIB cleans up after itself on a normal exit and on SIGTERM, but a
SIGKILL or a crash in a trap leaves mounts and loop devices behind.
Everything DIB makes lives under the build's own TMP_DIR, so that prefix
identifies what is ours without touching anything else on the host.
"""

import json
import logging
import os
import re
import subprocess

from trove_image_builder.build import partmap

LOG = logging.getLogger(__name__)


_OCTAL = re.compile(rb'\\([0-7]{3})')
MOUNTINFO = '/proc/self/mountinfo'


def _unescape(field):
    """A mountinfo path field (bytes) as the path os functions take.

    The kernel escapes blanks and backslashes as octal (\\040) and
    writes every other byte as it is: non-ASCII names are raw bytes, in
    whatever encoding they were made with.
    """
    return os.fsdecode(_OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]),
                                  field))


def _mounts(mountinfo):
    """(device number, mount point) of every mount, in table order."""
    with open(mountinfo, 'rb') as f:
        return [(fields[2].decode(), _unescape(fields[4]))
                for fields in (line.split() for line in f)]


def _under(path, prefix):
    return path == prefix or path.startswith(prefix + '/')


def mounts_under(prefix, mountinfo=MOUNTINFO):
    """Mount points at or below prefix, deepest first."""
    prefix = os.path.realpath(prefix)
    found = {point for _dev, point in _mounts(mountinfo)
             if _under(point, prefix)}
    return sorted(found, key=lambda p: p.count('/'), reverse=True)


def _private_devices(prefix, mountinfo):
    """Filesystems mounted below prefix and nowhere else (DIB's tmpfs).

    A file on one of them is the build's whatever path the kernel now
    shows for it; a filesystem also mounted elsewhere (a bind of the
    host's root, /proc, /dev) says nothing about whose a file is.
    """
    mine, elsewhere = set(), set()
    for dev, point in _mounts(mountinfo):
        (mine if _under(point, prefix) else elsewhere).add(dev)
    return mine - elsewhere


def _losetup(run, columns):
    """{loop name: losetup's record with columns} of every attached loop."""
    out = run(['losetup', '--json', '--list', '-O', 'NAME,' + columns],
              capture_output=True, text=True, check=False).stdout
    return {os.path.basename(dev['name']): dev
            for dev in (json.loads(out)['loopdevices']
                        if out.strip() else [])}


def _listed_loops(run):
    """(name, backing file, backing device) of every attached loop."""
    return [(name, dev.get('back-file') or '',
             (dev.get('back-maj:min') or '').strip())
            for name, dev in _losetup(run, 'BACK-FILE,BACK-MAJ:MIN').items()]


def _is_partial(path, partial):
    """path is one of the files or trees named partial.SUFFIX."""
    return bool(partial) and (path == partial or
                              path.startswith((partial + '.',
                                               partial + '/')))


def loops_of(prefix, partial=None, run=subprocess.run,
             mountinfo=MOUNTINFO):
    """The partmap.Loops a build left: matched by what they back.

    Ours: a backing file below prefix or one of the partial image's
    paths (also once deleted), or a file on a filesystem mounted only
    below prefix. Must run before those mounts go: a lazily unmounted
    tmpfs leaves its loop devices backing "/image0.raw", which no
    longer names anyone's build.
    """
    prefix = os.path.realpath(prefix)
    partial = partial and os.path.realpath(partial)
    private = _private_devices(prefix, mountinfo)
    found = []
    for name, back, dev in _listed_loops(run):
        path = back[:-len(partmap.DELETED)] \
            if back.endswith(partmap.DELETED) else back
        if not (_under(path, prefix) or _is_partial(path, partial) or
                dev in private):
            continue
        info = partmap.loop_info(name)
        # Checked against sysfs: the device may have been reused since.
        if info and info.file == back:
            found.append(info)
    return found


def identities(loops, run=subprocess.run):
    """{name: (backing device, inode, offset, size limit)} of loops.

    What stays true of a loop device when the path of its backing file
    changes: DIB's trap may lazily unmount its tmpfs while it stops,
    after which the path reads "/image0.raw".
    """
    names = {info.name for info in loops}
    return {name: ident for name, ident in _identities(run).items()
            if name in names}


def _identities(run):
    return {name: tuple(str(dev.get(k) or '').strip() for k in (
        'back-maj:min', 'back-ino', 'offset', 'sizelimit'))
        for name, dev in _losetup(
            run, 'BACK-MAJ:MIN,BACK-INO,OFFSET,SIZELIMIT').items()}


def release_identified(ids, run=subprocess.run):
    """Detach the loops of ids (see identities) still backing the same."""
    if not ids:
        return []
    victims = []
    for name, ident in _identities(run).items():
        info = ids.get(name) == ident and partmap.loop_info(name)
        if info:
            victims.append(info)
    done = partmap.release_loops(victims)
    for item in done:
        LOG.warning('cleaned up after DIB: detach %s', item)
    return done


def _umount(point, run, lazy=False):
    argv = ['umount', '-l', point] if lazy else ['umount', point]
    return run(argv, capture_output=True, check=False).returncode == 0


def release(prefix, partial=None, run=subprocess.run, mountinfo=MOUNTINFO):
    """Unmount and detach everything of one build; return what was done.

    prefix is the build's TMP_DIR, partial the path its image is written
    under before the rename (see loops_of). Nothing else is touched, so
    a build of another target running at the same time keeps its work.
    """
    loops = loops_of(prefix, partial, run=run, mountinfo=mountinfo)
    done, busy = [], []
    for point in mounts_under(prefix, mountinfo):
        if _umount(point, run):
            done.append('umount %s' % point)
        else:
            # Perhaps held by a loop device over a file on it (DIB's
            # image on its tmpfs): retried once the loops are gone.
            busy.append(point)
    for dev in partmap.release_loops(loops):
        done.append('detach %s' % dev)
    for point in busy:
        if not _umount(point, run):
            # Still busy: detach lazily so the tree can be released.
            _umount(point, run, lazy=True)
        done.append('umount %s' % point)
    for item in done:
        LOG.warning('cleaned up after DIB: %s', item)
    return done


def remove_tree(prefix):
    """rm -r prefix, but never through a mount point left inside it."""
    if not os.path.exists(prefix):
        return
    left = mounts_under(prefix)
    if left:
        raise RuntimeError('still mounted under %s: %s'
                           % (prefix, ', '.join(left)))
    subprocess.run(['rm', '-rf', '--one-file-system', prefix], check=True)
