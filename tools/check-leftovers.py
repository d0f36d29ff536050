#!/usr/bin/env python3
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

"""Run a test command, then fail if something it started still runs.

    tools/check-leftovers.py COMMAND [ARG...]

Takes a snapshot of processes and loop devices, runs COMMAND with
TIB_RUN_ID set to a fresh token, and once it has ended (also when it
failed or was interrupted) lists what is new since the snapshot:

* processes carrying this run's TIB_RUN_ID (every process the run
  started inherits it, detached services included), and processes of the
  kinds tests start, by name: minicloud's MariaDB and gunicorns, RabbitMQ
  (beam.smp, epmd), qemu; a process that carries another run's token is
  someone else's;
* loop devices whose backing file is under the test directories.

Things that were there before the run are never counted, so a cloud a
developer keeps up is fine. Leftovers get a short grace period (a reaper
may still be stopping a cloud), then are printed and the exit status is
3; otherwise it is COMMAND's. Standard library only.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = 'TIB_RUN_ID'
# comm (or argv[0]'s basename) of what tests start; gunicorn shows up as
# its interpreter with the title minicloud gives it, hence the cmdline.
NAMES = re.compile(r'^(mariadbd|mysqld|gunicorn|beam\.smp|epmd|'
                   r'erl_child_setup|rabbitmq-server|qemu-system-.*|'
                   r'qemu-kvm|qemu-nbd)$')
CMDLINE = re.compile(r'minicloud-|cloud_fixture\.py reap')
GRACE = float(os.environ.get('TIB_LEFTOVER_GRACE', '30'))
LEFTOVERS = 3


def loop_roots():
    env = os.environ.get
    return [TOP + '/',
            env('TIB_FUNCTIONAL_DIR', '/var/tmp/trove-image-builder-tests'),
            env('TIB_FUNCTIONAL_CACHE', '/var/cache/trove-image-builder'),
            '/var/lib/trove-image-builder/']


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return b''


def processes():
    """{(pid, starttime): (state, comm, cmdline, run id)}."""
    out = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        stat = _read('/proc/%s/stat' % entry).decode(errors='replace')
        if not stat:
            continue
        comm = stat[stat.index('(') + 1:stat.rindex(')')]
        fields = stat[stat.rindex(')') + 2:].split()
        argv = _read('/proc/%s/cmdline' % entry).split(b'\0')
        cmd = b' '.join(argv).decode(errors='replace').strip()
        run_id = None
        for var in _read('/proc/%s/environ' % entry).split(b'\0'):
            if var.startswith(MARKER.encode() + b'='):
                run_id = var.split(b'=', 1)[1].decode(errors='replace')
        out[(int(entry), int(fields[19]))] = (
            fields[0], comm, cmd, run_id,
            os.path.basename(argv[0].decode(errors='replace')))
    return out


def loops():
    """{(device, backing file)} of the loop devices in use."""
    try:
        res = subprocess.run(['losetup', '--json', '--list', '-O',
                              'NAME,BACK-FILE'], capture_output=True,
                             text=True)
    except FileNotFoundError:
        return set()
    if res.returncode or not res.stdout.strip():
        return set()
    return {(d['name'], d.get('back-file') or '')
            for d in json.loads(res.stdout).get('loopdevices', [])}


def snapshot():
    return set(processes()), loops()


def _ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        stat = _read('/proc/%d/stat' % pid).decode()
        if not stat:
            break
        pid = int(stat[stat.rindex(')') + 2:].split()[1])
    return pids


def leftovers(before, run_id):
    """Lines describing what is new since `before` and still there."""
    old_procs, old_loops = before
    mine = _ancestors()
    found = []
    for key, (state, comm, cmd, rid, argv0) in sorted(processes().items()):
        if key in old_procs or key[0] in mine or state in ('Z', 'X'):
            continue
        ours = rid == run_id
        kind = (NAMES.match(comm) or NAMES.match(argv0)
                or CMDLINE.search(cmd))
        if ours or (kind and rid is None):
            found.append('process %d (%s): %s' % (key[0], comm, cmd[:200]))
    roots = loop_roots()
    for dev, back in sorted(loops() - old_loops):
        if any(back.startswith(r) for r in roots):
            found.append('loop device %s on %s' % (dev, back))
    return found


def check(before, run_id, grace=GRACE):
    """What is left once the grace period is over, or [] sooner.

    [] needs two looks in a row that found nothing: a process caught
    inside execve() shows an empty environment for a moment, so one clean
    look can miss it.
    """
    deadline = time.monotonic() + grace
    clean = 0
    while True:
        found = leftovers(before, run_id)
        clean = 0 if found else clean + 1
        if clean >= 2 or (found and time.monotonic() > deadline):
            return found
        time.sleep(0.5 if clean else 1)


def main(argv):
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__.strip())
        return 0 if argv else 2
    run_id = uuid.uuid4().hex
    before = snapshot()
    env = dict(os.environ, **{MARKER: run_id})
    # Ctrl-C reaches the command too (same process group): let it end,
    # then still check.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        rc = subprocess.call(argv, env=env,
                             preexec_fn=lambda: signal.signal(
                                 signal.SIGINT, signal.SIG_DFL))
    except FileNotFoundError as exc:
        print('check-leftovers: %s' % exc, file=sys.stderr)
        return 127
    found = check(before, run_id)
    if found:
        print('check-leftovers: the run left %d thing(s) running:\n  %s'
              % (len(found), '\n  '.join(found)), file=sys.stderr)
        return LEFTOVERS
    print('check-leftovers: nothing the run started is still running',
          file=sys.stderr)
    return rc if rc >= 0 else 128 - rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
