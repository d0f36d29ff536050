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

"""Real boots under qemu (TCG) of really built images.

The images are built once per workspace (later builds are cache hits):
the mariadb image with two embedded container images made here (no
registry, no docker on the host), and a generic image whose guest agent
unit is broken on purpose.
"""

import json
import os
import subprocess
import time

from tests import archives
from tests.functional import base

BROKEN_ELEMENT = 'tib-test-broken-agent'
DOCKER_TAG = 'tib-test/busybox:1.35'
OCI_REF = 'localhost/tib-test/busybox-oci:1'


def qemus_using(path):
    """pids of processes whose command line mentions path."""
    out = subprocess.run(['pgrep', '-f', path], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


def sha256(path):
    return subprocess.run(['sha256sum', path], capture_output=True,
                          text=True, check=True).stdout.split()[0]


class TestVerify(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists('/usr/bin/qemu-system-x86_64'):
            self.skip('qemu-system-x86 missing')
        self.ws = os.path.join(os.environ.get(
            'TIB_FUNCTIONAL_DIR', '/var/tmp/trove-image-builder-tests'),
            'verify')
        os.makedirs(self.ws, exist_ok=True)
        # The broken element's tree is an input of the base: a base dir
        # of its own keeps the host's shared base for everyone else.
        self.conf = self.config(self.ws, build={
            'base_dir': os.path.join(self.ws, 'bases')})
        with open(self.conf, 'a') as f:
            # Still in [build], the last section config() wrote.
            f.write('extra_elements_path = %s\n' % self._broken_element())

    def _broken_element(self):
        """An element whose drop-in makes guest-agent.service fail."""
        root = os.path.join(self.ws, 'elements')
        script = os.path.join(root, BROKEN_ELEMENT, 'post-install.d',
                              '90-tib-test-broken-agent')
        os.makedirs(os.path.dirname(script), exist_ok=True)
        with open(script, 'w') as f:
            f.write('#!/bin/bash\nset -eu -o pipefail\n'
                    'd=/etc/systemd/system/guest-agent.service.d\n'
                    'mkdir -p "$d"\n'
                    'printf "[Service]\\nExecStart=\\n'
                    'ExecStart=/bin/false\\n" > "$d/99-tib-test.conf"\n')
        os.chmod(script, 0o755)
        return root

    def _archives(self):
        found = archives.busybox_files()
        if not found:
            self.skip('no static busybox: apt-get install '
                      'busybox-static')
        files, links = found
        docker = os.path.join(self.ws, 'busybox-docker.tar')
        oci = os.path.join(self.ws, 'busybox-oci.tar')
        # Different content, so two distinct image ids.
        ids = (archives.docker_archive(
            docker, dict(files, **{'etc/tib-test': (b'docker\n', 0o644)}),
            [DOCKER_TAG], links),
            archives.oci_archive(
            oci, dict(files, **{'etc/tib-test': (b'oci\n', 0o644)}),
            OCI_REF, links))
        return (docker, oci), ids

    def _build(self, *argv):
        proc, seconds = self.run_cli(self.conf, 'build', '-f', 'json',
                                     *argv)
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        result = json.loads(proc.stdout)
        print('build %s: %.1fs (cached: %s)'
              % (result['image'], seconds, result['cached']))
        return result['image']

    def good_image(self):
        paths, ids = self._archives()
        image = self._build('mariadb', '--embed-container-image', paths[0],
                            '--embed-container-image', paths[1])
        return image, ids

    def verify(self, image, *argv, timeout=1800):
        return self.run_cli(self.conf, 'verify', image, *argv,
                            timeout=timeout)

    def assertNothingRunning(self):
        self.assertEqual([], qemus_using(self.ws))
        work = os.path.join(self.ws, 'work')
        self.assertEqual([], [d for d in os.listdir(work)
                              if d.startswith('verify-')])

    def test_good_image_passes_under_tcg(self):
        image, (docker_id, oci_id) = self.good_image()
        before = sha256(image)
        proc, seconds = self.verify(image, '--accelerator', 'tcg',
                                    '-f', 'json')
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        shown = json.loads(proc.stdout)
        self.assertEqual(('pass', 'tcg'), (shown['result'],
                                           shown['accelerator']))
        # The image is untouched; only its manifest gained the record.
        self.assertEqual(before, sha256(image))
        with open(shown['manifest']) as f:
            data = json.load(f)
        self.assertEqual(before, data['sha256'])
        record = data['verification']
        self.assertEqual(('pass', 'tcg'), (record['result'],
                                           record['accelerator']))
        self.assertEqual(shown['seconds'], record['seconds'])
        for name, check in record['checks'].items():
            self.assertTrue(check['ok'], '%s: %s' % (name, check))
        self.assertIn(DOCKER_TAG, record['checks']['container-images'][
            'detail'])
        self.assertIn(OCI_REF, record['checks']['container-images'][
            'detail'])

        with open(record['serial_log'], errors='replace') as f:
            console = f.read()
        self.assertIn('Linux version', console)
        for marker in ('cloud-init ok status=done', 'docker ok active',
                       'guest-agent ok active', 'agent-config ok guest_id',
                       'image %s %s' % (docker_id, DOCKER_TAG),
                       'image %s %s' % (oci_id, OCI_REF), ' done'):
            self.assertIn(marker, console)
        self.assertNothingRunning()
        print('verify passed: boot-to-ready %.1fs under TCG, command %.1fs;'
              ' checks: %s' % (record['seconds'], seconds, ', '.join(
                  '%s %ss' % (n, c['seconds'])
                  for n, c in sorted(record['checks'].items(),
                                     key=lambda kv: kv[1]['seconds']))))

    def test_broken_agent_fails_with_one_line(self):
        image = self._build('generic', '--element', BROKEN_ELEMENT)
        proc, seconds = self.verify(image, '--accelerator', 'tcg')
        self.assertEqual(10, proc.returncode, proc.stderr[-3000:])
        self.assertNotIn('Traceback', proc.stderr)
        lines = proc.stderr.strip().splitlines()
        last = lines[-1]
        self.assertTrue(last.startswith(
            'trove-image-builder: verify failed: guest-agent: '), last)
        serial_log = image[:-len('.qcow2')] + '.verify-console.log'
        self.assertIn('serial log: %s' % serial_log, last)
        tail = [line for line in lines if line.startswith('  | ')]
        self.assertTrue(tail, proc.stderr)
        with open(image[:-len('.qcow2')] + '.json') as f:
            record = json.load(f)['verification']
        self.assertEqual(('fail', 'guest-agent'),
                         (record['result'], record['failed_check']))
        self.assertTrue(record['checks']['docker']['ok'])
        self.assertNothingRunning()
        print('broken image failed in %.1fs: %s' % (seconds, last))

    def test_interrupt_and_timeout_stop_qemu(self):
        image, _ids = self.good_image()
        serial_log = image[:-len('.qcow2')] + '.verify-console.log'
        cmd = [base.cli_path(), '--config-file', self.conf, 'verify', image,
               '--accelerator', 'tcg', '--no-record']
        if os.path.exists(serial_log):
            os.unlink(serial_log)
        proc = self.started(*cmd[1:])
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if os.path.exists(serial_log) and 'Linux version' in open(
                    serial_log, errors='replace').read():
                break
            self.assertIsNone(proc.poll(), 'verify ended early')
            time.sleep(1)
        self.assertTrue(qemus_using(self.ws), 'no qemu running?')
        self.assertInterrupts(proc, timeout=60)
        self.assertNothingRunning()

        proc, seconds = self.verify(image, '--accelerator', 'tcg',
                                    '--timeout', '20', '--no-record')
        self.assertEqual(10, proc.returncode, proc.stderr[-2000:])
        last = proc.stderr.strip().splitlines()[-1]
        self.assertIn('no answer within 20s', last)
        self.assertLess(seconds, 60)
        self.assertNothingRunning()
