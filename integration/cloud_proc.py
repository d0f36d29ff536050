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

"""Detached service processes, tracked by PID file and start time.

Every service runs in its own session (process group), detached from
whoever started it, so `minicloud up` returns and a later `down` from
another shell can find and stop it.  A PID file holds the PID and the
process start time: a recycled PID never matches both.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

# Runs in a throw-away interpreter: starts the service in a new session
# and exits at once, so the service is reparented to init (which reaps
# it) and never becomes a zombie of a long-lived caller such as a test
# runner.
_LAUNCHER = '''
import subprocess, sys
log = open(sys.argv[1], "ab")
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True)
print(child.pid)
'''


def _stat(pid):
    """(state, pgrp, starttime) of a process, or None if it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses: split after it.
    fields = data[data.rindex(')') + 2:].split()
    return fields[0], int(fields[2]), int(fields[19])


def launch(argv, log_path, pid_path, env=None, cwd=None):
    """Start argv detached, output appended to log_path; return its PID."""
    out = subprocess.run(
        [sys.executable, '-I', '-c', _LAUNCHER, log_path] + list(argv),
        env=env, cwd=cwd, check=True, stdout=subprocess.PIPE)
    pid = int(out.stdout.decode().strip())
    st = _stat(pid)
    start = st[2] if st else 0
    tmp = pid_path + '.tmp'
    with open(tmp, 'w') as f:
        f.write('%d %d\n' % (pid, start))
    os.replace(tmp, pid_path)
    return pid


def running(pid_path):
    """The PID recorded in pid_path if that very process still runs."""
    try:
        with open(pid_path) as f:
            pid, start = (int(x) for x in f.read().split())
    except (FileNotFoundError, ValueError):
        return None
    st = _stat(pid)
    if st is None or st[0] == 'Z' or st[2] != start:
        return None
    return pid


def group_members(pgid, zombies=False):
    """PIDs in a process group (the service and its workers)."""
    members = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        st = _stat(int(entry))
        if st and st[1] == pgid and (zombies or st[0] != 'Z'):
            members.append(int(entry))
    return members


def stop(pid_path, timeout=30):
    """Stop the service behind pid_path (TERM, then KILL); True if it ran."""
    pid = running(pid_path)
    if pid is None:
        _unlink(pid_path)
        return False
    # launch() made the service a session leader, so its PID is also the
    # group ID: signalling the group reaches gunicorn's workers too.
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while group_members(pid):
        if time.monotonic() > deadline:
            _signal_group(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
        time.sleep(0.1)
    # The services are orphans, reaped by init on its own schedule (about
    # a second here): wait for that too, so `ps` after a stop is clean.
    deadline = time.monotonic() + 10
    while group_members(pid, zombies=True) and time.monotonic() < deadline:
        time.sleep(0.1)
    _unlink(pid_path)
    return True


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def http_answers(url, timeout=5):
    """True when url gives any HTTP answer below 500."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, urllib.error.URLError):
        return False


def port_open(port, host='127.0.0.1'):
    """True when something accepts TCP connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def memory_kib(pids):
    """Proportional set size (shared pages split fairly) of pids, KiB."""
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/smaps_rollup' % pid) as f:
                for line in f:
                    if line.startswith('Pss:'):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def tail(path, lines=25):
    """The last lines of a log, for error messages."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors='replace')
    except OSError:
        return ''
    return '\n'.join(text.splitlines()[-lines:])
