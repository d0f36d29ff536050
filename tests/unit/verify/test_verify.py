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
from unittest import mock

import fixtures

from tests.unit import base
from trove_image_builder import errors
from trove_image_builder import lock
from trove_image_builder import manifest
from trove_image_builder import verify
from trove_image_builder.verify import console

GOOD_BOOT = [
    'SeaBIOS (version 1.16.2-debian-1.16.2-1)',
    '[    0.000000] Linux version 6.1.0-28-amd64 (debian-kernel@...)',
    '[    2.100000] Run /sbin/init as init process',
    'TIB-VERIFY NONCE cloud-init ok status=done',
    'TIB-VERIFY NONCE docker ok active: ActiveState=active',
    'TIB-VERIFY NONCE guest-agent ok active: ActiveState=active',
    'TIB-VERIFY NONCE agent-config ok guest_id found',
    'TIB-VERIFY NONCE image sha256:bb tib-test/busybox:1',
    'TIB-VERIFY NONCE images-end ActiveState=active Result=success',
    'TIB-VERIFY NONCE done',
]
EXPECTED = [{'archive': 'bb.tar', 'sha256': 'x', 'kind': 'docker-archive',
             'images': [{'id': 'sha256:bb',
                         'tags': ['tib-test/busybox:1']}]}]


class FakeMachine:
    """Writes a scripted console, then 'runs' until stopped."""

    boots = []
    started = []
    instances = []

    def __init__(self, spec, stderr_path, stop_timeout=None):
        self.spec = spec
        self.lines, self.exit_code, self.said = FakeMachine.boots.pop(0)
        self.stopped = False

    def __enter__(self):
        FakeMachine.started.append(self.spec)
        FakeMachine.instances.append(self)
        self.stale_log = os.path.exists(self.spec.serial_log)
        nonce = self.spec.name.rsplit('-', 1)[1]
        with open(self.spec.serial_log, 'w') as f:
            for line in self.lines:
                f.write(line.replace('NONCE', nonce) + '\r\n')
        return self

    def __exit__(self, *exc):
        self.stop()

    def poll(self):
        if self.exit_code is not None:
            return self.exit_code
        return -15 if self.stopped else None

    def stop(self):
        self.stopped = True

    def errors_text(self):
        return self.said


class VerifyTestBase(base.TestCase):

    def setUp(self):
        super().setUp()
        FakeMachine.boots, FakeMachine.started = [], []
        FakeMachine.instances = []
        self.useFixture(fixtures.MockPatchObject(verify, 'POLL_SECONDS',
                                                 0.01))
        self.useFixture(fixtures.MockPatchObject(verify.qemu, 'Machine',
                                                 FakeMachine))
        for name, value in (('image_format', 'qcow2'),
                            ('find_binary', '/usr/bin/qemu-system-x86_64')):
            self.useFixture(fixtures.MockPatchObject(
                verify.qemu, name, return_value=value))
        self.useFixture(fixtures.MockPatchObject(
            verify.qemu, 'create_overlay', side_effect=lambda b, f, p: p))
        self.useFixture(fixtures.MockPatchObject(
            verify.qemu, 'create_disk', side_effect=lambda p, s: p))
        self.seed_build = self.useFixture(fixtures.MockPatchObject(
            verify.seed, 'build', return_value='/w/seed.iso')).mock
        self.kvm = self.useFixture(fixtures.MockPatchObject(
            verify.qemu, 'kvm_device_usable',
            return_value=(False, '/dev/kvm does not exist'))).mock
        self.images = os.path.join(self.tmp, 'images')
        self.image = base.write(os.path.join(self.images, 'img.qcow2'),
                                'not really an image')
        self.opts = verify.Options(timeout=5, work_dir=os.path.join(
            self.tmp, 'work'), kvm_probe_timeout=1)

    def write_manifest(self, **extra):
        data = dict(size=os.path.getsize(self.image),
                    sha256=manifest.sha256_file(self.image),
                    manager='mariadb', version_number='10.11.11',
                    container_image='mariadb:10.11.11', **extra)
        manifest.write(self.image, data)

    def run_verify(self, *boots, **opts):
        FakeMachine.boots = [b if isinstance(b, tuple) else (b, None, '')
                             for b in boots]
        return verify.run(self.image, verify.Options(
            **dict(vars(self.opts), **opts)), progress=self.say)

    def say(self, message):
        self.said = getattr(self, 'said', []) + [message]


