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

"""qemu for verify: disks, the command line, and a VM that always stops.

The image under test is only ever a read-only backing file: the guest
writes to a throw-away qcow2 overlay. The guest's network is qemu's
user-mode stack with restrict=on (no packet leaves the host); host ports
are only ever opened on 127.0.0.1 (an optional ssh forward, the
conformance check's database port), and the guest reaches the host only
through commands named in guest_forwards (the conformance check's
broker).
"""

import dataclasses
import fcntl
import logging
import os
import platform
import shutil
import subprocess

from trove_image_builder import conf as conf_mod
from trove_image_builder import errors
from trove_image_builder import imagefile
from trove_image_builder import manifest
from trove_image_builder import signals

LOG = logging.getLogger(__name__)

KVM_DEVICE = '/dev/kvm'
_KVM_GET_API_VERSION = 0xAE00
_KVM_API_VERSION = 12
STOP_TIMEOUT = 10
TCG_TB_MIB = 256


@dataclasses.dataclass(frozen=True)
class Spec:
    """Everything one qemu run is made of."""

    root: str            # qcow2 overlay over the image under test
    seed: str            # config drive / NoCloud ISO
    serial_log: str
    accel: str           # 'kvm' or 'tcg'
    memory: int = conf_mod.default('verify.memory')  # MiB
    cpus: int = conf_mod.default('verify.cpus')
    data_disk: str = None
    mac: str = 'fa:16:3e:00:00:01'
    ssh_port: int = None
    binary: str = 'qemu-system-x86_64'
    name: str = 'tib-verify'
    # (host port on 127.0.0.1, guest port) pairs forwarded into the guest.
    host_forwards: tuple = ()
    # (guest address, guest port, host command) triples: a guest
    # connection to address:port runs the command with the connection on
    # its stdin/stdout (one command per connection).
    guest_forwards: tuple = ()


def _opt(value):
    """A value inside a qemu option list: commas are doubled."""
    return str(value).replace(',', ',,')


def argv(spec):
    """The qemu command line for spec."""
    if spec.accel not in ('kvm', 'tcg'):
        raise ValueError('accelerator must be kvm or tcg: %r' % spec.accel)
    netdev = 'user,id=net0,restrict=on'
    forwards = list(spec.host_forwards)
    if spec.ssh_port:
        forwards.append((spec.ssh_port, 22))
    for host_port, guest_port in forwards:
        netdev += ',hostfwd=tcp:127.0.0.1:%d-:%d' % (int(host_port),
                                                     int(guest_port))
    for address, port, command in spec.guest_forwards:
        netdev += ',guestfwd=tcp:%s:%d-cmd:%s' % (address, int(port),
                                                  _opt(command))
    args = [
        spec.binary, '-name', _opt(spec.name),
        '-machine', 'pc',
        # TCG's translation cache defaults to 1 GiB on top of the guest's
        # memory; a quarter of that keeps a 2 GiB guest near 2.5 GiB.
        '-accel', 'tcg,tb-size=%d' % TCG_TB_MIB if spec.accel == 'tcg'
        else spec.accel,
    ]
    if spec.accel == 'kvm':
        # The host's CPU model; TCG keeps qemu's default model.
        args += ['-cpu', 'host']
    args += [
        '-m', str(spec.memory), '-smp', str(spec.cpus),
        '-nodefaults', '-no-user-config', '-display', 'none',
        # A guest reboot or poweroff ends the run instead of looping.
        '-no-reboot',
        # Throw-away disks: no flushes (cache=unsafe). The root disk is
        # the boot disk; the volume (vdb) gets no boot index.
        '-drive', 'file=%s,format=qcow2,if=none,id=root,cache=unsafe'
                  % _opt(spec.root),
        '-device', 'virtio-blk-pci,drive=root,bootindex=0',
    ]
    if spec.data_disk:
        args += ['-drive', 'file=%s,format=qcow2,if=none,id=volume,'
                 'cache=unsafe' % _opt(spec.data_disk),
                 '-device', 'virtio-blk-pci,drive=volume']
    args += [
        '-drive', 'file=%s,format=raw,if=ide,media=cdrom,readonly=on'
                  % _opt(spec.seed),
        '-netdev', netdev,
        '-device', 'virtio-net-pci,netdev=net0,mac=%s' % spec.mac,
        '-device', 'virtio-rng-pci',
        '-serial', 'file:%s' % spec.serial_log,
    ]
    return args


