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

"""Trove's own RPC client prepares a database on really built images.

Real parts only: the datastore container image is built here from
Debian packages (`container-image build`), embedded into a real DIB
build, booted under qemu, and driven by Trove's guest API from a venv
holding the image's trove release, over a private RabbitMQ; a real
client then uses the database through the forwarded port.

The image gets a second, broken container image too (its entrypoint
exits at once), so one build serves the failure case.
"""

import json
import os
import subprocess
import time

from tests.functional import base
from trove_image_builder.build.containerimage import archive
from trove_image_builder import manifest
from trove_image_builder.verify import conformance

BROKEN_REPO = 'tib-test/broken'


def processes(pattern):
    """Command lines of running processes matching pattern (pgrep -f)."""
    out = subprocess.run(['pgrep', '-a', '-f', pattern],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if str(os.getpid()) != line.split()[0]]


class ConformanceBase(base.FunctionalTestCase):

    DATASTORE = None
    VERSION = None

    def setUp(self):
        super().setUp()
        for tool in ('/usr/bin/qemu-system-x86_64', '/usr/bin/socat',
                     '/usr/lib/rabbitmq/bin/rabbitmq-server'):
            if not os.path.exists(tool):
                self.skip('%s missing: run tools/setup-host.sh --tests'
                          % tool)
        # Kept between runs, as on a build host: later builds are cache
        # hits (the inputs decide).
        self.ws = os.path.join(os.environ.get(
            'TIB_FUNCTIONAL_DIR', '/var/tmp/trove-image-builder-tests'),
            'conformance-%s' % self.DATASTORE)
        os.makedirs(self.ws, exist_ok=True)
        self.conf = self.config(self.ws)

    def _container_archive(self):
        proc, _t = self.run_cli(
            self.conf, 'container-image', 'build',
            '%s:%s' % (self.DATASTORE, self.VERSION), '--output-dir',
            os.path.join(self.ws, 'containers'), '-f', 'json')
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        return json.loads(proc.stdout)

    def _broken_archive(self, version_number):
        """A container whose entrypoint exits at once.

        Tagged as the agent will ask for it under BROKEN_REPO.
        """
        path = os.path.join(self.ws, 'broken.tar')
        layer = os.path.join(self.ws, 'broken-layer.tar')
        subprocess.run(['tar', '-C', '/', '-cf', layer, 'bin/busybox'],
                       check=True)
        config = archive.image_config(
            manifest.sha256_file(layer), ['/bin/busybox', 'false'],
            [], ['PATH=/bin'], {})
        archive.write(path, layer, config,
                      ['%s:%s' % (BROKEN_REPO, version_number)])
        return path

    def _image(self, container, extra=()):
        argv = ['build', self.DATASTORE, '--datastore-version',
                self.VERSION, '--embed-container-image',
                container['archive'], '-f', 'json']
        for path in extra:
            argv += ['--embed-container-image', path]
        proc, _t = self.run_cli(self.conf, *argv)
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        return json.loads(proc.stdout)

    def _conformance(self, image, conf=None):
        proc, seconds = self.run_cli(
            conf or self.conf, 'verify', image, '--conformance',
            '%s:%s' % (self.DATASTORE, self.VERSION), '-f', 'json')
        return proc, seconds

    def assertNothingRunning(self, image):
        # qemu, the broker's node and the driver all name this workspace.
        self.assertEqual([], processes(self.ws))
        # epmd and socat do not; they are checked when no other check
        # (another workspace's) is running on this host.
        if not processes('tib-conformance'):
            self.assertEqual([], processes('epmd -address 127.0.0.1'))
            self.assertEqual([], processes('socat STDIO TCP:127.0.0.1'))
        self.assertEqual([], base.loops_over(self.ws))
        self.assertEqual([], base.mounts_under(self.ws))
        work = os.path.join(self.ws, 'work')
        if os.path.isdir(work):
            self.assertEqual([], [n for n in os.listdir(work)
                                  if n.startswith(('conformance-',
                                                   'broker-'))])

    def _passes(self, extra=()):
        container = self._container_archive()
        built = self._image(container, extra)
        proc, seconds = self._conformance(built['image'])
        self.assertEqual(0, proc.returncode, proc.stderr[-4000:])
        out = json.loads(proc.stdout)
        self.assertEqual('pass', out['result'])
        self.assertEqual(container['tag'], out['container_image'])
        expected = list(conformance.steps_for(self.DATASTORE))
        for step in expected[1:]:
            self.assertIn(step + ' ', out['steps'])
        self.assertIn('create, insert, select', proc.stderr)
        with open(built['manifest']) as f:
            record = json.load(f)['conformance']
        self.assertEqual('pass', record['result'])
        self.assertEqual(built['sha256'], record['image_sha256'])
        self.assertEqual('26.0.0', record['trove_version'])
        self.assertEqual(expected, [s['step'] for s in record['steps']])
        self.assertEqual(self.DATASTORE == 'mariadb', 'root' in expected)
        self.assertEqual(['broker', 'qemu'], sorted(record['peak_rss_mib']))
        # Secrets stay out of the output and the record.
        self.assertNotIn('rabbit://', proc.stderr + proc.stdout +
                         json.dumps(record))
        self.assertNothingRunning(built['image'])
        print('%s conformance %.0fs (steps: %s)' % (
            self.DATASTORE, seconds, out['steps']))
        return built


class TestConformanceMariaDB(ConformanceBase):

    DATASTORE = 'mariadb'
    VERSION = '10.11'

    def test_prepare_then_broken_entrypoint(self):
        broken = self._broken_archive('10.11.11')
        built = self._passes(extra=(broken,))

        # The same image, told to run the broken container: the agent's
        # own error names prepare, nothing is left running.
        conf = self.config(self.ws, conformance={
            'docker_image': BROKEN_REPO, 'state_wait': 60})
        proc, _t = self._conformance(built['image'], conf)
        self.assertEqual(10, proc.returncode, proc.stderr[-4000:])
        last = proc.stderr.strip().splitlines()[-1]
        self.assertIn('conformance failed at prepare', last)
        self.assertIn('the agent reported', last)
        self.assertNothingRunning(built['image'])
        with open(built['manifest']) as f:
            record = json.load(f)['conformance']
        self.assertEqual('fail', record['result'])
        self.assertEqual('prepare', record['failed_step'])

    def test_sigint_while_the_guest_boots_leaves_nothing(self):
        # The image the other test made (a cache hit): same archives.
        built = self._image(self._container_archive(),
                            extra=(self._broken_archive('10.11.11'),))
        console = os.path.splitext(built['image'])[0] + \
            '.conformance-console.log'
        if os.path.exists(console):
            os.unlink(console)
        proc = self.started('--config-file', self.conf, 'verify',
                            built['image'], '--conformance', 'mariadb:10.11')
        # The broker is up and qemu started once the console exists.
        deadline = time.monotonic() + 300
        while not os.path.exists(console):
            self.assertIsNone(proc.poll(), 'ended before booting')
            self.assertLess(time.monotonic(), deadline)
            time.sleep(1)
        time.sleep(5)
        self.assertNotEqual([], processes(self.ws))
        self.assertInterrupts(proc)
        self.assertNothingRunning(built['image'])


class TestConformancePostgreSQL(ConformanceBase):

    DATASTORE = 'postgresql'
    VERSION = '15'

    def test_prepare(self):
        self._passes()