class TestRun(VerifyTestBase):

    def test_pass_is_recorded_in_the_manifest(self):
        self.write_manifest(container_images=EXPECTED)
        result = self.run_verify(GOOD_BOOT)
        self.assertTrue(result.passed, result.message)
        self.assertEqual('tcg', result.accelerator)
        self.assertEqual(self.image[:-6] + '.verify-console.log',
                         result.serial_log)
        data = manifest.read(self.image)
        record = data['verification']
        self.assertEqual('pass', record['result'])
        self.assertEqual('tcg', record['accelerator'])
        self.assertEqual(set(verify.CHECKS), set(record['checks']))
        self.assertTrue(all(c['ok'] for c in record['checks'].values()))
        self.assertEqual('present: tib-test/busybox:1',
                         record['checks']['container-images']['detail'])
        self.assertIsInstance(record['seconds'], float)
        # Everything else in the manifest is kept.
        self.assertEqual('10.11.11', data['version_number'])
        self.assertIn('[', ''.join(self.said))  # progress per check

    def test_guest_config_from_the_manifest(self):
        self.write_manifest()
        self.run_verify(GOOD_BOOT)
        cfg = self.seed_build.call_args[0][1]
        self.assertEqual(('mariadb', '10.11.11', 'mariadb'),
                         (cfg.manager, cfg.datastore_version,
                          cfg.docker_image))
        self.assertEqual('config-drive', self.seed_build.call_args[0][2])

    def test_failed_check_names_it_and_the_serial_log(self):
        self.write_manifest()
        boot = GOOD_BOOT[:5] + [
            'guest-agent.service: Main process exited, code=exited',
            'TIB-VERIFY NONCE guest-agent fail activating: '
            'ActiveState=activating SubState=auto-restart NRestarts=3']
        result = self.run_verify(boot)
        self.assertFalse(result.passed)
        self.assertEqual('guest-agent', result.failed_check)
        self.assertEqual(1, len(result.message.splitlines()))
        self.assertTrue(result.message.startswith(
            'verify failed: guest-agent: activating: '))
        self.assertIn('serial log: %s' % result.serial_log, result.message)
        self.assertIn('guest-agent.service: Main process exited, '
                      'code=exited', result.tail)
        record = manifest.read(self.image)['verification']
        self.assertEqual(('fail', 'guest-agent'),
                         (record['result'], record['failed_check']))
        self.assertFalse(record['checks']['guest-agent']['ok'])
        self.assertIsNone(record['checks']['agent-config']['ok'])

    def test_missing_embedded_image_fails(self):
        self.write_manifest(container_images=EXPECTED)
        boot = [line for line in GOOD_BOOT if ' image ' not in line]
        result = self.run_verify(boot)
        self.assertEqual('container-images', result.failed_check)
        self.assertIn('missing in the guest\'s docker: tib-test/busybox:1',
                      result.message)
        self.assertIn('loader: ActiveState=active', result.message)

    def test_timeout_names_the_first_pending_check(self):
        result = self.run_verify(GOOD_BOOT[:3], timeout=0.3)
        self.assertEqual('cloud-init', result.failed_check)
        self.assertIn('no answer within', result.message)

    def test_qemu_exit_is_reported(self):
        result = self.run_verify(([], 1, 'qemu: could not open disk'))
        self.assertEqual('kernel', result.failed_check)
        self.assertIn('qemu exited (code 1) before the guest was ready: '
                      'qemu: could not open disk', result.message)

    def test_kernel_panic(self):
        result = self.run_verify(GOOD_BOOT[:2] + [
            'Kernel panic - not syncing: VFS: Unable to mount root fs'])
        self.assertEqual('kernel', result.failed_check)
        self.assertIn('kernel panic: VFS', result.message)

    def test_without_manifest_nothing_is_recorded(self):
        result = self.run_verify(GOOD_BOOT)
        self.assertTrue(result.passed)
        self.assertIsNone(result.manifest_path)
        # Not a built image: nothing is written beside it.
        self.assertEqual(['img.qcow2'], os.listdir(self.images))
        self.assertEqual(os.path.join(self.opts.work_dir,
                                      'img.verify-console.log'),
                         result.serial_log)
        self.assertIn('result not recorded', self.said[-1])
        cfg = self.seed_build.call_args[0][1]
        self.assertEqual('mariadb', cfg.manager)  # [verify] default

    def test_no_record(self):
        self.write_manifest()
        self.run_verify(GOOD_BOOT, record=False)
        self.assertNotIn('verification', manifest.read(self.image))

    def test_modified_image_is_refused(self):
        self.write_manifest()
        with open(self.image, 'a') as f:
            f.write('changed')
        exc = self.assertRaises(errors.InputError, self.run_verify,
                                GOOD_BOOT)
        self.assertIn('does not match its manifest', str(exc))
        self.assertEqual([], FakeMachine.started)

    def test_missing_image(self):
        os.unlink(self.image)
        self.assertRaises(errors.InputError, self.run_verify, GOOD_BOOT)

    def test_a_previous_console_log_is_removed_first(self):
        self.write_manifest()
        stale = base.write(self.image[:-6] + '.verify-console.log',
                           'Linux version 0.0-old\n')
        result = self.run_verify(GOOD_BOOT)
        self.assertEqual(stale, result.serial_log)
        self.assertFalse(FakeMachine.instances[-1].stale_log)
        self.assertEqual('6.1.0-28-amd64', result.checks['kernel']['detail'])

    def test_record_holds_the_sha256_of_the_image_booted(self):
        self.write_manifest(container_images=EXPECTED)
        self.run_verify(GOOD_BOOT)
        data = manifest.read(self.image)
        self.assertEqual(manifest.sha256_file(self.image),
                         data['verification']['sha256'])
        self.assertIs(data['verification'], manifest.verification(data))

    def test_image_rebuilt_meanwhile_gets_no_record(self):
        self.write_manifest(container_images=EXPECTED)
        boot = verify._boot_and_check

        def rebuilt_while_booting(*args, **kwargs):
            result = boot(*args, **kwargs)
            manifest.update(self.image, sha256='0' * 64)
            return result
        self.useFixture(fixtures.MockPatchObject(
            verify, '_boot_and_check', side_effect=rebuilt_while_booting))
        result = self.run_verify(GOOD_BOOT)
        self.assertTrue(result.passed)
        self.assertIsNone(result.manifest_path)
        self.assertNotIn('verification', manifest.read(self.image))
        self.assertIn('%s changed during the verify: result not recorded'
                      % self.image, self.said)

    def test_a_build_of_the_same_image_blocks_verify(self):
        self.write_manifest(container_images=EXPECTED)
        # The lock build.execute takes for this image: output dir + name.
        with lock.TargetLock(self.images, 'img'):
            exc = self.assertRaises(errors.Busy, self.run_verify, GOOD_BOOT)
        self.assertEqual('another build or verify of img is running (pid '
                         '%d); try again when it ends' % os.getpid(),
                         str(exc))
        self.assertEqual([], FakeMachine.started)

    def test_verify_blocks_a_build_of_the_same_image(self):
        self.write_manifest(container_images=EXPECTED)
        refused = []

        def build_meanwhile(*args, **kwargs):
            try:
                with lock.TargetLock(self.images, 'img'):
                    pass
            except errors.Busy as exc:
                refused.append(str(exc))
            return boot(*args, **kwargs)
        boot = verify._boot_and_check
        self.useFixture(fixtures.MockPatchObject(
            verify, '_boot_and_check', side_effect=build_meanwhile))
        self.run_verify(GOOD_BOOT)
        self.assertEqual(['another build of img is running (pid %d); try '
                          'again when it ends' % os.getpid()], refused)

    def test_scratch_files_are_removed(self):
        self.run_verify(GOOD_BOOT)
        self.assertEqual([], [f for f in os.listdir(self.opts.work_dir)
                              if f.startswith('verify-')])

    def test_raw_file_without_boot_sector_is_refused(self):
        with mock.patch.object(verify.qemu, 'image_format',
                               return_value='raw'):
            exc = self.assertRaises(errors.InputError, self.run_verify,
                                    GOOD_BOOT)
        self.assertIn('no boot sector', str(exc))


