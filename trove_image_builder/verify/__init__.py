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

"""verify: boot an image the way a cloud would and check it is ready.

    image (+ manifest) -> overlay, data volume, seed ISO
        -> qemu (KVM when it really runs guests, else TCG)
        -> serial console: kernel, cloud-init, docker, guest agent,
           injected config read, embedded container images
        -> Result, recorded in the manifest

The image itself is never written; qemu is stopped on every way out.
"""

import collections
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import shutil
import tempfile
import time

from trove_image_builder import conf as conf_mod
from trove_image_builder import errors
from trove_image_builder import lock
from trove_image_builder import manifest
from trove_image_builder import signals
from trove_image_builder.verify import console
from trove_image_builder.verify import qemu
from trove_image_builder.verify import seed

LOG = logging.getLogger(__name__)

CHECKS = ('kernel', 'cloud-init', 'docker', 'guest-agent', 'agent-config',
          'container-images')
POLL_SECONDS = 0.5
# Where a KVM that failed to run a guest is remembered until the host
# reboots, so later runs do not spend the probe again.
KVM_VERDICT = 'kvm-verdict.json'


@dataclasses.dataclass(frozen=True)
class Options(conf_mod.FromConf):
    timeout: int = conf_mod.option('verify.timeout')
    service_wait: int = conf_mod.option('verify.service_wait')
    accelerator: str = conf_mod.option('verify.accelerator')
    kvm_probe_timeout: int = conf_mod.option('verify.kvm_probe_timeout')
    memory: int = conf_mod.option('verify.memory')
    cpus: int = conf_mod.option('verify.cpus')
    seed: str = conf_mod.option('verify.seed')
    volume_size: int = conf_mod.option('verify.volume_size')
    injected_config_owner: str = conf_mod.option(
        'verify.injected_config_owner')
    datastore_manager: str = conf_mod.option('verify.datastore_manager')
    ssh_port: int = conf_mod.option('verify.ssh_port')
    qemu: str = conf_mod.option('verify.qemu')
    record: bool = conf_mod.option('verify.record')
    work_dir: str = conf_mod.option('build.work_dir')


@dataclasses.dataclass
class Check:
    ok: bool = None
    seconds: float = None
    detail: str = ''


class Progress:
    """The checks' state, fed with console events as they arrive."""

    def __init__(self, expected_images=()):
        self.expected = list(expected_images)
        self.checks = collections.OrderedDict((n, Check()) for n in CHECKS)
        self.images = []
        self.done = False

    def _set(self, name, ok, seconds, detail):
        check = self.checks[name]
        if check.ok is None:
            check.ok, check.seconds, check.detail = ok, seconds, detail
            return name
        return None

    def feed(self, event, seconds):
        """Apply event; return the name of a check it decided, if any."""
        if event.kind == 'kernel':
            return self._set('kernel', True, seconds, event.detail)
        if event.kind == 'panic':
            # Fatal whenever it comes, even after a good start.
            self.checks['kernel'] = Check(False, seconds,
                                          'kernel panic: %s' % event.detail)
            return 'kernel'
        # Userspace or a marker: the kernel ran, whatever it printed.
        decided = self._set('kernel', True, seconds, 'booted')
        if event.kind != 'marker':
            return decided
        if event.name == 'image':
            words = event.detail.split()
            if len(words) == 2:
                self.images.append((words[0], words[1]))
            return None
        if event.name == 'images-end':
            ok, detail = self._compare_images(event.detail)
            return self._set('container-images', ok, seconds, detail)
        if event.name == 'done':
            self.done = True
            return None
        if event.name in self.checks:
            return self._set(event.name, event.ok, seconds, event.detail)
        return None

    def _compare_images(self, loader_state):
        ids = {i for i, _r in self.images}
        refs = {r for _i, r in self.images}
        missing = []
        for image in self.expected:
            if image['id'] not in ids:
                missing.append(', '.join(image['tags']) or image['id'])
                continue
            missing += [t for t in image['tags'] if t not in refs]
        if missing:
            return False, 'missing in the guest\'s docker: %s; guest has: ' \
                '%s; loader: %s' % ('; '.join(missing),
                                    ', '.join(sorted(refs)) or 'nothing',
                                    loader_state)
        if not self.expected:
            return True, 'none embedded (guest has %d image(s))' % len(ids)
        return True, 'present: %s' % ', '.join(
            t for image in self.expected for t in image['tags'] or
            [image['id']])

    def failed(self):
        """(name, check) of the first failed check, or None."""
        for name, check in self.checks.items():
            if check.ok is False:
                return name, check
        return None

    def pending(self):
        for name, check in self.checks.items():
            if check.ok is None:
                return name
        return None

    def passed(self):
        return all(c.ok for c in self.checks.values())

    def record(self):
        return {n: dataclasses.asdict(c) for n, c in self.checks.items()}


