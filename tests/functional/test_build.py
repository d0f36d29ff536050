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

"""Real DIB builds on this host: an image, its manifest, the cache."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time

from tests.functional import base
from trove_image_builder.build import host
from trove_image_builder.build import sweep
from trove_image_builder.build import wheels


class TestBuild(base.FunctionalTestCase):

    def test_build_then_cache_hit(self):
        ws = self.workspace('build')
        # The image lands where the integration scenarios look for it, so
        # their own build of it is a cache hit; --force makes this one a
        # real build whatever an earlier run left there.
        conf = self.config(ws, build={'output_dir': base.TEST_IMAGES})
        proc, cold = self.run_cli(conf, 'build', 'mariadb', '-f', 'json',
                                  '--force')
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        result = json.loads(proc.stdout)
        image = result['image']
        self.assertFalse(result['cached'])
        self.assertTrue(os.path.isfile(image))
        self.assertIn('root', proc.stderr)  # phase progress was shown

        info = json.loads(subprocess.run(
            ['qemu-img', 'info', '--output', 'json', image],
            capture_output=True, text=True, check=True).stdout)
        self.assertEqual('qcow2', info['format'])
        self.assertGreater(info['virtual-size'], 1 << 30)

        with open(result['manifest']) as f:
            manifest = json.load(f)
        self.assertEqual('mariadb', manifest['datastore'])
        self.assertEqual('10.11', manifest['datastore_version'])
        self.assertEqual('debian', manifest['os'])
        self.assertEqual('bookworm', manifest['release'])
        self.assertEqual(os.path.getsize(image), manifest['size'])
        sha = subprocess.run(['sha256sum', image], capture_output=True,
                             text=True, check=True).stdout.split()[0]
        self.assertEqual(sha, manifest['sha256'])
        self.assertEqual('pypi', manifest['guest_agent']['mode'])
        for pkg in ('docker.io', 'cloud-init', 'openssh-server',
                    'python3-venv'):
            self.assertIn(pkg, manifest['packages'])
        self.assertNothingLeft(ws)
        self.assertWheelsFromTheHost(manifest['log'])

        log_mtime = os.path.getmtime(manifest['log'])
        proc, warm = self.run_cli(conf, 'build', 'mariadb', '-f', 'json')
        self.assertEqual(0, proc.returncode, proc.stderr)
        again = json.loads(proc.stdout)
        self.assertTrue(again['cached'])
        self.assertEqual(manifest['sha256'], again['sha256'])
        self.assertIn('up to date', proc.stderr)
        # DIB did not run: its log is untouched.
        self.assertEqual(log_mtime, os.path.getmtime(manifest['log']))
        print('cold build %.1fs, cache hit %.2fs, image %.1f MiB'
              % (cold, warm, manifest['size'] / 2.0 ** 20))

    def assertWheelsFromTheHost(self, log_path):
        """On the guest's own release the host filled its wheel cache.

        Filled or found valid beside DIB, under the key the guest's step
        computes: that step used it and downloaded nothing.
        """
        with open(log_path, errors='replace') as f:
            dib_part, marker, fill = f.read().partition(
                wheels.LOG_HEADER)
        reason = wheels.why_not({'DIB_RELEASE': 'bookworm',
                                 'DIB_TROVE_GUEST_AGENT_VERSION': 'any'},
                                'debian', host.os_release(),
                                wheels.interpreters())
        if reason:
            self.assertEqual('', marker, reason)
            return
        self.assertIn(': exit 0 after', fill)
        self.assertIn('trove-guest-agent: wheel cache: using', dib_part)
        self.assertNotIn('trove-guest-agent: wheel cache: no wheelhouse',
                         dib_part)

    def test_failing_element_reports_and_cleans_up(self):
        ws = self.workspace('fail')
        elements = os.path.join(ws, 'elements', 'tib-test-fail', 'root.d')
        os.makedirs(elements)
        script = os.path.join(elements, '01-tib-test-fail')
        with open(script, 'w') as f:
            f.write('#!/bin/bash\necho "tib-test: failing on purpose"\n'
                    'exit 3\n')
        os.chmod(script, 0o755)
        # A base of its own: a failed base build rewrites the base's log.
        conf = self.config(ws, build={
            'extra_elements_path': os.path.join(ws, 'elements'),
            'extra_elements': 'tib-test-fail',
            'base_dir': os.path.join(ws, 'bases')})
        proc, _t = self.run_cli(conf, 'build', 'generic')
        self.assertEqual(4, proc.returncode, proc.stderr)
        last = proc.stderr.strip().splitlines()[-1]
        self.assertIn('disk-image-create failed with exit code', last)
        self.assertIn('.log', last)
        self.assertIn('failing on purpose', proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(
            ws, 'images', 'trove-debian-bookworm-generic.qcow2')))
        self.assertFalse(os.path.exists(os.path.join(
            ws, 'bases', 'trove-debian-bookworm-base.raw')))
        self.assertNothingLeft(ws)

    def test_interrupt_and_concurrent_build(self):
        ws = self.workspace('interrupt')
        # A base of its own, so that DIB runs whatever the cache holds.
        conf = self.config(ws, build={'base_dir': os.path.join(ws,
                                                               'bases')})
        argv = ('--config-file', conf, 'build', 'generic')
        first = self.started(*argv)
        # Wait for finalise, in the chroot on the image's mounted
        # partition: DIB then has its tmpfs, the image's loop devices
        # (parent and partition) and the chroot's /proc, /sys and /dev
        # in place, which is everything that must be undone.
        deadline = time.monotonic() + 900
        log = os.path.join(ws, 'bases',
                           'trove-debian-bookworm-base.log')
        marker = 'dib-run-parts Running /tmp/in_target.d/finalise.d/'
        while time.monotonic() < deadline:
            if os.path.exists(log) and marker in open(
                    log, errors='replace').read():
                break
            self.assertIsNone(first.poll(), 'build ended early')
            time.sleep(2)
        self.assertGreater(len(base.mounts_under(ws)), 3,
                           'DIB is not in its chroot yet')
        self.assertGreaterEqual(len(base.loops_over(ws)), 2,
                                'no image loop devices yet')

        second = subprocess.run([base.cli_path()] + list(argv),
                                capture_output=True, text=True,
                                timeout=120)
        self.assertEqual(5, second.returncode, second.stderr)
        self.assertIn('another build of trove-debian-bookworm-generic'
                      ' is running', second.stderr)

        self.assertInterrupts(first, timeout=300)
        self.assertFalse(os.path.exists(os.path.join(
            ws, 'images', 'trove-debian-bookworm-generic.qcow2')))
        self.assertFalse(os.path.exists(os.path.join(
            ws, 'bases', 'trove-debian-bookworm-base.raw')))
        self.assertNothingLeft(ws)


class TestSharedBase(base.FunctionalTestCase):
    """Datastore images are layers over one DIB base; exact cache rules."""

    def build(self, conf, datastore):
        proc, seconds = self.run_cli(conf, 'build', datastore, '-f', 'json')
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        result = json.loads(proc.stdout)
        return result, self.manifest_of(result), proc.stderr, seconds

    @staticmethod
    def manifest_of(result):
        with open(result['manifest']) as f:
            return json.load(f)

    def test_datastores_share_the_base_and_rebuild_exactly(self):
        ws = self.workspace('shared-base')
        # A copy of the real elements, to edit one datastore.yaml below.
        elements = os.path.join(ws, 'elements')
        shutil.copytree(os.path.join(base.TOP, 'elements'), elements)
        conf = self.config(ws, build={'elements_dir': elements})

        first, mariadb, _err, _s = self.build(conf, 'mariadb')
        log_mtime = os.path.getmtime(mariadb['log'])
        result, pg, err, seconds = self.build(conf, 'postgresql')
        self.assertFalse(result['cached'])
        self.assertEqual(mariadb['base'], pg['base'])
        self.assertIn('base %s is up to date' % pg['base']['name'], err)
        self.assertNotIn('building the base', err)
        # DIB did not run for the second datastore: the base's log is
        # the one the first build left.
        self.assertEqual(log_mtime, os.path.getmtime(pg['log']))
        self.assertNotEqual(mariadb['sha256'], pg['sha256'])
        print('second datastore from the base: %.1fs' % seconds)
        # Both patched one packed copy of the base, made once; each is a
        # whole image, with no backing file and no qcow2 damage.
        self.assertEqual(['patched', 'patched'], [
            m['layer_method'] for m in (mariadb, pg)])
        self.assertNotIn('compressing the base', err)  # the first did
        with open(os.path.splitext(pg['log'])[0] + '.json') as f:
            packed = json.load(f)['packed']  # the base's manifest
        self.assertEqual(pg['base']['sha256'], packed['base_sha256'])
        for image in (first['image'], result['image']):
            info = json.loads(subprocess.run(
                ['qemu-img', 'info', '--output=json', image], check=True,
                capture_output=True, text=True).stdout)
            self.assertNotIn('backing-filename', info)
            subprocess.run(['qemu-img', 'check', '-q', image], check=True)

        # The layer's content, read from the image itself.
        with base.mounted_root(result['image'], ws) as root:
            with open(os.path.join(root, 'etc', 'trove-image-builder',
                                   'datastore.json')) as f:
                record = json.load(f)
        self.assertEqual({'datastore': 'postgresql', 'manager': 'postgresql',
                          'version': '16', 'version_number': '16.8',
                          'container_image': 'postgres:16.8',
                          'validation_rules': 'trove:templates/postgresql/'
                                              'validation-rules.json',
                          'element': 'trove-postgresql'}, record)
        self.assertNothingLeft(ws)

        proc, _t = self.run_cli(conf, 'verify', result['image'], '-f',
                                'json')
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        self.assertEqual('pass', json.loads(proc.stdout)['result'])

        # One datastore.yaml changes: only that datastore's image.
        data_file = os.path.join(elements, 'trove-postgresql',
                                 'datastore.yaml')
        with open(data_file) as f:
            text = f.read()
        with open(data_file, 'w') as f:
            f.write(text.replace('"16.8"', '"16.9"'))
        again, _m, _e, _s = self.build(conf, 'mariadb')
        self.assertTrue(again['cached'])
        again, pg2, err, _s = self.build(conf, 'postgresql')
        self.assertFalse(again['cached'])
        self.assertEqual('16.9', pg2['version_number'])
        self.assertEqual(pg['base'], pg2['base'])
        self.assertNotIn('building the base', err)

        # A changed agent constraint: the base and every image rebuild
        # (in a base directory of their own: the shared one stays).
        constraints = os.path.join(ws, 'constraints.txt')
        shutil.copy(os.path.join(base.TOP, 'upper-constraints.txt'),
                    constraints)
        with open(constraints, 'a') as f:
            f.write('# a changed constraints file\n')
        pin = os.path.join(ws, 'pin')
        os.makedirs(pin)
        conf = self.config(pin, build={
            'elements_dir': elements, 'output_dir': '%s/images' % ws,
            'base_dir': '%s/bases' % ws},
            guest_agent={'constraints': constraints})
        # Both at once: the base is built once, the other build waits
        # for it and reuses it.
        procs = [subprocess.Popen(
            [base.cli_path(), '--config-file', conf, 'build', ds, '-f',
             'json'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True) for ds in ('mariadb', 'postgresql')]
        outs = [p.communicate(timeout=3600) for p in procs]
        for proc, (out, err) in zip(procs, outs):
            self.assertEqual(0, proc.returncode, err[-3000:])
        errs = [err for _out, err in outs]
        self.assertEqual(1, sum('building the base' in e for e in errs),
                         errs)
        self.assertEqual(1, sum('waiting for another build using the base'
                                in e for e in errs), errs)
        m3, p3 = [self.manifest_of(json.loads(out)) for out, _err in outs]
        self.assertNotEqual(mariadb['base']['inputs_hash'],
                            m3['base']['inputs_hash'])
        self.assertNotEqual(mariadb['sha256'], m3['sha256'])
        self.assertEqual(m3['base'], p3['base'])
        self.assertNothingLeft(ws)

        # SIGINT while a layer compresses the base (its packed copy gone,
        # so it is made again): exit 130, nothing left behind.
        packed = os.path.join(ws, 'bases', 'trove-debian-bookworm-base.qcow2')
        os.unlink(packed)
        proc = self.started('--config-file', conf, 'build', 'mysql')
        # Wait for the compression: a line at a time, from its stderr.
        for line in proc.stderr:
            if line.startswith('compressing the base'):
                break
        time.sleep(2)
        self.assertInterrupts(proc)
        self.assertFalse(os.path.exists(os.path.join(
            ws, 'images', 'trove-debian-bookworm-mysql-8.4.qcow2')))
        self.assertEqual([], [n for n in os.listdir(os.path.join(ws, 'bases'))
                              if n.endswith('.qcow2')])
        self.assertNothingLeft(ws)


class TestDevModeFastPath(base.FunctionalTestCase):
    """An agent change in dev mode replaces the agent, not the image."""

    def assertSourceWheelhouse(self, manifest_path):
        """The tree's dependencies came from a wheelhouse keyed for it."""
        with open(manifest_path) as f:
            log_path = json.load(f)['log']
        with open(log_path, errors='replace') as f:
            found = re.search(r'trove-guest-agent: wheel cache: '
                              r'(?:using|filled) /var/cache/trove-wheels/'
                              r'([0-9a-f]{64})', f.read())
        self.assertIsNotNone(found, log_path)
        with open(os.path.join(base.CACHE_DIR, 'trove-wheels',
                               found.group(1), 'inputs.json')) as f:
            inputs = json.load(f)
        self.assertEqual('<source tree>', inputs['requirements'][-1])
        self.assertIsNotNone(inputs['source_sha256']['requirements.txt'])

    def test_agent_change_replaces_only_the_agent(self):
        ws = self.workspace('dev-mode')
        # A Trove source tree: the release the production image uses.
        subprocess.run([sys.executable, '-m', 'pip', 'download', '-q',
                        '--no-deps', '--no-binary', ':all:', 'trove==26.0.0',
                        '-d', ws], check=True, timeout=600)
        with tarfile.open(os.path.join(ws, 'trove-26.0.0.tar.gz')) as tar:
            # Files and directories of the tree only (Python 3.11.2 has
            # no extraction filters).
            tar.extractall(ws, members=[
                m for m in tar if (m.isfile() or m.isdir()) and
                m.name.startswith('trove-26.0.0/') and '..' not in m.name])
        src = os.path.join(ws, 'trove-26.0.0')
        conf = self.config(ws, build={'base_dir': os.path.join(ws,
                                                               'bases')})
        argv = ('build', 'mariadb', '--dev-mode', '--guest-agent-source',
                src, '-f', 'json')
        proc, cold = self.run_cli(conf, *argv)
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        first = json.loads(proc.stdout)
        self.assertIn('building the base', proc.stderr)
        self.assertSourceWheelhouse(first['manifest'])

        marker = 'TIB_FAST_PATH = %r\n' % ws
        with open(os.path.join(src, 'trove', 'guestagent', 'api.py'),
                  'a') as f:
            f.write(marker)
        proc, fast = self.run_cli(conf, *argv)
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        second = json.loads(proc.stdout)
        self.assertFalse(second['cached'])
        self.assertIn('only the agent\'s code changed', proc.stderr)
        self.assertNotIn('building the base', proc.stderr)
        with open(second['manifest']) as f:
            data = json.load(f)
        self.assertNotEqual(first['base']['inputs_hash'],
                            data['base']['inputs_hash'])
        with open(os.path.join(ws, 'bases', data['base']['name'] +
                               '.json')) as f:
            self.assertEqual(first['base']['inputs_hash'],
                             json.load(f)['refreshed_from'])
        # The new code is what the image's agent runs.
        with base.mounted_root(second['image'], ws) as root:
            found = glob.glob(os.path.join(
                root, 'opt', 'guest-agent-venv', 'lib', 'python3*',
                'site-packages', 'trove', 'guestagent', 'api.py'))
            self.assertEqual(1, len(found))
            with open(found[0]) as f:
                self.assertTrue(f.read().endswith(marker))
            self.assertTrue(glob.glob(os.path.join(
                os.path.dirname(found[0]), '__pycache__', 'api.*.pyc')))
        print('dev mode: cold build %.1fs, agent change %.1fs (%.2f)'
              % (cold, fast, fast / cold))
        self.assertNothingLeft(ws)


