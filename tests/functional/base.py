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

"""Helpers for tests that build and boot real images (root, minutes)."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import testtools

from tests import skips

# The image cache (debootstrap tarball, apt downloads) is shared between
# runs, as on a real build host; output and scratch dirs are per test run.
CACHE_DIR = os.environ.get('TIB_FUNCTIONAL_CACHE',
                           '/var/cache/trove-image-builder')
# Where builds keep their bases when a test does not choose: by default
# [build] base_dir's own (CACHE_DIR/bases, shared like the cache); a
# worktree whose elements differ sets its own so it neither replaces
# the host's base nor waits on it.
BASE_DIR = os.environ.get('TIB_FUNCTIONAL_BASES')
# Images other test suites reuse (integration/scenarios builds the same).
TEST_IMAGES = os.environ.get('TIB_TEST_IMAGES',
                             '/var/lib/trove-image-builder/test-images')
TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def cli_path():
    return os.path.join(os.path.dirname(sys.executable),
                        'trove-image-builder')


def loops_over(prefix):
    out = subprocess.run(['losetup', '--json', '--list', '-O',
                          'NAME,BACK-FILE'], capture_output=True,
                         text=True).stdout
    devs = json.loads(out)['loopdevices'] if out.strip() else []
    return [d['name'] for d in devs
            if (d.get('back-file') or '').startswith(prefix)]


def attached_loops():
    """{loop name: backing file} of every attached loop device (sysfs)."""
    found = {}
    for name in os.listdir('/sys/block'):
        try:
            with open('/sys/block/%s/loop/backing_file' % name) as f:
                found[name] = f.read().strip()
        except OSError:
            continue
    return found


def orphans(before):
    """Loop devices attached since before whose file no path names.

    A loop device over a file on a tmpfs that was lazily unmounted backs
    "/image0.raw" or the like: no prefix of ours matches it, yet it is
    a build's leak.
    """
    return {name: back for name, back in attached_loops().items()
            if before.get(name) != back and not back.endswith(' (deleted)')
            and not os.path.exists(back)}


def mounts_under(prefix):
    with open('/proc/self/mountinfo') as f:
        return [line.split()[4] for line in f
                if line.split()[4].startswith(prefix)]


@contextlib.contextmanager
def mounted_root(image, scratch):
    """Mount the largest partition of a built image read-only.

    The image is converted to a raw scratch copy first, so nothing here
    can change the image under test; the loop device comes from mount's
    own autoclear, so unmounting releases it.
    """
    raw = os.path.join(scratch, 'inspect.raw')
    mnt = os.path.join(scratch, 'inspect.mnt')
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(['qemu-img', 'convert', '-O', 'raw', image, raw],
                   check=True, timeout=600)
    try:
        table = json.loads(subprocess.run(
            ['sfdisk', '--json', raw], capture_output=True, text=True,
            check=True).stdout)['partitiontable']
        sector = table.get('sectorsize', 512)
        root = max(table['partitions'], key=lambda p: p['size'])
        subprocess.run(
            ['mount', '-o', 'ro,loop,offset=%d,sizelimit=%d'
             % (root['start'] * sector, root['size'] * sector), raw, mnt],
            check=True, timeout=60)
        try:
            yield mnt
        finally:
            subprocess.run(['umount', mnt], check=True, timeout=60)
    finally:
        os.unlink(raw)


class FunctionalTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        skips.require_root(self, 'loop devices, mounts, chroot')
        skips.require_tools(self, 'qemu-img')
        self.loops_before = attached_loops()

    def skip(self, reason):
        """skipTest, except in CI (TIB_NO_SKIP): there it fails."""
        skips.skip(self, reason)

    def workspace(self, name):
        """A per-test directory on disk (not /tmp: it may be tmpfs)."""
        root = os.environ.get('TIB_FUNCTIONAL_DIR',
                              '/var/tmp/trove-image-builder-tests')
        path = os.path.join(root, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def config(self, workspace, **extra):
        build = {'output_dir': '%s/images' % workspace,
                 'work_dir': '%s/work' % workspace,
                 'cache_dir': CACHE_DIR}
        if BASE_DIR:
            build['base_dir'] = BASE_DIR
        build.update(extra.pop('build', {}))
        lines = []
        for group, values in dict(extra, build=build).items():
            lines.append('[%s]' % group)
            lines += ['%s = %s' % kv for kv in values.items()]
        path = os.path.join(workspace, 'tib.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def started(self, *argv):
        """A CLI process, killed at the end of the test if still there."""
        proc = subprocess.Popen([cli_path()] + list(argv),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def assertInterrupts(self, proc, timeout=120):
        """SIGINT ends proc with one line and exit 130; its stderr."""
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=timeout)
        self.assertEqual(130, proc.returncode, err)
        self.assertIn('interrupted by SIGINT', err)
        self.assertNotIn('Traceback', err)
        return err

    def run_cli(self, conf, *argv, timeout=3600):
        started = time.monotonic()
        proc = subprocess.run(
            [cli_path(), '--config-file', conf] + list(argv),
            capture_output=True, text=True, timeout=timeout)
        return proc, time.monotonic() - started

    def assertNothingLeft(self, workspace):
        self.assertEqual([], loops_over(workspace))
        self.assertEqual({}, orphans(self.loops_before))
        self.assertEqual([], mounts_under(workspace))
        for sub in ('images', 'bases'):
            path = os.path.join(workspace, sub)
            if os.path.isdir(path):
                self.assertEqual([], [f for f in os.listdir(path)
                                      if '.partial' in f])
        # No build's temp dir (verify keeps a file of its own there).
        work = os.path.join(workspace, 'work')
        if os.path.isdir(work):
            self.assertEqual([], [e for e in os.listdir(work) if
                                  os.path.isdir(os.path.join(work, e))])
