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

import json
import os
import signal
import subprocess
import sys
import time

import fixtures

from tests.unit import base
from trove_image_builder.build import wheels
from trove_image_builder import datafiles

BOOKWORM = {'ID': 'debian', 'VERSION_ID': '12',
            'VERSION_CODENAME': 'bookworm'}
SAME = ('cpython 3.11', 'cpython 3.11')
ENV = {'DIB_RELEASE': 'bookworm', 'DIB_IMAGE_CACHE': '/var/cache/tib',
       'DIB_TROVE_WHEEL_CACHE': '1',
       'DIB_TROVE_GUEST_AGENT_VERSION': '26.0.0',
       'DIB_TROVE_GUEST_AGENT_CONSTRAINTS': '/etc/tib/uc.txt'}


def option(argv, name):
    return argv[argv.index(name) + 1]


class TestWhyNot(base.TestCase):

    def test_the_guests_release_and_python(self):
        self.assertIsNone(wheels.why_not(ENV, 'debian', BOOKWORM, SAME))

    def test_reasons(self):
        cases = [
            (dict(ENV, DIB_TROVE_WHEEL_CACHE='0'), BOOKWORM, SAME,
             'wheel cache is off'),
            (dict(ENV, DIB_TROVE_GUEST_AGENT_SOURCE='/src/trove'),
             BOOKWORM, SAME, 'source tree'),
            (dict(ENV, DIB_RELEASE='trixie'), BOOKWORM, SAME,
             'runs debian bookworm, the guest debian trixie'),
            (ENV, dict(BOOKWORM, ID='ubuntu', VERSION_CODENAME='noble'),
             SAME, 'runs ubuntu noble'),
            (ENV, {}, SAME, 'runs None None'),
            (ENV, BOOKWORM, ('cpython 3.12', 'cpython 3.11'),
             'runs on cpython 3.12, the OS\'s python3 is cpython 3.11'),
        ]
        for env, release, pythons, expected in cases:
            self.assertIn(expected, wheels.why_not(env, 'debian', release,
                                                   pythons))

    def test_interpreters_name_this_python(self):
        ours, _system = wheels.interpreters()
        self.assertEqual('%s %d.%d' % (sys.implementation.name,
                                       *sys.version_info[:2]), ours)