@dataclasses.dataclass(frozen=True)
class Result:
    image_path: str
    passed: bool
    seconds: float
    accelerator: str
    checks: dict
    serial_log: str
    failed_check: str = None
    message: str = ''
    tail: tuple = ()
    kvm_probe: str = None
    manifest_path: str = None
    sha256: str = None  # of the image booted, when it has a manifest

    def record(self):
        data = {
            'result': 'pass' if self.passed else 'fail',
            'sha256': self.sha256,
            'seconds': self.seconds,
            'accelerator': self.accelerator,
            'checks': self.checks,
            'serial_log': self.serial_log,
            'verified_at': datetime.datetime.now(
                datetime.timezone.utc).isoformat(timespec='seconds'),
        }
        if self.failed_check:
            data['failed_check'] = self.failed_check
        if self.kvm_probe:
            data['kvm_probe'] = self.kvm_probe
        return data


def interruptible():
    """SIGINT/SIGTERM unwind the stack, so every `with` cleans up."""
    return signals.interrupting('; qemu stopped', once=True)


def _image_lock(image_path, work_dir):
    """The lock a build of this image takes (see build.execute).

    So neither replaces or boots the image under the other. An image
    without a manifest (not built here) or in a directory that is not
    ours to write gets its lock in work_dir: nothing is written beside
    it.
    """
    directory, name = os.path.split(os.path.splitext(image_path)[0])
    if not (os.path.exists(manifest.path_for(image_path)) and
            os.access(directory, os.W_OK)):
        directory = work_dir
    return lock.TargetLock(directory, name, busy='another build or verify '
                           'of %s is running (pid %%s)' % name)


def check_manifest(image_path, data):
    """The manifest must describe this very image file; its sha256."""
    sha256 = None
    if os.path.getsize(image_path) == data.get('size'):
        sha256 = manifest.sha256_file(image_path)
    if sha256 is None or sha256 != data.get('sha256'):
        raise errors.InputError(
            '%s does not match its manifest %s (modified or rebuilt?)'
            % (image_path, manifest.path_for(image_path)))
    return sha256


def guest_config(data, opts):
    """The instance verify pretends to be, from the image's manifest."""
    data = data or {}
    image = data.get('container_image') or ''
    repo = image.rsplit(':', 1)[0] if ':' in image.rsplit('/', 1)[-1] \
        else image
    return seed.GuestConfig(
        manager=data.get('manager') or opts.datastore_manager,
        datastore_version=(data.get('version_number') or
                           data.get('datastore_version') or 'verify'),
        docker_image=repo or None, owner=opts.injected_config_owner,
        service_wait=opts.service_wait)


def _expected_images(data):
    return [image for archive in (data or {}).get('container_images') or []
            for image in archive.get('images', [])]


def accelerators(choice, kvm_usable=None):
    """[(accelerator, probe?)], and a note on why KVM is not tried."""
    if choice == 'tcg':
        return [('tcg', False)], None
    usable, why = (kvm_usable or qemu.kvm_device_usable)()
    if choice == 'kvm':
        if not usable:
            raise errors.HostError('accelerator kvm requested, but %s' % why)
        return [('kvm', False)], None
    if not usable:
        return [('tcg', False)], why
    return [('kvm', True), ('tcg', False)], None


