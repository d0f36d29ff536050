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

"""Who takes a test cloud down (integration/cloud_fixture.py).

The test process is a child Python here, ended the ways a stestr worker
ends: normally, with a failing test, by os._exit, by SIGTERM and SIGKILL
(what tox escalates an interrupt to). The cloud is a stand-in of
`sleep` processes recorded in a minicloud work directory's PID files,
which is all `MiniCloud.down()` looks at: seconds, not minutes.
"""

import json
import os
import signal
import subprocess
import sys
import time

import fixtures
import testtools

from integration import cloud_fixture
from integration import cloud_proc
from integration import minicloud

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# The "test process": claims the cloud like shared_cloud() does, starts
# the stand-in services, says so, then ends as told once told to go.
OWNER = '''
import os, signal, sys, time
sys.path.insert(0, %(top)r)
from integration import cloud_fixture, cloud_proc, minicloud
workdir, how = sys.argv[1], sys.argv[2]
cloud = minicloud.MiniCloud(workdir)
claim = cloud_fixture.claim(cloud)
for name in cloud.services:
    if not cloud_proc.running(cloud.lay.pid(name)):
        cloud_proc.launch(['sleep', '600'], cloud.lay.log(name),
                          cloud.lay.pid(name))
print('owner' if claim else 'user', flush=True)
sys.stdin.readline()
if how == 'fail':
    raise AssertionError('a failing test')
if how == 'os_exit':
    os._exit(1)
if how in ('SIGTERM', 'SIGKILL'):
    time.sleep(600)
'''


class CloudOwnerTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.workdir = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(self.workdir, 'state.json'), 'w') as f:
            json.dump({'ports': minicloud.DEFAULT_PORTS}, f)
        for sub in ('run', 'log'):
            os.makedirs(os.path.join(self.workdir, sub))
        self.cloud = minicloud.MiniCloud(self.workdir)
        # Whatever the test's outcome, nothing stays up.
        self.addCleanup(self.cloud.down)
        self.useFixture(fixtures.EnvironmentVariable('TIB_KEEP_CLOUD'))

    def running(self):
        return [n for n in self.cloud.services
                if cloud_proc.running(self.cloud.lay.pid(n))]

    def owner_process(self, how, env=None):
        proc = subprocess.Popen(
            [sys.executable, '-c', OWNER % {'top': TOP}, self.workdir, how],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, **(env or {})))
        role = proc.stdout.readline().strip()
        return proc, role

    def wait_down(self, timeout=30):
        """What still runs once the reaper is done (or timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (
                self.running() or cloud_fixture.read_owner(self.workdir)):
            time.sleep(0.2)
        return self.running()

    def assertTakenDown(self, how):
        proc, role = self.owner_process(how)
        self.assertEqual('owner', role, proc.stderr.read()
                         if proc.poll() is not None else '')
        self.assertEqual(list(self.cloud.services), self.running())
        owner = cloud_fixture.read_owner(self.workdir)
        self.assertEqual(proc.pid, owner['pid'])
        if how.startswith('SIG'):
            proc.send_signal(getattr(signal, how))
        proc.communicate('go\n', timeout=60)
        # the reaper needs a moment after an abrupt end
        self.assertEqual([], self.wait_down())
        self.assertIsNone(cloud_fixture.read_owner(self.workdir))
        # the reaper itself ends too (it may still be on its way out)
        deadline = time.monotonic() + 10
        while (cloud_fixture.owner_alive(owner)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        self.assertFalse(cloud_fixture.owner_alive(owner))

    def test_normal_exit_waits_for_the_cloud_to_be_down(self):
        proc, role = self.owner_process('exit')
        self.assertEqual('owner', role)
        proc.communicate('go\n', timeout=60)
        # no waiting here: down before the test process has ended
        self.assertEqual([], self.running())
        self.assertIsNone(cloud_fixture.read_owner(self.workdir))

    def test_failing_test_process(self):
        self.assertTakenDown('fail')

    def test_os_exit(self):
        self.assertTakenDown('os_exit')

    def test_sigterm(self):
        self.assertTakenDown('SIGTERM')

    def test_sigkill(self):
        self.assertTakenDown('SIGKILL')

    def test_cloud_started_by_hand_is_left_alone(self):
        for name in self.cloud.services:
            cloud_proc.launch(['sleep', '600'], self.cloud.lay.log(name),
                              self.cloud.lay.pid(name))
        proc, role = self.owner_process('exit')
        proc.communicate('go\n', timeout=60)
        self.assertEqual('user', role)
        self.assertEqual(list(self.cloud.services), self.running())

    def test_keep_cloud(self):
        proc, role = self.owner_process('exit', {'TIB_KEEP_CLOUD': '1'})
        proc.communicate('go\n', timeout=60)
        self.assertEqual('user', role)
        self.assertEqual(list(self.cloud.services), self.running())
        # and the next run does not take it for its own either
        proc, role = self.owner_process('exit')
        proc.communicate('go\n', timeout=60)
        self.assertEqual('user', role)
        self.assertEqual(list(self.cloud.services), self.running())

    def test_cloud_left_by_a_run_whose_reaper_died_is_adopted(self):
        for name in self.cloud.services:
            cloud_proc.launch(['sleep', '600'], self.cloud.lay.log(name),
                              self.cloud.lay.pid(name))
        with open(os.path.join(self.workdir, 'run', 'owner.json'),
                  'w') as f:
            json.dump({'pid': 2 ** 22 + 1, 'start': 1,
                       'reaper': 2 ** 22 + 2, 'reaper_start': 1}, f)
        self.assertTakenDown('exit')