class TestHostFill(base.TestCase):

    def fill(self, env=ENV, secrets=(), release=BOOKWORM):
        return wheels.host_fill(env, secrets, '/share/elements', 'debian',
                                host_release=release, pythons=SAME)

    def test_runs_the_guests_helper_with_the_guests_inputs(self):
        fill = self.fill()
        argv = list(fill.argv)
        self.assertEqual([sys.executable, '-I', os.path.join(
            '/share/elements', 'trove-guest-agent', 'trove-guest-agent-lib',
            'wheelhouse.py'), 'prepare'], argv[:4])
        self.assertEqual('/var/cache/tib/trove-wheels',
                         option(argv, '--cache'))
        self.assertEqual('trove==26.0.0', option(argv, '--requirement'))
        self.assertEqual('/etc/tib/uc.txt', option(argv, '--constraints'))
        self.assertEqual(os.path.join(os.path.dirname(sys.executable),
                                      'pip'), option(argv, '--pip'))
        self.assertNotIn('--index-url', argv)
        # The chroot has no pip.conf; the host's is not read either.
        self.assertEqual(os.devnull, fill.env['PIP_CONFIG_FILE'])
        self.assertNotIn('PIP_INDEX_URL', fill.env)

    def test_host_only_pip_sources_left_out(self):
        caller = {'PATH': '/usr/bin', 'PIP_FIND_LINKS': '/opt/wheels',
                  'PIP_EXTRA_INDEX_URL': 'file:///srv/simple',
                  'PIP_CERT': '/etc/host.pem', 'PIP_DEFAULT_TIMEOUT': '180',
                  'PIP_INDEX_URL': 'https://mirror.example.org/simple'}
        fill = self.fill(env=dict(ENV, DIB_TROVE_PIP_CA_BUNDLE='/ca.pem'))
        env = fill.full_env(caller)
        self.assertEqual({'PATH': '/usr/bin', 'PIP_DEFAULT_TIMEOUT': '180',
                          'PIP_INDEX_URL': 'https://mirror.example.org/simple',
                          'PIP_CERT': '/ca.pem', 'REQUESTS_CA_BUNDLE':
                          '/ca.pem', 'PIP_CONFIG_FILE': os.devnull,
                          'PIP_DISABLE_PIP_VERSION_CHECK': '1'}, env)

    def test_none_where_the_guest_differs(self):
        self.assertIsNone(self.fill(release=dict(BOOKWORM,
                                                 VERSION_CODENAME='trixie')))
        self.assertIsNone(self.fill(env=dict(ENV, DIB_TROVE_WHEEL_CACHE='0')))

    def test_public_index_url_as_the_guest_passes_it(self):
        fill = self.fill(env=dict(ENV, DIB_TROVE_PIP_INDEX_URL=(
            'https://pypi.example.org/simple')))
        argv = list(fill.argv)
        self.assertEqual(['--index-url', 'https://pypi.example.org/simple',
                          '--', '--index-url',
                          'https://pypi.example.org/simple'],
                         argv[argv.index('--index-url'):])

    def test_index_url_with_credentials_only_in_the_environment(self):
        secret = 'https://user:s3cret@pypi.example.org/simple'
        fill = self.fill(env=dict(ENV, DIB_TROVE_PIP_INDEX_FILE='/w/url'),
                         secrets=(('/w/url', secret), ('/w/other', 'x')))
        self.assertNotIn('s3cret', ' '.join(fill.argv))
        self.assertNotIn('s3cret', repr(fill))
        self.assertEqual(secret, fill.env['PIP_INDEX_URL'])

    def test_ca_bundle_for_pip_and_requests(self):
        fill = self.fill(env=dict(ENV, DIB_TROVE_PIP_CA_BUNDLE='/ca.pem'))
        self.assertEqual('/ca.pem', fill.env['PIP_CERT'])
        self.assertEqual('/ca.pem', fill.env['REQUESTS_CA_BUNDLE'])

    def test_the_helper_computes_the_guests_key(self):
        # The real helper, run as the fill runs it but asked for its key:
        # what it records is what the guest's step records on bookworm.
        tmp = self.useFixture(fixtures.TempDir()).path
        constraints = base.write(os.path.join(tmp, 'uc.txt'),
                                 'pbr===7.0.3\n')
        os_release = base.write(os.path.join(tmp, 'os-release'),
                                'ID=debian\nVERSION_ID="12"\n'
                                'VERSION_CODENAME=bookworm\n')
        fill = wheels.host_fill(
            dict(ENV, DIB_TROVE_GUEST_AGENT_CONSTRAINTS=constraints),
            (), datafiles.elements_dir(), 'debian', host_release=BOOKWORM,
            pythons=SAME)
        argv = list(fill.argv)
        argv[argv.index('prepare')] = 'key'
        for name in ('--cache', '--pip'):
            at = argv.index(name)
            del argv[at:at + 2]
        out = subprocess.run(argv + ['--os-release', os_release],
                             env=fill.full_env(), capture_output=True,
                             text=True, check=True)
        inputs = json.loads(out.stdout)['inputs']
        self.assertEqual('debian 12', inputs['os'])
        self.assertEqual(['pip', 'trove==26.0.0'], inputs['requirements'])
        self.assertEqual('', inputs['index_url'])