def _kvm_key(binary):
    try:
        with open('/proc/sys/kernel/random/boot_id') as f:
            boot_id = f.read().strip()
    except OSError:
        boot_id = None
    try:
        mtime = os.stat(binary).st_mtime_ns
    except OSError:
        mtime = None
    return {'boot_id': boot_id, 'qemu': binary, 'qemu_mtime': mtime}


def known_bad_kvm(work_dir, binary):
    """Why KVM failed earlier in this host boot, or None."""
    try:
        with open(os.path.join(work_dir, KVM_VERDICT)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get('key') == _kvm_key(binary):
        return data.get('reason')
    return None


def remember_bad_kvm(work_dir, binary, reason):
    path = os.path.join(work_dir, KVM_VERDICT)
    with open(path + '.tmp', 'w') as f:
        json.dump({'key': _kvm_key(binary), 'reason': reason}, f)
    os.replace(path + '.tmp', path)


def _watch(vm, follower, progress, nonce, started, deadline,
           probe_until=None, say=None):
    """Follow the console until a verdict; return why it stopped.

    'pass', 'fail', 'timeout', 'exited', or 'probe' (a KVM boot that did
    not reach userspace by probe_until).
    """
    userspace = False
    while True:
        exited = vm.poll() is not None
        now = time.monotonic()
        for line in follower.read_lines():
            event = console.parse(line, nonce)
            if event is None:
                continue
            if event.kind in ('userspace', 'marker'):
                userspace = True
            name = progress.feed(event, round(now - started, 1))
            if name:
                check = progress.checks[name]
                LOG.debug('check %s ok=%s seconds=%s detail=%s', name,
                          check.ok, check.seconds, check.detail,
                          extra={'check': name, 'ok': check.ok,
                                 'seconds': check.seconds})
            if name and say:
                say('[%4ds] %s %s %s' % (now - started, name,
                                         'ok' if check.ok else 'FAILED',
                                         check.detail))
        if progress.failed():
            return 'fail'
        if progress.passed():
            return 'pass'
        if progress.done:
            return 'fail'
        if exited:
            return 'exited'
        if probe_until and not userspace and now >= probe_until:
            return 'probe'
        if now >= deadline:
            return 'timeout'
        time.sleep(POLL_SECONDS)


def _serial_log_path(image_path, work_dir, has_manifest):
    """Beside a built image (with its build log); else in work_dir."""
    root = os.path.splitext(image_path)[0]
    if not has_manifest or not os.access(os.path.dirname(image_path),
                                         os.W_OK):
        root = os.path.join(work_dir, os.path.basename(root))
    return root + '.verify-console.log'


def run(image_path, opts, progress=None):
    """Boot image_path, run the checks, record and return the Result."""
    say = progress or (lambda msg: None)
    image_path = os.path.abspath(image_path)
    if not os.path.isfile(image_path):
        raise errors.InputError('image not found: %s' % image_path)
    os.makedirs(opts.work_dir, exist_ok=True)
    # Held from the first look at the file to the record: a build of the
    # same image waits (or is refused) meanwhile.
    with _image_lock(image_path, opts.work_dir):
        return _run_locked(image_path, opts, say)


def _run_locked(image_path, opts, say):
    image_format = qemu.image_format(image_path)
    if image_format == 'raw' and not qemu.has_boot_sector(image_path):
        raise errors.InputError('not a disk image (no boot sector): %s'
                                % image_path)
    data = manifest.read(image_path)
    sha256 = check_manifest(image_path, data) if data is not None else None
    binary = qemu.find_binary(opts.qemu)
    attempts, kvm_note = accelerators(opts.accelerator)
    if attempts[0] == ('kvm', True):
        reason = known_bad_kvm(opts.work_dir, binary)
        if reason:
            attempts = [('tcg', False)]
            kvm_note = 'KVM not tried: %s earlier in this host boot' % reason
            say(kvm_note)
    name = os.path.splitext(os.path.basename(image_path))[0]
    serial_log = _serial_log_path(image_path, opts.work_dir,
                                  data is not None)
    cfg = guest_config(data, opts)

    with interruptible():
        tmp = tempfile.mkdtemp(prefix='verify-%s-' % name,
                               dir=opts.work_dir)
        try:
            result = _boot_and_check(
                image_path, image_format, data, opts, cfg, binary,
                attempts, kvm_note, serial_log, tmp, say)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    result = dataclasses.replace(result, sha256=sha256)

    LOG.debug('verify %s result=%s seconds=%s accelerator=%s', image_path,
              'pass' if result.passed else 'fail', result.seconds,
              result.accelerator, extra={'verification': result.record()})
    if data is not None and opts.record:
        path = manifest.record_verification(image_path, result.record())
        if path:
            result = dataclasses.replace(result, manifest_path=path)
        else:
            say('%s changed during the verify: result not recorded'
                % image_path)
    elif data is None:
        say('no manifest beside %s: result not recorded' % image_path)
    return result


def _boot_and_check(image_path, image_format, data, opts, cfg, binary,
                    attempts, kvm_note, serial_log, tmp, say):
    seed_iso = seed.build(tmp, cfg, opts.seed)
    kvm_failure = None
    for accel, probe in attempts:
        root = qemu.create_overlay(image_path, image_format,
                                   os.path.join(tmp, 'root.qcow2'))
        volume = qemu.create_disk(os.path.join(tmp, 'volume.qcow2'),
                                  opts.volume_size)
        spec = qemu.Spec(root=root, seed=seed_iso, serial_log=serial_log,
                         accel=accel, memory=opts.memory, cpus=opts.cpus,
                         data_disk=volume, mac=cfg.mac,
                         ssh_port=opts.ssh_port, binary=binary,
                         name='tib-verify-%s' % cfg.nonce)
        # Never read a previous run's console as this one's.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(serial_log)
        follower = console.Follower(serial_log)
        checks = Progress(_expected_images(data))
        say('booting %s under %s%s; console: %s' % (
            os.path.basename(image_path), accel,
            ' (probing KVM for %ds)' % opts.kvm_probe_timeout
            if probe else '', serial_log))
        with qemu.Machine(spec, os.path.join(tmp, 'qemu.log')) as vm:
            started = time.monotonic()
            outcome = _watch(
                vm, follower, checks, cfg.nonce, started,
                deadline=started + opts.timeout,
                probe_until=(started + opts.kvm_probe_timeout
                             if probe else None),
                say=say)
            elapsed = round(time.monotonic() - started, 1)
            vm.stop()
            qemu_said = vm.errors_text()
            exit_code = vm.poll()
        if probe and outcome in ('probe', 'exited'):
            kvm_failure = 'KVM boot %s' % (
                'did not reach userspace in %ds' % opts.kvm_probe_timeout
                if outcome == 'probe' else
                'ended early (qemu: %s)' % (qemu_said or exit_code))
            kvm_note = kvm_failure + '; fell back to TCG'
            say(kvm_note)
            continue
        break
    if kvm_failure and checks.checks['kernel'].ok:
        # TCG ran the same image: KVM, not the image, was at fault.
        remember_bad_kvm(opts.work_dir, binary, kvm_failure)
    return _result(image_path, accel, outcome, checks, elapsed, serial_log,
                   follower, kvm_note, opts, qemu_said, exit_code)


def _result(image_path, accel, outcome, checks, elapsed, serial_log,
            follower, kvm_note, opts, qemu_said, exit_code):
    common = dict(image_path=image_path, accelerator=accel,
                  checks=checks.record(), serial_log=serial_log,
                  kvm_probe=kvm_note)
    if outcome == 'pass':
        ready = max(c.seconds for c in checks.checks.values())
        return Result(passed=True, seconds=ready, **common)
    failed = checks.failed()
    if failed:
        name, check = failed
        reason = check.detail
    else:
        name = checks.pending()
        if outcome == 'timeout':
            reason = 'no answer within %ds' % opts.timeout
        elif outcome == 'exited':
            reason = 'qemu exited (code %s) before the guest was ready%s' % (
                exit_code, ': ' + qemu_said if qemu_said else '')
        else:
            reason = 'the check script ended without reporting it'
    message = ('verify failed: %s: %s (after %ss under %s; serial log: %s)'
               % (name, reason, elapsed, accel, serial_log))
    return Result(passed=False, seconds=elapsed, failed_check=name,
                  message=message, tail=tuple(follower.last_lines()),
                  **common)