class TestAccelerator(VerifyTestBase):

    def test_kvm_that_aborts_falls_back_to_tcg(self):
        self.kvm.return_value = (True, '')
        result = self.run_verify(([], 1, 'error: failed to set MSR'),
                                 GOOD_BOOT)
        self.assertTrue(result.passed)
        self.assertEqual(['kvm', 'tcg'],
                         [s.accel for s in FakeMachine.started])
        self.assertEqual('tcg', result.accelerator)
        self.assertIn('failed to set MSR', result.kvm_probe)
        self.assertIn('fell back to TCG', result.kvm_probe)

    def test_kvm_that_hangs_falls_back_to_tcg(self):
        self.kvm.return_value = (True, '')
        hang = ['SeaBIOS', 'Booting `Debian GNU/Linux\'',
                'Loading Linux 6.1.0-28-amd64 ...', 'Probing EDD']
        result = self.run_verify(hang, GOOD_BOOT)
        self.assertTrue(result.passed)
        self.assertEqual('tcg', result.accelerator)
        self.assertIn('did not reach userspace in 1s', result.kvm_probe)

    def test_a_failed_kvm_is_remembered_until_the_host_reboots(self):
        self.kvm.return_value = (True, '')
        self.run_verify(([], 1, 'failed to set MSR'), GOOD_BOOT)
        self.assertIn('failed to set MSR', verify.known_bad_kvm(
            self.opts.work_dir, '/usr/bin/qemu-system-x86_64'))
        FakeMachine.started = []
        result = self.run_verify(GOOD_BOOT)
        self.assertEqual(['tcg'], [s.accel for s in FakeMachine.started])
        self.assertIn('KVM not tried: KVM boot ended early', result.kvm_probe)
        with mock.patch.object(verify, '_kvm_key',
                               return_value={'boot_id': 'rebooted'}):
            self.assertIsNone(verify.known_bad_kvm(
                self.opts.work_dir, '/usr/bin/qemu-system-x86_64'))

    def test_kvm_not_blamed_when_tcg_fails_too(self):
        self.kvm.return_value = (True, '')
        self.run_verify(([], 1, 'bad image'), ([], 1, 'bad image'))
        self.assertIsNone(verify.known_bad_kvm(
            self.opts.work_dir, '/usr/bin/qemu-system-x86_64'))

    def test_working_kvm_is_kept(self):
        self.kvm.return_value = (True, '')
        result = self.run_verify(GOOD_BOOT)
        self.assertEqual('kvm', result.accelerator)
        self.assertEqual(1, len(FakeMachine.started))
        self.assertIsNone(result.kvm_probe)

    def test_choices(self):
        ok = mock.Mock(return_value=(True, ''))
        bad = mock.Mock(return_value=(False, 'no /dev/kvm'))
        self.assertEqual(([('tcg', False)], None),
                         verify.accelerators('tcg', ok))
        self.assertEqual(([('kvm', True), ('tcg', False)], None),
                         verify.accelerators('auto', ok))
        self.assertEqual(([('tcg', False)], 'no /dev/kvm'),
                         verify.accelerators('auto', bad))
        self.assertEqual(([('kvm', False)], None),
                         verify.accelerators('kvm', ok))
        self.assertRaises(errors.HostError, verify.accelerators, 'kvm',
                          bad)


