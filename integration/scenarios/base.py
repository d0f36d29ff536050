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

"""Shared set-up of the end-to-end scenarios.

One minicloud per test run (integration/minicloud.py), brought up on
first use by the fixture shared with the devstack tests
(integration/cloud_fixture.py): taken down at the end of the run, even
a failed or interrupted one, only if this run started it;
TIB_KEEP_CLOUD=1 keeps it up anyway. The tool under test is
the real CLI, run as a separate process from this Python's environment;
assertions use the real `openstack` CLI of the minicloud's venv.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import fixtures
import testtools

from integration import cloud_fixture
from tests import skips
from trove_image_builder import manifest

ADMIN = 'minicloud-admin'
DEMO = 'minicloud-demo'
# Datastore names used only by the scenarios, so a developer's own
# registrations in the same cloud are never touched.
TEST_DATASTORE = 'tibtest'


def cloud():
    """The default work directory's minicloud (or TIB_MINICLOUD_DIR's)."""
    return cloud_fixture.shared_cloud()


def make_qcow2(path, data_mib):
    """A real qcow2 of random data.

    Random, so every image is new to Glance, and incompressible, so its
    size is about data_mib.
    """
    raw = path + '.raw'
    with open(raw, 'wb') as f:
        for _ in range(data_mib):
            f.write(os.urandom(2 ** 20))
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2',
                    raw, path], check=True)
    os.unlink(raw)
    return path


def write_manifest(path, datastore, version, **extra):
    data = {'name': os.path.splitext(os.path.basename(path))[0],
            'format': 'qcow2', 'datastore': datastore,
            'datastore_version': version,
            'version_number': '%s.0' % version if version else None,
            'manager': 'mariadb' if version else None,
            'os': 'debian', 'release': 'bookworm',
            'sha256': manifest.sha256_file(path),
            'size': os.path.getsize(path), 'builder_version': 'scenario'}
    data.update(extra)
    manifest.write(path, data)
    return data


def file_hash(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(2 ** 22), b''):
            digest.update(block)
    return digest.hexdigest()


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return 'rc=%s\nstdout: %s\nstderr: %s' % (
            self.rc, self.out, self.err)


class ScenarioTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # Every scenario makes its images with qemu-img.
        skips.require_tools(self, 'qemu-img')
        self.cloud = cloud()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.unique = uuid.uuid4().hex[:8]

    def skip(self, reason):
        """skipTest, except in CI (TIB_NO_SKIP): there it fails."""
        skips.skip(self, reason)

    # -- the tool ------------------------------------------------------

    def tool_env(self, clouds_yaml=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env['OS_CLIENT_CONFIG_FILE'] = clouds_yaml or self.cloud.clouds_yaml
        return env

    def conf_file(self, **groups):
        lines = []
        for group, values in groups.items():
            lines.append('[%s]' % group)
            lines += ['%s = %s' % kv for kv in values.items()]
        path = os.path.join(self.tmp, 'tib-%d.conf' % len(os.listdir(
            self.tmp)))
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def tool_argv(self, *args, conf=None):
        conf = conf or self.conf_file(trove={
            'trove_manage': os.path.join(self.cloud.bin_dir,
                                         'trove-manage'),
            'config_file': self.cloud.trove_conf})
        return [sys.executable, '-m', 'trove_image_builder.cli.app',
                '--config-file', conf] + list(args)

    def tool(self, *args, conf=None, clouds_yaml=None, timeout=900):
        proc = subprocess.run(self.tool_argv(*args, conf=conf),
                              env=self.tool_env(clouds_yaml),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
        return Result(proc)

    def load(self, image, *args, cloud=ADMIN, **kwargs):
        return self.tool('load', image, '--os-cloud', cloud, '-f', 'json',
                         *args, **kwargs)

    def activate(self, datastore, version, *args, cloud=ADMIN, **kwargs):
        return self.tool('activate', datastore, version, '--os-cloud',
                         cloud, '-f', 'json', *args, **kwargs)

    # -- the cloud -----------------------------------------------------

    def openstack(self, *args, **kwargs):
        return self.cloud.openstack(*args, **kwargs)

    def images_named(self, name):
        return self.openstack('image', 'list', '--name', name, '--long')

    def rules_file(self, datastore='mariadb'):
        python = os.path.join(self.cloud.bin_dir, 'python')
        out = subprocess.run(
            [python, '-c', 'import os, trove; print(os.path.dirname('
             'trove.__file__))'], capture_output=True, text=True,
            check=True).stdout.strip()
        return os.path.join(out, 'templates', datastore,
                            'validation-rules.json')

    def version_row(self, datastore, name):
        listed = self.openstack('datastore', 'version', 'list', datastore,
                                check=False) or []
        rows = [v for v in listed if v['Name'] == name]
        return rows[0] if rows else None

    def delete_image_later(self, image_id):
        self.addCleanup(self.openstack, 'image', 'delete', image_id,
                        parse=False, check=False)

    def delete_version_later(self, datastore, name):
        def _delete():
            row = self.version_row(datastore, name)
            if row:
                self.openstack('datastore', 'version', 'delete', row['ID'],
                               parse=False, check=False)
        self.addCleanup(_delete)

    def kill_service(self, name):
        """SIGKILL a service's whole process group: no graceful exit."""
        with open(self.cloud.lay.pid(name)) as f:
            pid = int(f.read().split()[0])
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def ensure_running(self, name):
        """Put a service back even when the test failed half-way."""
        self.addCleanup(self.cloud.start, name)

    # -- assertions ----------------------------------------------------

    def assertOneLineError(self, result, exit_code, *words):
        self.assertEqual(exit_code, result.rc, result)
        lines = result.err.strip().splitlines()
        self.assertTrue(lines, result)
        last = lines[-1]
        self.assertTrue(last.startswith('trove-image-builder: '), result)
        for word in words:
            self.assertIn(word, last, result)
        self.assertNotIn('Traceback', result.err)
        self.assertEqual('', result.out, result)
        return last