def _processes_with(assignment):
    """Pids whose environment holds assignment (DIB exports TMP_DIR)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/environ' % pid, 'rb') as f:
                env = f.read().split(b'\0')
        except OSError:
            continue
        if os.fsencode(assignment) in env:
            pids.append(int(pid))
    return pids


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _child_group(parent):
    """The process group of parent's child disk-image-create."""
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/stat' % pid) as f:
                # "pid (comm) state ppid pgrp ...": comm may hold blanks.
                fields = f.read().rsplit(')', 1)[1].split()
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmdline = f.read()
        except OSError:
            continue
        if int(fields[1]) == parent and b'disk-image-create' in cmdline:
            return int(fields[2])
    raise AssertionError('no disk-image-create under pid %d' % parent)


def _kill_group(group):
    """SIGKILL a process group this test froze, if it is still there."""
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


class TestKilledBuild(base.FunctionalTestCase):

    def test_kill_9_then_next_build_sweeps(self):
        ws = self.workspace('kill9')
        # DIB builds the base (in a directory of this test's, so that it
        # runs whatever the shared cache holds).
        name = 'trove-debian-bookworm-base'
        bases = os.path.join(ws, 'bases')
        tmp_dir = os.path.join(ws, 'work', name)
        partial = os.path.join(bases, '.%s.partial' % name)
        # Whatever happens, nothing of this test stays attached.
        self.addCleanup(sweep.release, tmp_dir, partial=partial)
        # One second for DIB's own cleanup: the kill leaves its tmpfs,
        # mounts and loop devices for the next build to sweep.
        conf = self.config(ws, dib={'stop_timeout': 1},
                           build={'base_dir': bases})
        first = subprocess.Popen(
            [base.cli_path(), '--config-file', conf, 'build', 'generic'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: first.poll() is None and first.kill())
        deadline = time.monotonic() + 1500
        ours = {}
        while not ours:
            self.assertIsNone(first.poll(), 'build ended early')
            self.assertLess(time.monotonic(), deadline, 'no loop device')
            time.sleep(0.5)
            ours = {n: f for n, f in base.attached_loops().items()
                    if f.startswith(tmp_dir + '/')}
        # DIB runs in a session (and process group) of its own, started
        # by the CLI; its group is frozen first so that its SIGTERM traps
        # cannot clean up: what it made stays for the next build, as when
        # the watchdog's SIGKILL ends a cleanup that takes too long.
        group = _child_group(first.pid)
        self.assertNotEqual(os.getpgid(0), group)
        self.addCleanup(_kill_group, group)
        os.killpg(group, signal.SIGSTOP)
        dib_pids = [p for p in _processes_with('TMP_DIR=' + tmp_dir)
                    if _pgid(p) == group]
        self.assertIn(group, dib_pids)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

        # (a) The watchdog stops DIB: SIGTERM, then SIGKILL a second
        # later, which ends even a stopped process.
        for _ in range(60):
            alive = [p for p in dib_pids if os.path.exists('/proc/%d' % p)]
            if not alive and not _processes_with('TMP_DIR=' + tmp_dir):
                break
            time.sleep(0.5)
        self.assertEqual([], alive)
        self.assertEqual([], _processes_with('TMP_DIR=' + tmp_dir))
        left = {n: f for n, f in base.attached_loops().items()
                if f.startswith(tmp_dir + '/')}
        self.assertNotEqual({}, left, 'the kill left nothing to sweep')
        self.assertNotEqual([], base.mounts_under(tmp_dir))

        # (b) The next build of the target sweeps first; an element that
        # fails at once ends it right after (exit 4, no image).
        elements = os.path.join(ws, 'elements', 'tib-test-fail', 'root.d')
        os.makedirs(elements)
        script = os.path.join(elements, '01-tib-test-fail')
        with open(script, 'w') as f:
            f.write('#!/bin/bash\nexit 3\n')
        os.chmod(script, 0o755)
        conf = self.config(ws, dib={'stop_timeout': 1}, build={
            'extra_elements_path': os.path.join(ws, 'elements'),
            'extra_elements': 'tib-test-fail', 'base_dir': bases})
        proc, _t = self.run_cli(conf, 'build', 'generic', timeout=600)
        self.assertEqual(4, proc.returncode, proc.stderr)
        # Also no orphan: a loop device backing "/image0.raw" after a
        # lazy umount of DIB's tmpfs (base.orphans).
        self.assertNothingLeft(ws)
        now = base.attached_loops()
        for loop, back in left.items():
            # Detached, or reused since for another build's file.
            self.assertNotEqual(back, now.get(loop))
