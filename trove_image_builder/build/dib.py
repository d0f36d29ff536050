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

"""One disk-image-create invocation: argv + env as a single object.

The object is built once; ``shell()`` shows exactly what ``run()`` runs.
"""

import collections
import dataclasses
import os
import re
import shlex
import signal
import subprocess
import threading

from trove_image_builder import conf as conf_mod
from trove_image_builder import errors
from trove_image_builder import redact
from trove_image_builder import signals

# DIB announces host-side phases ("Running hooks from .../root.d");
# in the chroot, dib-run-parts names each script ("Running .../install.d/x").
_PHASE = re.compile(r'Running hooks from \S*/([\w-]+)\.d\s*$'
                    r'|dib-run-parts Running \S*/([\w-]+)\.d/')
_CONVERT = re.compile(r'Converting image using qemu-img convert')
TAIL_LINES = 15


@dataclasses.dataclass(frozen=True)
class Command:
    argv: tuple
    # Only the variables this tool sets; the process gets them on top of a
    # copy of the caller's environment (os.environ is never modified).
    env: dict

    def full_env(self, base=None):
        merged = dict(os.environ if base is None else base)
        merged.update(self.env)
        return merged

    def shell(self):
        """The exact command, shell-quoted, secrets masked."""
        assigns = ['%s=%s' % (k, shlex.quote(redact.url(v)))
                   for k, v in sorted(self.env.items())]
        return ' '.join(['env'] + assigns + [shlex.quote(a)
                                             for a in self.argv])

    def run(self, log_path, on_phase=None,
            stop_timeout=conf_mod.default('dib.stop_timeout'),
            timeout=conf_mod.default('dib.timeout'), on_stop=None):
        """Run, streaming output to log_path; raise BuildFailed on error.

        SIGINT/SIGTERM stop DIB's whole process group (DIB runs its own
        cleanup traps on SIGTERM) and raise Interrupted. A run longer
        than timeout seconds is stopped the same way and fails.
        on_stop() is called once, before DIB is told to stop.
        """
        tail = collections.deque(maxlen=TAIL_LINES)
        caught = []
        last_phase = [None]
        expired = threading.Event()

        stopping = []

        def _stopping():
            if on_stop and not stopping:
                stopping.append(True)
                on_stop()

        def _expire():
            if proc.poll() is None:
                expired.set()
                _stopping()
                signals.to_group(proc, signal.SIGTERM)

        def _on_signal(signum, frame):
            caught.append(signum)
            _stopping()
            # A second signal means "now": no more waiting for cleanup.
            signals.to_group(proc, signal.SIGTERM if len(caught) == 1
                             else signal.SIGKILL)

        with open(log_path, 'ab', buffering=0) as log:
            log.write(('$ %s\n' % self.shell()).encode())
            proc = subprocess.Popen(
                self.argv, env=self.full_env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True)
            watchdog_proc = signals.watch_group(proc, stop_timeout)
            # Fires in a thread: DIB's output may stop, so the loop below
            # cannot be the one to notice.
            watchdog = threading.Timer(timeout, _expire)
            watchdog.daemon = True
            watchdog.start()
            with signals.handled(_on_signal):
                try:
                    for raw in proc.stdout:
                        log.write(raw)
                        line = raw.decode('utf-8', 'replace').rstrip()
                        tail.append(line)
                        phase = parse_phase(line)
                        if phase and phase != last_phase[0]:
                            last_phase[0] = phase
                            if on_phase and not caught:
                                on_phase(phase)
                    rc = signals.wait_or_kill(
                        proc, stop_timeout if caught or expired.is_set()
                        else None)
                finally:
                    watchdog.cancel()
                    signals.stop_group(proc, stop_timeout)
                    signals.unwatch(watchdog_proc)
        if caught:
            raise errors.Interrupted(
                'interrupted by %s; DIB stopped, see %s'
                % (signal.Signals(caught[0]).name, log_path))
        if expired.is_set():
            raise errors.BuildFailed(
                'disk-image-create ran longer than %d seconds ([dib] '
                'timeout) and was stopped; log: %s' % (timeout, log_path),
                log_path=log_path, tail=tail)
        if rc != 0:
            raise errors.BuildFailed(
                'disk-image-create failed with exit code %d; log: %s'
                % (rc, log_path), log_path=log_path, tail=tail)


def parse_phase(line):
    match = _PHASE.search(line)
    if match:
        return match.group(1) or match.group(2)
    if _CONVERT.search(line):
        return 'convert'
    return None
