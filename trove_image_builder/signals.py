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

"""SIGINT and SIGTERM: the one place handlers are installed and removed.

DIB and qemu run in sessions of their own, so a Ctrl-C on the terminal
reaches only this tool; it then stops their whole process group.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading

from trove_image_builder import errors

STOP = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1
# Runs beside a child (DIB, a wheel fill), in a session of its own,
# holding the read end of a pipe whose write end only this tool holds.
# When this tool ends without saying "done" (even by SIGKILL, which no
# handler sees), the read returns and the child's whole process group
# is stopped as on Ctrl-C: SIGTERM (DIB's cleanup traps), then SIGKILL
# after the grace period.
_WATCHDOG = '''
import os, signal, sys, time
group, grace = int(sys.argv[1]), float(sys.argv[2])
if sys.stdin.buffer.read() == b'done':
    sys.exit(0)


def send(signum):
    try:
        os.killpg(group, signum)
        return True
    except ProcessLookupError:
        return False


deadline = time.monotonic() + grace
if send(signal.SIGTERM):
    while time.monotonic() < deadline and send(0):
        time.sleep(0.2)
    send(signal.SIGKILL)
'''


@contextlib.contextmanager
def handled(handler, signums=STOP):
    """Run handler(signum, frame) for signums inside the block.

    The previous handlers come back on the way out. Python takes
    handlers only in the main thread: elsewhere nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, previous in old.items():
            signal.signal(s, previous)


def interrupting(suffix='', signums=STOP, once=False):
    """A block in which signums raise Interrupted, so every `with` unwinds.

    The message is "interrupted by SIGNAME" plus suffix. With once, the
    first signal also ignores any later one: the cleanup that follows
    gets to finish.
    """
    def _raise(signum, frame):
        if once:
            for s in signums:
                signal.signal(s, signal.SIG_IGN)
        raise errors.Interrupted('interrupted by %s%s'
                                 % (signal.Signals(signum).name, suffix))

    return handled(_raise, signums)


def to_group(proc, signum):
    """Send signum to proc's whole process group, if it still exists."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def die_with_parent():
    """preexec_fn: the kernel kills the child if this process dies.

    Covers what no handler can: this tool killed outright (SIGKILL).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def wait_or_kill(proc, timeout):
    """proc's exit code; its whole group is killed once timeout runs out."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        to_group(proc, signal.SIGKILL)
        return proc.wait()


def stop_group(proc, grace, signum=signal.SIGTERM):
    """Stop proc's group: signum, then SIGKILL after grace; the exit code."""
    if proc.poll() is None:
        to_group(proc, signum)
    return wait_or_kill(proc, grace)


def watch_group(proc, grace):
    """Start the watchdog for proc's process group (see _WATCHDOG).

    proc must lead a session of its own (start_new_session=True).
    """
    return subprocess.Popen(
        [sys.executable, '-I', '-c', _WATCHDOG, str(proc.pid), str(grace)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)


def unwatch(watchdog):
    """The child is done: its watchdog ends without touching anything."""
    try:
        watchdog.stdin.write(b'done')
        watchdog.stdin.close()
    except OSError:
        pass
    try:
        watchdog.wait(timeout=10)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()