def find_binary(configured=None, machine=None):
    name = configured or 'qemu-system-%s' % (machine or platform.machine())
    found = shutil.which(name)
    if not found:
        raise errors.HostError('%s not found (apt-get install '
                               'qemu-system-x86)' % name)
    return found


def kvm_device_usable(path=KVM_DEVICE):
    """(True, '') when path answers KVM's API ioctl, else (False, why).

    This cannot tell a KVM that hangs guests from one that works; the
    boot probe in verify does that.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False, '%s does not exist' % path
    except OSError as exc:
        return False, 'cannot open %s: %s' % (path, exc.strerror)
    try:
        version = fcntl.ioctl(fd, _KVM_GET_API_VERSION)
    except OSError as exc:
        return False, '%s: KVM_GET_API_VERSION failed: %s' % (
            path, exc.strerror)
    finally:
        os.close(fd)
    if version != _KVM_API_VERSION:
        return False, '%s: KVM API version %s' % (path, version)
    return True, ''


def image_format(path):
    """The format of an image about to be booted (verify, conformance).

    Only once it passed the checks every step makes: no backing or data
    file, and the format its manifest declares, if it has one.
    """
    declared = (manifest.read(path) or {}).get('format')
    return imagefile.check_file(path, declared)


def has_boot_sector(path):
    # MBR and GPT disks (its protective MBR) both end sector 0 so.
    with open(path, 'rb') as f:
        sector = f.read(512)
    return len(sector) == 512 and sector[510:] == b'\x55\xaa'


def create_overlay(base, base_format, path):
    """A qcow2 file that records every guest write; base stays as is."""
    _qemu_img('create', '-q', '-f', 'qcow2', '-F', base_format,
              '-b', os.path.abspath(base), path)
    return path


def create_disk(path, size_gib):
    _qemu_img('create', '-q', '-f', 'qcow2', path, '%dG' % size_gib)
    return path


def _qemu_img(*args):
    out = imagefile.run(*args)
    if out.returncode != 0:
        raise errors.HostError('qemu-img %s failed: %s'
                               % (args[0], out.stderr.strip()))


class Machine:
    """A running qemu; a context manager that always stops it.

    qemu runs in its own session (a Ctrl-C on the terminal reaches only
    this tool, which then stops qemu) and dies with this process.
    """

    def __init__(self, spec, stderr_path, stop_timeout=STOP_TIMEOUT):
        self.spec = spec
        self.argv = argv(spec)
        self.stderr_path = stderr_path
        self.stop_timeout = stop_timeout
        self.proc = None

    def start(self):
        LOG.debug('starting qemu: %s', ' '.join(self.argv))
        # qemu creates the serial log with its umask (0644 as a rule) and
        # keeps an existing file's mode: made first, it stays 0640 (the
        # console shows what the guest prints, credentials included).
        with imagefile.open_private(self.spec.serial_log, 'wb'):
            pass
        with imagefile.open_private(self.stderr_path, 'wb') as err:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=err,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=signals.die_with_parent)
        return self

    def poll(self):
        """qemu's exit code, or None while it runs."""
        return self.proc.poll() if self.proc else None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        signals.stop_group(self.proc, self.stop_timeout)
        LOG.debug('qemu stopped (exit code %s)', self.proc.returncode)

    def errors_text(self):
        """qemu's own messages (not the guest's), one line."""
        try:
            with open(self.stderr_path, errors='replace') as f:
                return ' '.join(f.read().split())[-500:]
        except OSError:
            return ''

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
