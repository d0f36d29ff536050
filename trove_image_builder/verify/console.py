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

"""The guest's serial console: follow the log file, recognise its events.

qemu writes the first serial port to a file; verify follows that file
as it grows. Besides a few kernel milestones, the lines that matter are
markers the seed's check script prints:

    TIB-VERIFY <nonce> <check> ok|fail <detail>
    TIB-VERIFY <nonce> image <image id> <repository:tag>
    TIB-VERIFY <nonce> images-end <detail>
    TIB-VERIFY <nonce> done

The nonce is fresh for every run, so neither an old log nor anything
else on the console can pass for this guest's answer.
"""

import collections
import dataclasses
import os
import re

MARKER = 'TIB-VERIFY'
TAIL_LINES = 15
_ANSI = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]')
# The kernel started (printed as soon as the serial console registers).
_KERNEL = re.compile(r'Linux version (\S+)')
# The kernel handed over to userspace: the boot got past the point where
# broken (software) KVMs hang.
_USERSPACE = re.compile(r'Run /\S+ as init process|systemd\[1\]: |'
                        r'Welcome to ')
_PANIC = re.compile(r'Kernel panic - not syncing: ?(.*)')


@dataclasses.dataclass(frozen=True)
class Event:
    """One recognised console line.

    kind is 'kernel', 'userspace', 'panic' or 'marker'; for markers,
    name is the check (or image, images-end, done) and ok its verdict.
    """

    kind: str
    name: str = None
    ok: bool = None
    detail: str = ''


def clean(raw):
    """Bytes of one console line -> printable text."""
    text = raw.decode('utf-8', 'replace')
    text = _ANSI.sub('', text).replace('\r', '')
    return ''.join(c for c in text if c.isprintable() or c == '\t').strip()


def parse(line, nonce):
    """The Event on line, or None."""
    if MARKER in line:
        return _parse_marker(line, nonce)
    match = _KERNEL.search(line)
    if match:
        return Event('kernel', detail=match.group(1))
    match = _PANIC.search(line)
    if match:
        return Event('panic', detail=match.group(1).strip())
    if _USERSPACE.search(line):
        return Event('userspace')
    return None


def _parse_marker(line, nonce):
    words = line[line.index(MARKER):].split(None, 4)
    if len(words) < 3 or words[1] != nonce:
        return None
    name = words[2]
    rest = words[3:]
    if name in ('image', 'images-end', 'done'):
        return Event('marker', name=name, detail=' '.join(rest))
    if not rest or rest[0] not in ('ok', 'fail'):
        return None
    return Event('marker', name=name, ok=rest[0] == 'ok',
                 detail=rest[1] if len(rest) > 1 else '')


class Follower:
    """Reads the lines a growing file gains, a complete line at a time."""

    def __init__(self, path, tail_lines=TAIL_LINES):
        self.path = path
        self._offset = 0
        self._partial = b''
        self.tail = collections.deque(maxlen=tail_lines)

    def read_lines(self):
        """New complete lines since the last call (text, cleaned)."""
        try:
            with open(self.path, 'rb') as f:
                if os.fstat(f.fileno()).st_size < self._offset:
                    # Truncated: a new run writes the file afresh.
                    self._offset, self._partial = 0, b''
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        chunks = (self._partial + data).split(b'\n')
        self._partial = chunks.pop()
        lines = [clean(c) for c in chunks]
        lines = [line for line in lines if line]
        self.tail.extend(lines)
        return lines

    def last_lines(self):
        """The last lines seen, including an unfinished one."""
        lines = list(self.tail)
        rest = clean(self._partial)
        if rest:
            lines.append(rest)
        return lines[-self.tail.maxlen:]
