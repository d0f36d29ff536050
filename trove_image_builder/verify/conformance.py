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

"""verify --conformance: Trove's own RPC client prepares a database.

    image + manifest -> the datastore's container image embedded?
        -> a venv with the image's own trove release (client side)
        -> a private RabbitMQ on 127.0.0.1 (or --transport-url)
        -> config drive: guest_info.conf (instance key) and
           trove-guestagent.conf (the broker as the guest reaches it)
        -> qemu: user network with restrict=on; the broker through one
           socat per guest connection, the database port on 127.0.0.1
        -> conformance_driver.py in that venv: rpc_ping, prepare (config
           and payloads from Trove's own code), healthy heartbeat and
           notify_end, volume, create_database, create_user, list, root,
           and a real client's create/insert/select through the port
        -> Result, recorded in the manifest under "conformance"

qemu, the broker and the driver are stopped on every way out.
"""

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import queue
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from trove_image_builder import catalog as catalog_mod
from trove_image_builder import conf as conf_mod
from trove_image_builder import datafiles
from trove_image_builder import errors
from trove_image_builder import imagefile
from trove_image_builder import lock
from trove_image_builder import manifest
from trove_image_builder import signals
from trove_image_builder import verify
from trove_image_builder.verify import broker as broker_mod
from trove_image_builder.verify import console
from trove_image_builder.verify import qemu
from trove_image_builder.verify import seed

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'conformance_driver.py')
STEPS = ('listener', 'rpc_ping', 'prepare', 'volume', 'create_database',
         'create_user', 'list', 'root', 'client')
# Trove 26's PostgreSQL agent has no is_root_enabled (its admin class
# lacks it; Trove's API does not ask it either): no root step there.
NO_ROOT_STEP = ('postgresql',)

# Where the guest finds the broker: an address of qemu's user network
# that only exists as this forward.
GUEST_BROKER = ('10.0.2.100', 5672)
DB_PORTS = {'mysql': 3306, 'mariadb': 3306, 'postgresql': 5432}
VENV_TIMEOUT = 1800
SOCAT_HINT = 'socat not found (apt-get install socat)'


def steps_for(manager):
    """The steps the check runs for a datastore manager, in order."""
    return tuple(s for s in STEPS
                 if not (s == 'root' and manager in NO_ROOT_STEP))


@dataclasses.dataclass(frozen=True)
class Options(verify.Options):
    """[conformance] settings on top of the [verify] ones a boot needs."""

    volume_size: int = conf_mod.option('conformance.volume_size')
    boot_timeout: int = conf_mod.option('conformance.boot_timeout')
    prepare_timeout: int = conf_mod.option('conformance.prepare_timeout')
    call_timeout: int = conf_mod.option('conformance.call_timeout')
    state_wait: int = conf_mod.option('conformance.state_wait')
    flavor_ram: int = conf_mod.option('conformance.flavor_ram')
    transport_url: str = conf_mod.option('conformance.transport_url')
    docker_image: str = conf_mod.option('conformance.docker_image')
    control_exchange: str = conf_mod.option('conformance.control_exchange')
    venv_dir: str = conf_mod.option('conformance.venv_dir')
    cache_dir: str = conf_mod.option('build.cache_dir')

    @property
    def client_venvs(self):
        """Where the venvs holding the image's trove release live."""
        return self.venv_dir or os.path.join(self.cache_dir, 'conformance')


@dataclasses.dataclass(frozen=True)
class Target:
    """The datastore version the check prepares."""

    datastore: str
    version: str
    version_number: str
    manager: str
    docker_image: str     # repository; the agent runs <it>:<number>

    @property
    def container_ref(self):
        return '%s:%s' % (self.docker_image, self.version_number)