class TestProgress(base.TestCase):

    def feed(self, progress, line, t=1.0):
        event = console.parse(line.replace('NONCE', 'n1'), 'n1')
        return progress.feed(event, t)

    def test_first_verdict_wins(self):
        p = verify.Progress()
        self.assertEqual('docker', self.feed(
            p, 'TIB-VERIFY NONCE docker ok active'))
        self.assertIsNone(self.feed(p, 'TIB-VERIFY NONCE docker fail x'))
        self.assertTrue(p.checks['docker'].ok)

    def test_marker_implies_kernel(self):
        p = verify.Progress()
        self.feed(p, 'TIB-VERIFY NONCE cloud-init ok status=done', 7.5)
        self.assertEqual((True, 7.5, 'booted'),
                         (p.checks['kernel'].ok, p.checks['kernel'].seconds,
                          p.checks['kernel'].detail))
        self.assertEqual('docker', p.pending())

    def test_untagged_expected_image_matched_by_id(self):
        p = verify.Progress([{'id': 'sha256:cc', 'tags': []}])
        self.feed(p, 'TIB-VERIFY NONCE image sha256:cc <none>:<none>')
        self.feed(p, 'TIB-VERIFY NONCE images-end x')
        self.assertTrue(p.checks['container-images'].ok)

    def test_tag_missing_though_id_present(self):
        p = verify.Progress([{'id': 'sha256:cc', 'tags': ['a/b:1']}])
        self.feed(p, 'TIB-VERIFY NONCE image sha256:cc <none>:<none>')
        self.feed(p, 'TIB-VERIFY NONCE images-end x')
        self.assertFalse(p.checks['container-images'].ok)
        self.assertIn('a/b:1', p.checks['container-images'].detail)