class TestFilling(base.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.log = base.write(os.path.join(self.tmp, 'base.log'),
                              '$ disk-image-create\n')
        self.said = []

    def run_fill(self, code, block=lambda: None):
        fill = wheels.Fill(argv=(sys.executable, '-c', code), env={})
        with wheels.filling(fill, self.log, self.tmp, 5, self.said.append):
            block()
        with open(self.log) as f:
            return f.read()

    def test_output_ends_the_log_as_one_block(self):
        log = self.run_fill('import time; time.sleep(0.2); '
                            'print("filled /cache/key")',
                            lambda: time.sleep(1.5))
        self.assertTrue(log.startswith('$ disk-image-create\n'))
        self.assertIn(wheels.LOG_HEADER + ' beside DIB: exit 0 after', log)
        # The fill's own time, not the block's.
        seconds = float(log.split(' after ')[1].split()[0])
        self.assertLess(seconds, 1.2)
        self.assertIn('filled /cache/key\n', log)
        self.assertTrue(log.endswith('end of the host\'s wheel cache '
                                     'preparation ---\n'))
        self.assertEqual(1, len(self.said))

    def test_a_fill_running_past_the_block_is_interrupted(self):
        pid_file = os.path.join(self.tmp, 'pid')
        code = ('import os, time\n'
                'open(%r, "w").write(str(os.getpid()))\n'
                'try:\n'
                '    time.sleep(60)\n'
                'except KeyboardInterrupt:\n'
                '    print("cleaned up")\n'
                '    raise SystemExit(130)\n' % pid_file)

        def wait_for_start():
            deadline = time.monotonic() + 10
            while not os.path.exists(pid_file):
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            time.sleep(0.2)

        started = time.monotonic()
        log = self.run_fill(code, wait_for_start)
        self.assertLess(time.monotonic() - started, 10)
        self.assertIn('exit 130 (stopped when DIB ended)', log)
        self.assertIn('cleaned up', log)
        with open(pid_file) as f:
            pid = int(f.read())
        self.assertRaises(ProcessLookupError, os.kill, pid, 0)

    def test_a_fill_that_cannot_start_loses_only_its_head_start(self):
        fill = wheels.Fill(argv=(os.path.join(self.tmp, 'missing'),),
                           env={})
        ran = []
        with wheels.filling(fill, self.log, self.tmp, 5, self.said.append):
            ran.append(True)
        self.assertEqual([True], ran)
        self.assertIn('the build fills it', self.said[0])
        with open(self.log) as f:
            self.assertNotIn(wheels.LOG_HEADER, f.read())

    def test_none_runs_the_block_alone(self):
        ran = []
        with wheels.filling(None, self.log, self.tmp, 5, self.said.append):
            ran.append(True)
        self.assertEqual(([True], []), (ran, self.said))

    def test_kill_9_of_the_tool_stops_the_fill(self):
        # The tool (a child Python here) fills beside "DIB", then dies by
        # SIGKILL: no finally runs, yet the fill and its children stop.
        marker = os.path.join(self.tmp, 'fill.pid')
        fill_code = ('import os, subprocess, time\n'
                     'child = subprocess.Popen(["sleep", "300"])\n'
                     'open(%r, "w").write(str(child.pid))\n'
                     'child.wait()\n' % marker)
        tool = subprocess.Popen([sys.executable, '-c', (
            'import sys, time\n'
            'from trove_image_builder.build import wheels\n'
            'fill = wheels.Fill(argv=(sys.executable, "-c", sys.argv[1]),'
            ' env={})\n'
            'with wheels.filling(fill, sys.argv[2], sys.argv[3], 2,\n'
            '                    lambda msg: None):\n'
            '    time.sleep(300)\n'), fill_code, self.log, self.tmp],
            cwd=base.TOP)
        self.addCleanup(tool.wait)
        deadline = time.monotonic() + 20
        while not (os.path.exists(marker) and os.path.getsize(marker)):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        with open(marker) as f:
            child = int(f.read())
        self.addCleanup(base.kill_quietly, child)
        os.kill(tool.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while base.running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertFalse(base.running(child))