@dataclasses.dataclass(frozen=True)
class Result:
    image_path: str
    passed: bool
    seconds: float
    accelerator: str
    steps: list
    serial_log: str
    trove_version: str
    image_sha256: str
    target: Target
    peak_rss_mib: tuple = ()  # (process, MiB) pairs
    failed_step: str = None
    message: str = ''
    tail: tuple = ()
    manifest_path: str = None

    def record(self):
        data = {'result': 'pass' if self.passed else 'fail',
                'seconds': self.seconds, 'accelerator': self.accelerator,
                'steps': self.steps, 'serial_log': self.serial_log,
                'trove_version': self.trove_version,
                'image_sha256': self.image_sha256,
                'datastore': self.target.datastore,
                'datastore_version': self.target.version,
                'container_image': self.target.container_ref,
                'peak_rss_mib': dict(self.peak_rss_mib),
                'verified_at': datetime.datetime.now(
                    datetime.timezone.utc).isoformat(timespec='seconds')}
        if self.failed_step:
            data['failed_step'] = self.failed_step
            data['message'] = self.message
        return data


def resolve_target(catalog, spec, data, docker_image=None):
    datastore, version = catalog_mod.split_spec(spec)
    if version is None and data and data.get('datastore') == datastore:
        version = data.get('datastore_version')
    ver = catalog.datastore(datastore).version(version)
    repo = ver.container_image.rsplit(':', 1)[0] \
        if ':' in ver.container_image.rsplit('/', 1)[-1] \
        else ver.container_image
    return Target(datastore=ver.datastore, version=ver.name,
                  version_number=ver.version_number, manager=ver.manager,
                  docker_image=docker_image or repo)


def embedded_refs(data):
    return sorted({tag for archive in (data or {}).get('container_images')
                   or [] for image in archive.get('images', [])
                   for tag in image.get('tags', [])})


def check_container_image(target, data):
    """Fail before booting when the agent would have to pull."""
    refs = embedded_refs(data)
    if target.container_ref not in refs:
        raise errors.VerifyFailed(
            'conformance failed at container-image: %s is not embedded in '
            'the image (it has: %s), so the agent would try to pull it; '
            'make it with `container-image build %s:%s` and embed it with '
            'build --embed-container-image' % (
                target.container_ref, ', '.join(refs) or 'none',
                target.datastore, target.version))


def agent_source(data):
    """(pip requirement, venv name) of the trove release in the image."""
    agent = (data or {}).get('guest_agent') or {}
    if agent.get('mode') == 'dev':
        src = agent.get('source')
        if not src or not os.path.isdir(src):
            raise errors.InputError(
                'the image\'s agent came from %s, which is gone: the '
                'client needs the same tree' % src)
        key = hashlib.sha256(('%s %s' % (src, agent.get('version')))
                             .encode()).hexdigest()[:12]
        return src, 'trove-dev-%s' % key
    version = agent.get('version')
    if not version:
        raise errors.InputError('the manifest does not say which trove '
                                'release the image\'s agent is')
    return 'trove==%s' % version, 'trove-%s' % version


