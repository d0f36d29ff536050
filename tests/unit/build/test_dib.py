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

import os
import signal
import subprocess
import sys
import threading
import time

from tests.unit import base
from trove_image_builder.build import dib
from trove_image_builder import errors


class TestCommand(base.TestCase):

    def test_shell_is_exact_and_quoted(self):
        cmd = dib.Command(argv=('/bin/dic', '-o', 'a b', 'vm'),
                          env={'DIB_X': "it's", 'A': '1'})
        self.assertEqual("env A=1 DIB_X='it'\"'\"'s' /bin/dic -o 'a b' vm",
                         cmd.shell())

    def test_shell_masks_url_passwords(self):
        cmd = dib.Command(argv=('dic',), env={
            'DIB_TROVE_PIP_INDEX_URL': 'https://u:s3cret@pypi.example/s'})
        self.assertNotIn('s3cret', cmd.shell())
        self.assertIn('https://u:***@pypi.example/s', cmd.shell())

    def test_full_env_is_a_copy(self):
        cmd = dib.Command(argv=('x',), env={'DIB_Y': '1'})
        env = cmd.full_env({'HOME': '/root'})
        self.assertEqual({'HOME': '/root', 'DIB_Y': '1'}, env)
        self.assertNotIn('DIB_Y', os.environ)

    def test_parse_phase(self):
        self.assertEqual('root', dib.parse_phase(
            '2026-01-01 00:00:00.000 | Running hooks from '
            '/tmp/dib_build.x/hooks/root.d'))
        self.assertEqual('post-install', dib.parse_phase(
            'Running hooks from /tmp/in_target.d/post-install.d'))
        self.assertEqual('convert', dib.parse_phase(
            'Converting image using qemu-img convert'))
        self.assertEqual('install', dib.parse_phase(
            'dib-run-parts Running /tmp/in_target.d/install.d/10-x'))
        self.assertIsNone(dib.parse_phase('dib-run-parts Running x'))

    def _script(self, body):
        return base.write(os.path.join(self.tmp, 'fake-dib'),
                          '#!/bin/bash\n' + body, mode=0o755)

    def test_run_streams_to_log_and_reports_phases(self):
        script = self._script(
            'echo "Running hooks from /x/root.d"\necho "$DIB_Z"\n'
            'echo "dib-run-parts Running /t/install.d/01-a"\n'
            'echo "dib-run-parts Running /t/install.d/02-b"\n')
        log = os.path.join(self.tmp, 'build.log')
        phases = []
        dib.Command(argv=(script,), env={'DIB_Z': 'hello'}).run(
            log, on_phase=phases.append)
        self.assertEqual(['root', 'install'], phases)
        with open(log) as f:
            text = f.read()
        self.assertIn('hello', text)
        self.assertIn('DIB_Z=hello', text.splitlines()[0])

    def test_failure_raises_with_code_tail_and_log(self):
        script = self._script(
            'for i in $(seq 1 40); do echo line$i; done\nexit 7\n')
        log = os.path.join(self.tmp, 'build.log')
        e = self.assertRaises(errors.BuildFailed,
                              dib.Command(argv=(script,), env={}).run, log)
        self.assertIn('exit code 7', str(e))
        self.assertIn(log, str(e))
        self.assertEqual('line40', e.tail[-1])
        self.assertEqual(dib.TAIL_LINES, len(e.tail))

    def test_timeout_stops_the_whole_run(self):
        # Silent, with a child: the watchdog, not the output, ends it.
        marker = os.path.join(self.tmp, 'child.pid')
        script = self._script('sleep 300 & echo $! > %s\nwait\n' % marker)
        log = os.path.join(self.tmp, 'build.log')
        started = time.monotonic()
        # on_stop runs once, while DIB still runs (before it is stopped).
        seen = []
        e = self.assertRaises(errors.BuildFailed,
                              dib.Command(argv=(script,), env={}).run, log,
                              stop_timeout=5, timeout=1,
                              on_stop=lambda: seen.append(
                                  os.path.exists(marker)))
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual([True], seen)
        self.assertEqual('disk-image-create ran longer than 1 seconds '
                         '([dib] timeout) and was stopped; log: %s' % log,
                         str(e))
        self.assertEqual(4, e.exit_code)
        with open(marker) as f:
            child = int(f.read())
        time.sleep(0.2)
        self.assertFalse(os.path.exists('/proc/%d' % child) and
                         'sleep' in open('/proc/%d/cmdline' % child).read())

    def test_kill_9_of_the_tool_stops_dib(self):
        # The tool (a child Python here) runs DIB, then dies by SIGKILL:
        # no handler runs, yet DIB and its children must stop.
        marker = os.path.join(self.tmp, 'child.pid')
        script = self._script('sleep 300 & echo $! > %s\nwait\n' % marker)
        tool = subprocess.Popen([sys.executable, '-c', (
            'import sys\n'
            'from trove_image_builder.build import dib\n'
            'dib.Command(argv=(sys.argv[1],), env={}).run(\n'
            '    sys.argv[2], stop_timeout=2)\n'), script,
            os.path.join(self.tmp, 'build.log')], cwd=base.TOP)
        self.addCleanup(tool.wait)
        for _ in range(200):
            if os.path.exists(marker) and os.path.getsize(marker):
                break
            time.sleep(0.05)
        with open(marker) as f:
            child = int(f.read())
        self.addCleanup(base.kill_quietly, child)
        os.kill(tool.pid, signal.SIGKILL)
        for _ in range(100):
            if not base.running(child):
                break
            time.sleep(0.1)
        self.assertFalse(base.running(child))

    def test_sigterm_stops_process_group(self):
        # A child that ignores nothing: it must be gone after the signal.
        marker = os.path.join(self.tmp, 'child.pid')
        script = self._script(
            'sleep 300 & echo $! > %s\necho started\nwait\n' % marker)
        log = os.path.join(self.tmp, 'build.log')
        cmd = dib.Command(argv=(script,), env={})

        before = signal.getsignal(signal.SIGTERM)

        def fire():
            for _ in range(100):
                if os.path.exists(marker):
                    break
                time.sleep(0.05)
            time.sleep(0.2)  # let run() finish installing its handler
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=fire).start()
        e = self.assertRaises(errors.Interrupted, cmd.run, log,
                              stop_timeout=10)
        self.assertIn('SIGTERM', str(e))
        with open(marker) as f:
            child = int(f.read())
        time.sleep(0.2)
        self.assertFalse(os.path.exists('/proc/%d' % child) and
                         'sleep' in open('/proc/%d/cmdline' % child).read())
        # Our own handlers were restored.
        self.assertEqual(before, signal.getsignal(signal.SIGTERM))


class TestNoTracebackOnSignal(base.TestCase):

    def test_cli_exit_code_on_missing_command(self):
        # A CLI run reports a typed error as one line, not a traceback.
        out = subprocess.run(
            [sys.executable, '-m', 'trove_image_builder.cli.app', 'build',
             'nosuch', '--dry-run'], capture_output=True, text=True)
        self.assertEqual(2, out.returncode)
        self.assertEqual(1, len(out.stderr.strip().splitlines()),
                         out.stderr)
        self.assertNotIn('Traceback', out.stderr)
