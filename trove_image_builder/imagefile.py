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
import subprocess

from trove_image_builder import errors

# Image files are read, hashed, downloaded and uploaded in blocks of this
# size: large enough for throughput, small enough to never matter in
# memory.
CHUNK = 4 * 1024 * 1024


def run(*args):
    """qemu-img ARGS, output captured; a missing qemu-img is a host error."""
    try:
        return subprocess.run(('qemu-img',) + args, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise errors.HostError('qemu-img not runnable (apt-get install '
                               'qemu-utils): %s' % exc)


def last_line(text):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else 'no details'


def info(path, error=errors.InputError):
    """`qemu-img info` of path as a dict; failures raise error."""
    res = run('info', '--output', 'json', path)
    if res.returncode != 0:
        raise error('qemu-img cannot read %s: %s'
                    % (path, last_line(res.stderr)))
    try:
        return json.loads(res.stdout)
    except ValueError:
        raise error('qemu-img info gave no JSON for %s' % path)


def check_file(path, declared_format):
    """Exists, readable, and qemu-img agrees with the declared format.

    Returns the format qemu-img found. For qcow2, `qemu-img check` also
    walks the metadata (cheap: tables, not data) to catch corruption.
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
    found = info(path).get('format')
    if declared_format and found != declared_format:
        raise errors.InputError('format mismatch: %s is %s, its manifest '
                                'or --disk-format says %s'
                                % (path, found, declared_format))
    if found == 'qcow2':
        res = run('check', '-q', path)
        # 1: corruption, 2: check not completed, 3: leaks only (harmless)
        if res.returncode in (1, 2):
            raise errors.InputError('corrupt qcow2 image %s: %s'
                                    % (path, last_line(
                                        res.stderr + res.stdout)))
    return found