def client_venv(venv_dir, requirement, name, say):
    """A venv holding the image's trove release; made once, then reused."""
    os.makedirs(venv_dir, mode=0o700, exist_ok=True)
    path = os.path.join(venv_dir, name)
    done = os.path.join(path, '.tib-complete')
    # Another check preparing the same venv: wait for it (bounded by the
    # time an install may take), then reuse what it made.
    with lock.Lock(os.path.join(venv_dir, '.%s.lock' % name),
                   lambda holder: say('waiting for pid %s, which is '
                                      'preparing %s' % (holder, path)),
                   wait_timeout=VENV_TIMEOUT,
                   timed_out=lock.refuse('another check still prepares %s '
                                         'after %ds' % (path, VENV_TIMEOUT))):
        if os.path.isfile(done):
            return path
        say('installing %s into %s (once)' % (requirement, path))
        shutil.rmtree(path, ignore_errors=True)
        # A venv of its own (made from the base interpreter), so the
        # client's trove and its pins never meet this tool's.
        for argv in ([sys.executable, '-m', 'venv', path],
                     [os.path.join(path, 'bin', 'pip'), 'install', '-q',
                      '--disable-pip-version-check', '-c',
                      datafiles.constraints_file(), requirement]):
            try:
                out = subprocess.run(argv, capture_output=True, text=True,
                                     timeout=VENV_TIMEOUT,
                                     stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise errors.HostError('installing %s took longer than %ds'
                                       % (requirement, VENV_TIMEOUT))
            if out.returncode != 0:
                shutil.rmtree(path, ignore_errors=True)
                raise errors.HostError('installing %s failed: %s' % (
                    requirement, imagefile.last_line(out.stderr)))
        with open(done, 'w') as f:
            f.write(requirement + '\n')
    return path


def random_key():
    """An instance key like the taskmanager's (32 letters and digits)."""
    chars = string.ascii_letters + string.digits
    return ''.join(secrets.choice(chars) for _ in range(32))


def guest_config(target, opts, transport_url, key):
    return seed.GuestConfig(
        manager=target.manager, datastore_version=target.version_number,
        docker_image=target.docker_image, owner=opts.injected_config_owner,
        transport_url=transport_url, rpc_key=key, checks=False,
        agent_options=(('state_change_wait_time', opts.state_wait),),
        hostname='tib-conformance')


def driver_params(target, opts, cfg, transport_url, db_port):
    """What the driver gets (a 0600 file): the taskmanager's view."""
    return {
        'transport_url': transport_url,
        'control_exchange': opts.control_exchange,
        'guest_id': cfg.guest_id, 'tenant_id': cfg.tenant_id,
        'key': cfg.rpc_key, 'datastore': target.datastore,
        'manager': target.manager, 'version': target.version,
        'version_number': target.version_number,
        'ram_mb': opts.flavor_ram, 'device_path': '/dev/vdb',
        'mount_point': ('/var/lib/postgresql'
                        if target.manager == 'postgresql'
                        else '/var/lib/mysql'),
        'db_port': db_port, 'boot_timeout': opts.boot_timeout,
        'ping_timeout': 10, 'prepare_timeout': opts.prepare_timeout,
        'call_timeout': opts.call_timeout, 'database': 'tibdb',
        'user': 'tibuser', 'password': secrets.token_urlsafe(12),
        'steps': list(steps_for(target.manager)),
    }


def _write_secret(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(data, f)


class Driver:
    """conformance_driver.py in the client venv, its lines on a queue."""

    def __init__(self, venv, params_path, log_path):
        self.argv = [os.path.join(venv, 'bin', 'python'), DRIVER,
                     params_path]
        self.log_path = log_path
        self.lines = queue.Queue()
        self.proc = None

    def start(self):
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=log, start_new_session=True,
                preexec_fn=signals.die_with_parent)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        for raw in self.proc.stdout:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                continue
        self.lines.put(None)

    def stop(self):
        if self.proc:
            signals.stop_group(self.proc, 10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


@contextlib.contextmanager
def _broker(opts, tmp):
    if opts.transport_url:
        yield opts.transport_url, None
        return
    with broker_mod.Broker(tmp) as node:
        yield node.url(), node


def _guest_url(host_url):
    """The host's broker URL as the guest reaches it (the forward)."""
    parts = urllib.parse.urlsplit(host_url)
    netloc = '%s@%s:%d' % (parts.netloc.rpartition('@')[0], *GUEST_BROKER) \
        if '@' in parts.netloc else '%s:%d' % GUEST_BROKER
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _broker_address(host_url):
    parts = urllib.parse.urlsplit(host_url)
    return parts.hostname or '127.0.0.1', parts.port or 5672


def run(image_path, spec, opts, catalog, progress=None):
    """Boot image_path, drive its agent through prepare; return a Result."""
    say = progress or (lambda msg: None)
    image_path = os.path.abspath(image_path)
    if not os.path.isfile(image_path):
        raise errors.InputError('image not found: %s' % image_path)
    if not shutil.which('socat'):
        raise errors.HostError(SOCAT_HINT)
    if not opts.transport_url:
        broker_mod.find_server()
    image_format = qemu.image_format(image_path)
    data = manifest.read(image_path)
    if data is None:
        raise errors.InputError('%s has no manifest beside it: conformance '
                                'needs to know its agent and container '
                                'images' % image_path)
    verify.check_manifest(image_path, data)
    target = resolve_target(catalog, spec, data, opts.docker_image)
    check_container_image(target, data)
    requirement, venv_name = agent_source(data)
    binary = qemu.find_binary(opts.qemu)
    os.makedirs(opts.work_dir, exist_ok=True)
    venv = client_venv(opts.client_venvs, requirement, venv_name, say)
    attempts = _attempts(opts, binary, say)
    name = os.path.splitext(os.path.basename(image_path))[0]
    serial_log = os.path.splitext(image_path)[0] + '.conformance-console.log'
    if not os.access(os.path.dirname(image_path), os.W_OK):
        serial_log = os.path.join(opts.work_dir, name +
                                  '.conformance-console.log')

    with verify.interruptible():
        tmp = tempfile.mkdtemp(prefix='conformance-%s-' % name,
                               dir=opts.work_dir)
        try:
            result = _run_in(tmp, image_path, image_format, data, target,
                             opts, venv, binary, attempts, serial_log, say)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if opts.record:
        path = manifest.update(image_path, conformance=result.record())
        result = dataclasses.replace(result, manifest_path=path)
    return result


def _attempts(opts, binary, say):
    """[(accelerator, probe?)] as verify chooses them."""
    attempts, note = verify.accelerators(opts.accelerator)
    if attempts[0] == ('kvm', True):
        reason = verify.known_bad_kvm(opts.work_dir, binary)
        if reason:
            attempts, note = [('tcg', False)], 'KVM not tried: %s' % reason
    if note:
        say(note)
    return attempts


def _reached_userspace(vm, follower, nonce, until):
    """True once the console shows the init system, False at until."""
    while time.monotonic() < until and vm.poll() is None:
        for line in follower.read_lines():
            event = console.parse(line, nonce)
            if event is not None and event.kind in ('userspace', 'marker'):
                return True
        time.sleep(0.5)
    return False


def _run_in(tmp, image_path, image_format, data, target, opts, venv, binary,
            attempts, serial_log, say):
    db_port = broker_mod.free_port()
    with _broker(opts, tmp) as (host_url, node):
        if node:
            say('broker: private RabbitMQ on 127.0.0.1:%d' % node.port)
        cfg = guest_config(target, opts, _guest_url(host_url), random_key())
        params = driver_params(target, opts, cfg, host_url, db_port)
        params_path = os.path.join(tmp, 'driver', 'params.json')
        os.makedirs(os.path.dirname(params_path), mode=0o700)
        _write_secret(params_path, params)
        seed_iso = seed.build(tmp, cfg, seed.CONFIG_DRIVE)
        broker_host, broker_port = _broker_address(host_url)
        driver_log = os.path.join(tmp, 'driver', 'driver.log')
        kvm_failure = None
        for accel, probe in attempts:
            spec = qemu.Spec(
                root=qemu.create_overlay(image_path, image_format,
                                         os.path.join(tmp, 'root.qcow2')),
                seed=seed_iso, serial_log=serial_log, accel=accel,
                memory=opts.memory, cpus=opts.cpus,
                data_disk=qemu.create_disk(
                    os.path.join(tmp, 'volume.qcow2'), opts.volume_size),
                mac=cfg.mac, binary=binary,
                name='tib-conformance-%s' % cfg.nonce,
                host_forwards=((db_port, DB_PORTS[target.manager]),),
                guest_forwards=((GUEST_BROKER[0], GUEST_BROKER[1],
                                 'socat STDIO TCP:%s:%d' % (broker_host,
                                                            broker_port)),))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(serial_log)
            follower = console.Follower(serial_log)
            say('booting %s under %s; console: %s' % (
                os.path.basename(image_path), accel, serial_log))
            with qemu.Machine(spec, os.path.join(tmp, 'qemu.log')) as vm:
                started = time.monotonic()
                if probe and not _reached_userspace(
                        vm, follower, cfg.nonce,
                        started + opts.kvm_probe_timeout):
                    kvm_failure = ('KVM boot did not reach userspace in %ds'
                                   % opts.kvm_probe_timeout)
                    say(kvm_failure + '; falling back to TCG')
                    continue
                with Driver(venv, params_path, driver_log) as driver:
                    steps, failed = _follow(driver, vm, started, opts, say,
                                            steps_for(target.manager))
                elapsed = round(time.monotonic() - started, 1)
                peaks = (('qemu', broker_mod.peak_rss_mib(vm.proc.pid)),)
                if node:
                    peaks += (('broker', node.peak_rss_mib()),)
                qemu_said = vm.errors_text()
            break
    if kvm_failure and steps:
        # TCG ran the same image: KVM, not the image, was at fault.
        verify.remember_bad_kvm(opts.work_dir, binary, kvm_failure)
    return _result(image_path, data, target, accel, steps, failed, elapsed,
                   serial_log, follower, qemu_said, driver_log, peaks)


def _follow(driver, vm, started, opts, say, expected=STEPS):
    """Collect the driver's steps until it ends; (steps, failed step)."""
    deadline = started + opts.boot_timeout + opts.prepare_timeout + \
        6 * opts.call_timeout
    steps = []
    while True:
        try:
            line = driver.lines.get(timeout=1)
        except queue.Empty:
            line = False
        now = time.monotonic()
        if line is None:
            return steps, {'step': _pending(steps, expected), 'detail':
                           'the driver ended (exit %s) without a verdict'
                           % driver.proc.wait()}
        if line and 'step' in line:
            step = dict(line, seconds=round(now - started, 1))
            step.pop('t', None)
            steps.append(step)
            say('[%4ds] %s %s %s' % (now - started, step['step'],
                                     'ok' if step['ok'] else 'FAILED',
                                     step.get('detail', '')))
            if not step['ok']:
                return steps, step
        elif line and line.get('event') == 'heartbeat':
            say('[%4ds] heartbeat %s' % (now - started, line['status']))
        elif line and line.get('result') == 'pass':
            return steps, None
        if vm.poll() is not None:
            return steps, {'step': _pending(steps, expected), 'detail':
                           'qemu exited (code %s)' % vm.poll()}
        if now > deadline:
            return steps, {'step': _pending(steps, expected), 'detail':
                           'no verdict within %ds' % (deadline - started)}


def _pending(steps, expected=STEPS):
    done = {s['step'] for s in steps}
    for name in expected:
        if name not in done:
            return name
    return expected[-1]


def _trove_version(data):
    return ((data or {}).get('guest_agent') or {}).get('version')


def _result(image_path, data, target, accel, steps, failed, elapsed,
            serial_log, follower, qemu_said, driver_log, peaks=()):
    common = dict(image_path=image_path, accelerator=accel, steps=steps,
                  serial_log=serial_log, trove_version=_trove_version(data),
                  image_sha256=data.get('sha256'), target=target,
                  seconds=elapsed, peak_rss_mib=peaks)
    if failed is None:
        return Result(passed=True, **common)
    detail = failed.get('detail', '')
    if failed.get('step') == 'listener' or 'driver ended' in detail:
        detail += '; driver: %s' % _log_tail(driver_log)
    if qemu_said and 'qemu exited' in detail:
        detail += ': ' + qemu_said
    message = ('conformance failed at %s: %s (after %ss under %s; serial '
               'log: %s)' % (failed['step'], detail, elapsed, accel,
                             serial_log))
    return Result(passed=False, failed_step=failed['step'], message=message,
                  tail=tuple(follower.last_lines()), **common)


def _log_tail(path):
    try:
        with open(path, errors='replace') as f:
            return imagefile.last_line(f.read())[-300:]
    except OSError:
        return 'no output'


def load_catalog(conf):
    return catalog_mod.Catalog.load(datafiles.elements_dir(
        conf.build.elements_dir))
