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


def _unescape(field):
    """A mountinfo path field (bytes) as the path os functions take.

    The kernel escapes blanks and backslashes as octal (\\040) and
    writes every other byte as it is: non-ASCII names are raw bytes, in
    whatever encoding they were made with.
    """
    return os.fsdecode(_OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]),
                                  field))


def mounts_under(prefix, mountinfo='/proc/self/mountinfo'):
    """Mount points at or below prefix, deepest first."""
    prefix = os.path.realpath(prefix)
    found = []
    with open(mountinfo, 'rb') as f:
        for line in f:
            point = _unescape(line.split()[4])
            if point == prefix or point.startswith(prefix + '/'):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count('/'), reverse=True)


def loop_files_under(prefix, run=subprocess.run):
    """Backing files below prefix that have a loop device attached."""
    prefix = os.path.realpath(prefix)
    out = run(['losetup', '--json', '--list', '-O', 'NAME,BACK-FILE'],
              capture_output=True, text=True, check=False).stdout
    files = set()
    for dev in (json.loads(out)['loopdevices'] if out.strip() else []):
        back = (dev.get('back-file') or '').replace(' (deleted)', '')
        if back.startswith(prefix + '/'):
            files.add(back)
    return sorted(files)


def release(prefix, run=subprocess.run):
    """Unmount and detach everything under prefix; return what was done."""
    done = []
    for point in mounts_under(prefix):
        rc = run(['umount', point], capture_output=True,
                 check=False).returncode
        if rc != 0:
            # Busy: detach lazily so the tree can still be released.
            run(['umount', '-l', point], capture_output=True, check=False)
        done.append('umount %s' % point)
    for back in loop_files_under(prefix, run=run):
        for dev in partmap.release_file(back):
            done.append('detach %s (%s)' % (dev, back))
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
