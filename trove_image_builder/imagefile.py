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

"""Image files: qemu-img (the one tool every step reads them with), the
checks every step makes of a file before it trusts it, and the block size
they are read and hashed in."""

import json
import os
import resource
import subprocess

from trove_image_builder import errors

# Image files are read, hashed, downloaded and uploaded in blocks of this
# size: large enough for throughput, small enough to never matter in
# memory.
CHUNK = 4 * 1024 * 1024


# Images, their manifests and logs: root and its group only. A build log
# or manifest can name a private index or mirror; an image can hold what
# the build put in it.
FILE_MODE = 0o640


def open_private(path, mode='w', **kwargs):
    """open() for a file written FILE_MODE, even when it already exists."""
    f = open(path, mode, opener=lambda p, flags: os.open(
        p, flags | os.O_CLOEXEC, FILE_MODE), **kwargs)
    os.fchmod(f.fileno(), FILE_MODE)
    return f


# qemu-img's names for formats Glance names otherwise.
GLANCE_NAMES = {'vpc': 'vhd'}


def glance_format(qemu_format):
    """Glance's disk_format for a format qemu-img names."""
    return GLANCE_NAMES.get(qemu_format, qemu_format)


def qemu_format(name):
    """qemu-img's name for a format given either way (vhd: vpc)."""
    for qemu, glance in GLANCE_NAMES.items():
        if name == glance:
            return qemu
    return name


# Formats an image may have. Others (qed, vvfat, luks, dmg, ...) are not
# Trove guest images and some of them can point at host files.
FORMATS = ('raw', 'qcow2', 'vmdk', 'vpc', 'vhdx', 'vdi')

# qemu-img parses untrusted files: QEMU's own advice (docs/system/
# images, "qemu-img info") is to cap its memory and CPU time, as Nova and
# Glance do with the same numbers.
LIMIT_ADDRESS_SPACE = 1024 * 2 ** 20
LIMIT_CPU_SECONDS = 30
# Wall clock for one qemu-img run (a file on a stalled NFS, a huge table).
TIMEOUT = 120


def _limit():
    """preexec_fn: the limits above for the child only."""
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_ADDRESS_SPACE,
                                            LIMIT_ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CPU, (LIMIT_CPU_SECONDS,
                                             LIMIT_CPU_SECONDS))


def run(*args, timeout=TIMEOUT):
    """qemu-img ARGS, output captured, limited in memory, CPU and time.

    A missing qemu-img is a host error; a run past timeout is an input
    error (the file makes qemu-img work too hard).
    """
    argv = ('qemu-img',) + args
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout,
                              preexec_fn=_limit)
    except subprocess.TimeoutExpired:
        raise errors.InputError('qemu-img %s did not finish in %d seconds: '
                                '%s' % (args[0], timeout, args[-1]))
    except OSError as exc:
        raise errors.HostError('qemu-img not runnable (apt-get install '
                               'qemu-utils): %s' % exc)


def last_line(text):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else 'no details'


def info(path, error=errors.InputError):
    """`qemu-img info` of path as a dict; failures raise error."""
    # --force-share: an image a verify is booting can still be read.
    res = run('info', '--force-share', '--output', 'json', path)
    if res.returncode != 0:
        raise error('qemu-img cannot read %s: %s'
                    % (path, last_line(res.stderr)))
    try:
        return json.loads(res.stdout)
    except ValueError:
        raise error('qemu-img info gave no JSON for %s' % path)


def check_file(path, declared_format):
    """Exists, readable, self-contained, of the declared format.

    The one check every step (verify, load, fetch, deploy) makes before
    qemu opens the file or a byte of it is uploaded. Returns the format
    qemu-img found (probed, never taken from the caller). For qcow2,
    `qemu-img check` also walks the metadata (cheap: tables, not data) to
    catch corruption.
    """
    if not os.path.exists(path):
        raise errors.InputError('image not found: %s' % path)
    if not os.path.isfile(path):
        raise errors.InputError('not a regular file: %s' % path)
    try:
        with open(path, 'rb') as f:
            f.read(1)
    except OSError as exc:
        raise errors.InputError('image not readable: %s: %s'
                                % (path, exc.strerror))
    facts = info(path)
    found = facts.get('format')
    refuse_external(path, facts)
    if declared_format and found != declared_format:
        raise errors.InputError('format mismatch: %s is %s, its manifest '
                                'or --disk-format says %s'
                                % (path, found, declared_format))
    if found not in FORMATS:
        raise errors.InputError('%s is a %s image: only %s are accepted'
                                % (path, found, ', '.join(FORMATS)))
    if found == 'qcow2':
        res = run('check', '--force-share', '-q', path)
        # 1: corruption, 2: check not completed, 3: leaks only (harmless)
        if res.returncode in (1, 2):
            raise errors.InputError('corrupt qcow2 image %s: %s'
                                    % (path, last_line(
                                        res.stderr + res.stdout)))
    return found


def refuse_external(path, facts):
    """Refuse an image that makes qemu read any file but itself.

    A backing file, a qcow2 external data file or a VMDK extent elsewhere
    would hand a host file (even /etc/shadow or a block device) to the
    guest, or to Glance, as the image's content.
    """
    backing = facts.get('full-backing-filename') or facts.get(
        'backing-filename')
    if backing:
        raise errors.InputError('%s has a backing file (%s): only '
                                'self-contained images are accepted'
                                % (path, backing))
    data = (facts.get('format-specific') or {}).get('data') or {}
    if data.get('data-file'):
        raise errors.InputError('%s has an external data file (%s): only '
                                'self-contained images are accepted'
                                % (path, data['data-file']))
    own = os.path.realpath(path)
    for extent in data.get('extents') or ():
        name = extent.get('filename')
        if name and os.path.realpath(name) != own:
            raise errors.InputError('%s has an extent in another file (%s): '
                                    'only self-contained images are '
                                    'accepted' % (path, name))
