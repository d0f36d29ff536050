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

"""tools/check-leftovers.py, the end of the test command, fails a run
that leaves a cloud, a broker or a qemu behind.

The "leftovers" are `sleep` processes under the names the check looks
for (argv[0] set by bash's `exec -a`), detached like real services.
"""

import importlib.util
import os
import re
import signal
import subprocess
from unittest import mock

import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CHECK = os.path.join(TOP, 'tools', 'check-leftovers.py')


def detached(argv0):
    """A shell line that leaves `sleep` running as argv0, detached."""
    return ('setsid bash -c "exec -a %s sleep 300" '
            '</dev/null >/dev/null 2>&1 &' % argv0)


def load_check():
    spec = importlib.util.spec_from_file_location('check_leftovers', CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CheckLeftoversTest(testtools.TestCase):

    def run_check(self, script, env=None):
        res = subprocess.run(
            [CHECK, 'bash', '-c', script], capture_output=True, text=True,
            env=dict(os.environ, TIB_LEFTOVER_GRACE='1', **(env or {})))
        for pid in re.findall(r'process (\d+) ', res.stderr):
            self.addCleanup(self.kill, int(pid))
        return res

    def kill(self, pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def test_clean_run_keeps_the_command_status(self):
        self.assertEqual(0, self.run_check('true').returncode)
        self.assertEqual(5, self.run_check('exit 5').returncode)

    def test_leftover_broker_qemu_and_cloud_fail_the_run(self):
        names = ('epmd', 'beam.smp', 'qemu-system-x86_64', 'mariadbd')
        res = self.run_check(' '.join(detached(n) for n in names))
        self.assertEqual(3, res.returncode, res.stderr)
        for name in names:
            self.assertIn('): %s 300' % name, res.stderr)

    def test_any_process_carrying_the_run_token_fails_the_run(self):
        res = self.run_check(detached('some-daemon'))
        self.assertEqual(3, res.returncode, res.stderr)
        self.assertIn('some-daemon 300', res.stderr)

    def test_what_ran_before_is_not_a_leftover(self):
        before = subprocess.Popen(['bash', '-c', 'exec -a epmd sleep 300'],
                                  start_new_session=True)
        self.addCleanup(before.wait)
        self.addCleanup(before.kill)
        res = self.run_check('true')
        self.assertEqual(0, res.returncode, res.stderr)

    def test_one_clean_look_is_not_enough(self):
        # A process inside execve() shows no environment for a moment:
        # the first look misses it, the next one must still count it.
        module = load_check()
        looks = [[], ['process 7 (x): x'], ['process 7 (x): x']]
        with mock.patch.object(module, 'leftovers',
                               side_effect=lambda *a: looks.pop(0)), \
                mock.patch.object(module.time, 'sleep'):
            self.assertEqual(['process 7 (x): x'],
                             module.check(None, 'run', grace=0))

    def test_two_clean_looks_end_the_check(self):
        module = load_check()
        with mock.patch.object(module, 'leftovers',
                               return_value=[]) as looks, \
                mock.patch.object(module.time, 'sleep'):
            self.assertEqual([], module.check(None, 'run', grace=30))
        self.assertEqual(2, looks.call_count)
