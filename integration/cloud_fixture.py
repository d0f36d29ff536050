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

"""One minicloud per test run, shared by the integration and devstack tests.

`shared_cloud()` brings a minicloud up on first use in a test process and
returns the same object afterwards. The run that starts a cloud owns it
and takes it down when the run ends, however it ends; a cloud that
already ran before is used and left alone; TIB_KEEP_CLOUD=1 keeps even
one this run started.

Why not an atexit hook that calls `MiniCloud.down()`: stestr's worker
calls atexit hooks only after the interpreter has started to shut down,
when concurrent.futures refuses new work, so `down()` raised
"cannot schedule new futures after interpreter shutdown" (printed as
"Exception ignored in atexit callback" and lost in the test output); and
atexit never runs at all when tox escalates an interrupt to SIGTERM or
SIGKILL. So the teardown lives in a reaper: a small process of its own
session, started with the cloud, that holds the read end of a pipe
whose only write end is the test process's. When the test process ends
by any means the kernel closes that end, and the reaper runs
`minicloud down` in a live interpreter. On a normal exit the test
process closes the pipe itself and waits until the reaper is done, so
the cloud is down before the test command returns.

WORKDIR/run/owner.json names the owning test process and its reaper. A
cloud found running with an owner that is gone (a reaper that died too,
say the machine was reset) was left by an earlier run and is adopted;
one running with no owner was started by hand and is not ours to stop.
"""

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import time

if __package__:
    from . import cloud_proc
    from . import minicloud
else:  # run as the reaper script: the siblings are on sys.path[0]
    import cloud_proc
    import minicloud

HERE = os.path.dirname(os.path.abspath(__file__))
# How long a normally ending test process waits for the reaper's `down`
# (about 5 s for a whole cloud; MariaDB's shutdown can be slower).
DOWN_TIMEOUT = 300

_CLOUDS = {}


def _owner_path(workdir):
    return os.path.join(workdir, 'run', 'owner.json')


def _alive(pid, start):
    """True while the very process (PID and start time) still runs."""
    st = cloud_proc._stat(pid) if pid else None
    return bool(st) and st[0] != 'Z' and st[2] == start


def _me():
    pid = os.getpid()
    return {'pid': pid, 'start': cloud_proc._stat(pid)[2]}


def read_owner(workdir):
    try:
        with open(_owner_path(workdir)) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def _write_owner(workdir, owner):
    path = _owner_path(workdir)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(owner, f)
    os.replace(path + '.tmp', path)


def _clear_owner(workdir, pid):
    """Remove owner.json if it still names pid (a later run may own it)."""
    owner = read_owner(workdir)
    if owner and owner.get('pid') == pid:
        try:
            os.unlink(_owner_path(workdir))
        except FileNotFoundError:
            pass


def any_running(cloud):
    return any(cloud_proc.running(cloud.lay.pid(name))
               for name in cloud.services)


def owner_alive(owner):
    """The owning test process or its reaper is still there."""
    return bool(owner) and (
        _alive(owner.get('pid'), owner.get('start'))
        or _alive(owner.get('reaper'), owner.get('reaper_start')))


class Claim:
    """This process owns a cloud; a reaper takes it down when we end."""

    def __init__(self, cloud):
        self.workdir = cloud.workdir
        self.compute = cloud.compute
        lifeline_r, self._lifeline = os.pipe()
        self._done, done_w = os.pipe()
        os.makedirs(os.path.join(self.workdir, 'log'), exist_ok=True)
        log = open(os.path.join(self.workdir, 'log', 'reaper.log'), 'ab')
        me = _me()
        # Own session: the terminal's Ctrl-C and tox's signals to the
        # test process do not reach it. Its output goes to a log, never
        # to the worker's stdout, which stestr reads until EOF.
        self.reaper = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'cloud_fixture.py'),
             'reap', self.workdir, str(lifeline_r), str(done_w),
             str(me['pid']), '1' if self.compute else '0'],
            pass_fds=(lifeline_r, done_w), stdin=subprocess.DEVNULL,
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        os.close(lifeline_r)
        os.close(done_w)
        rst = cloud_proc._stat(self.reaper.pid)
        _write_owner(self.workdir, dict(
            me, reaper=self.reaper.pid, reaper_start=rst[2] if rst else 0))
        atexit.register(self.release)

    def release(self):
        """Let the reaper take the cloud down now, and wait for it.

        Plain os calls only: this runs from atexit, in a shutting-down
        interpreter.
        """
        if self._lifeline is None:
            return
        os.close(self._lifeline)
        self._lifeline = None
        deadline = time.monotonic() + DOWN_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._done], [], [], 1)
            if ready and not os.read(self._done, 4096):
                break
        os.close(self._done)
        try:
            self.reaper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass                       # still stopping: it is detached


def shared_cloud(workdir=None, compute=False, ports=None):
    """The minicloud of this test run for workdir, brought up once.

    ports: fixed at first setup of a new workdir (state.json), so a cloud
    of another workdir that is down now keeps its claim on its ports.
    """
    cloud = minicloud.MiniCloud(workdir, compute=compute)
    if cloud.workdir in _CLOUDS:
        return _CLOUDS[cloud.workdir]
    state = os.path.join(cloud.workdir, 'state.json')
    if ports and not os.path.exists(state):
        os.makedirs(cloud.workdir, exist_ok=True)
        with open(state, 'w') as f:
            json.dump({'ports': ports, 'compute': bool(compute)}, f)
    claim(cloud)
    cloud.up()
    _CLOUDS[cloud.workdir] = cloud
    return cloud


def claim(cloud, keep=None):
    """Own the cloud unless someone else does; a Claim or None.

    One test process per cloud: a second one that uses the same cloud at
    the same time (stestr --concurrency above 1) does not own it, and
    loses it when the owner ends. The tox envs run one worker.
    """
    if keep is None:
        keep = bool(os.environ.get('TIB_KEEP_CLOUD'))
    owner = read_owner(cloud.workdir)
    if owner_alive(owner):
        return None                    # another test run's cloud
    if owner is None and any_running(cloud):
        return None                    # started by hand: leave it alone
    if keep:
        # Kept on purpose: no owner, so the next run leaves it alone too.
        _clear_owner(cloud.workdir, owner and owner.get('pid'))
        return None
    # Ours: down now, or left by a run whose reaper is gone too.
    return Claim(cloud)


def reap(workdir, lifeline, done, owner_pid, compute):
    """The reaper: wait for the owner's end, then take the cloud down."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            if not os.read(lifeline, 4096):
                break
        except InterruptedError:
            continue
    started = time.monotonic()
    try:
        minicloud.MiniCloud(workdir, compute=compute).down()
    finally:
        _clear_owner(workdir, owner_pid)
        print('%s: owner %d ended, cloud down in %.1f s' % (
            time.strftime('%Y-%m-%d %H:%M:%S'), owner_pid,
            time.monotonic() - started), flush=True)
        os.close(done)


if __name__ == '__main__':
    if len(sys.argv) != 7 or sys.argv[1] != 'reap':
        sys.exit('usage: cloud_fixture.py reap WORKDIR LIFELINE_FD DONE_FD '
                 'OWNER_PID COMPUTE')
    reap(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
         sys.argv[6] == '1')