class TestOptions(base.TestCase):

    def test_config_then_flags(self):
        conf = self.make_conf(verify={'timeout': 300, 'accelerator': 'tcg',
                                      'seed': 'nocloud'},
                              build={'work_dir': '/srv/work'})
        opts = verify.Options.from_conf(conf, timeout=120, memory=None)
        self.assertEqual((120, 'tcg', 'nocloud', 2048, '/srv/work'),
                         (opts.timeout, opts.accelerator, opts.seed,
                          opts.memory, opts.work_dir))

    def test_guest_config_for_a_generic_image(self):
        cfg = verify.guest_config({'datastore': 'generic', 'manager': None,
                                   'container_image': None},
                                  verify.Options(datastore_manager='mysql'))
        self.assertEqual(('mysql', 'verify', None),
                         (cfg.manager, cfg.datastore_version,
                          cfg.docker_image))

    def test_docker_image_repository(self):
        for image, repo in (('mariadb:10.11.11', 'mariadb'),
                            ('registry:5000/db/mysql:8.0',
                             'registry:5000/db/mysql'),
                            ('registry:5000/db/mysql', 'registry:5000/db/'
                                                       'mysql')):
            cfg = verify.guest_config({'container_image': image},
                                      verify.Options())
            self.assertEqual(repo, cfg.docker_image)


class TestSignals(base.TestCase):

    def test_signal_becomes_interrupted_and_handlers_come_back(self):
        before = signal.getsignal(signal.SIGTERM)
        with verify.interruptible():
            exc = self.assertRaises(errors.Interrupted, os.kill,
                                    os.getpid(), signal.SIGTERM)
            self.assertIn('interrupted by SIGTERM', str(exc))
            # A second signal during cleanup is ignored.
            os.kill(os.getpid(), signal.SIGINT)
        self.assertEqual(before, signal.getsignal(signal.SIGTERM))


class TestCli(base.TestCase):

    def run_cli(self, result, *argv):
        run = self.useFixture(fixtures.MockPatchObject(
            verify, 'run', return_value=result)).mock
        rc, out, err = self.main('[verify]\ntimeout = 600\n', 'verify',
                                 'img.qcow2', *argv)
        return rc, out, err, run

    def test_failure_is_one_line_after_the_console_tail(self):
        result = verify.Result(
            image_path='/i/img.qcow2', passed=False, seconds=80.0,
            accelerator='tcg', checks={}, serial_log='/i/img.log',
            failed_check='guest-agent',
            message='verify failed: guest-agent: activating: x (after '
                    '80.0s under tcg; serial log: /i/img.log)',
            tail=('console line 1', 'console line 2'))
        rc, _out, err, run = self.run_cli(result, '--accelerator', 'tcg',
                                          '--timeout', '300')
        self.assertEqual(10, rc)
        lines = err.rstrip().splitlines()
        self.assertEqual(['  | console line 1', '  | console line 2'],
                         lines[-3:-1])
        self.assertEqual('trove-image-builder: ' + result.message,
                         lines[-1])
        opts = run.call_args[0][1]
        self.assertEqual(('tcg', 300, True),
                         (opts.accelerator, opts.timeout, opts.record))

    def test_pass_shows_the_result(self):
        result = verify.Result(
            image_path='/i/img.qcow2', passed=True, seconds=61.5,
            accelerator='tcg', serial_log='/i/img.log',
            checks={'kernel': {'ok': True, 'seconds': 20.1, 'detail': ''}},
            manifest_path='/i/img.json')
        rc, out, _err, run = self.run_cli(result, '-f', 'json',
                                          '--no-record')
        self.assertEqual(0, rc)
        shown = json.loads(out)
        self.assertEqual(('pass', 61.5, 'tcg', 'kernel 20.1s'),
                         (shown['result'], shown['seconds'],
                          shown['accelerator'], shown['checks']))
        self.assertFalse(run.call_args[0][1].record)
