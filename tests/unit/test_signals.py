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
from trove_image_builder import errors
from trove_image_builder import signals


class TestSignals(base.TestCase):

    def test_handled_restores_the_previous_handlers(self):
        before = signal.getsignal(signal.SIGTERM)
        seen = []
        with signals.handled(lambda s, f: seen.append(s)):
            os.kill(os.getpid(), signal.SIGTERM)
        self.assertEqual([signal.SIGTERM], seen)
        self.assertEqual(before, signal.getsignal(signal.SIGTERM))

    def test_nothing_installed_outside_the_main_thread(self):
        failures = []

        def block():
            try:
                with signals.handled(lambda s, f: None):
                    pass
            except ValueError as exc:  # what signal.signal would raise
                failures.append(exc)

        thread = threading.Thread(target=block)
        thread.start()
        thread.join()
        self.assertEqual([], failures)

    def test_interrupting_names_the_signal(self):
        with self.assertRaisesRegex(errors.Interrupted,
                                    'interrupted by SIGTERM; stopped'):
            with signals.interrupting('; stopped', (signal.SIGTERM,)):
                os.kill(os.getpid(), signal.SIGTERM)

    def test_to_group_of_a_finished_process(self):
        proc = subprocess.Popen(['true'], start_new_session=True)
        proc.wait()
        signals.to_group(proc, signal.SIGTERM)  # no error


class TestStopGroup(base.TestCase):

    def start(self, code):
        proc = subprocess.Popen([sys.executable, '-c', code],
                                stdout=subprocess.PIPE,
                                start_new_session=True)
        self.addCleanup(proc.stdout.close)
        self.assertEqual(b'ready\n', proc.stdout.readline())
        return proc

    def test_the_signal_first(self):
        proc = self.start('import signal, sys, time\n'
                          'signal.signal(signal.SIGINT, '
                          'lambda *a: sys.exit(7))\n'
                          'print("ready", flush=True)\n'
                          'time.sleep(60)\n')
        self.assertEqual(7, signals.stop_group(proc, 10, signal.SIGINT))

    def test_sigkill_once_the_grace_runs_out(self):
        proc = self.start('import signal, time\n'
                          'signal.signal(signal.SIGTERM, signal.SIG_IGN)\n'
                          'print("ready", flush=True)\n'
                          'time.sleep(60)\n')
        started = time.monotonic()
        self.assertEqual(-signal.SIGKILL, signals.stop_group(proc, 0.5))
        self.assertLess(time.monotonic() - started, 10)

    def test_a_finished_process_is_left_alone(self):
        proc = self.start('print("ready", flush=True)\n')
        proc.wait()
        self.assertEqual(0, signals.stop_group(proc, 1))
        self.assertEqual(0, signals.wait_or_kill(proc, None))
