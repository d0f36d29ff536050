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

import os
import signal
import subprocess
import sys
import time
from unittest import mock

from tests.unit import base
from trove_image_builder import errors
from trove_image_builder.verify import qemu


def spec(**kw):
    values = dict(root='/w/root.qcow2', seed='/w/seed.iso',
                  serial_log='/w/serial.log', accel='tcg',
                  data_disk='/w/volume.qcow2', mac='fa:16:3e:01:02:03',
                  binary='/usr/bin/qemu-system-x86_64')
    values.update(kw)
    return qemu.Spec(**values)


def option(argv, flag):
    """Every value given to flag."""
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


class TestArgv(base.TestCase):

    def test_tcg_command_line(self):
        argv = qemu.argv(spec())
        self.assertEqual('/usr/bin/qemu-system-x86_64', argv[0])
        self.assertEqual(['tcg,tb-size=256'], option(argv, '-accel'))
        self.assertEqual([], option(argv, '-cpu'))  # qemu's default model
        self.assertEqual(['2048'], option(argv, '-m'))
        self.assertEqual(['2'], option(argv, '-smp'))
        for flag in ('-nodefaults', '-no-user-config', '-no-reboot'):
            self.assertIn(flag, argv)
        self.assertEqual(['none'], option(argv, '-display'))
        self.assertEqual(['file:/w/serial.log'], option(argv, '-serial'))

    def test_disks_order_root_volume_seed(self):
        argv = qemu.argv(spec())
        drives = option(argv, '-drive')
        self.assertEqual(3, len(drives))
        self.assertTrue(drives[0].startswith(
            'file=/w/root.qcow2,format=qcow2,if=none,id=root,'))
        self.assertTrue(drives[1].startswith('file=/w/volume.qcow2,'))
        self.assertIn('id=volume', drives[1])
        devices = option(argv, '-device')
        self.assertEqual(['virtio-blk-pci,drive=root,bootindex=0',
                          'virtio-blk-pci,drive=volume'], devices[:2])
        self.assertIn('media=cdrom', drives[2])
        self.assertIn('readonly=on', drives[2])
        self.assertIn('format=raw', drives[2])

    def test_no_data_disk(self):
        drives = option(qemu.argv(spec(data_disk=None)), '-drive')
        self.assertEqual(2, len(drives))

    def test_network_restricted_without_forwards(self):
        argv = qemu.argv(spec())
        self.assertEqual(['user,id=net0,restrict=on'],
                         option(argv, '-netdev'))
        self.assertIn('virtio-net-pci,netdev=net0,mac=fa:16:3e:01:02:03',
                      option(argv, '-device'))
        self.assertIn('virtio-rng-pci', option(argv, '-device'))

    def test_ssh_forward_only_on_loopback(self):
        netdev = option(qemu.argv(spec(ssh_port=2222)), '-netdev')[0]
        self.assertIn('restrict=on', netdev)
        self.assertIn('hostfwd=tcp:127.0.0.1:2222-:22', netdev)
        self.assertNotIn('0.0.0.0', netdev)

    def test_kvm_uses_host_cpu(self):
        argv = qemu.argv(spec(accel='kvm', memory=4096, cpus=4))
        self.assertEqual(['kvm'], option(argv, '-accel'))
        self.assertEqual(['host'], option(argv, '-cpu'))
        self.assertEqual(['4096'], option(argv, '-m'))

    def test_commas_in_paths_are_escaped(self):
        drives = option(qemu.argv(spec(root='/w/a,b.qcow2')), '-drive')
        self.assertTrue(drives[0].startswith('file=/w/a,,b.qcow2,'))

    def test_bad_accelerator(self):
        self.assertRaises(ValueError, qemu.argv, spec(accel='hvf'))


class TestHost(base.TestCase):

    def test_kvm_device_missing(self):
        ok, why = qemu.kvm_device_usable(os.path.join(self.tmp, 'kvm'))
        self.assertFalse(ok)
        self.assertIn('does not exist', why)

    def test_kvm_device_not_kvm(self):
        path = base.write(os.path.join(self.tmp, 'kvm'), 'x')
        ok, why = qemu.kvm_device_usable(path)
        self.assertFalse(ok)
        self.assertIn('KVM_GET_API_VERSION failed', why)

    def test_find_binary(self):
        with mock.patch('shutil.which', return_value=None):
            exc = self.assertRaises(errors.HostError, qemu.find_binary,
                                    None, 'x86_64')
        self.assertIn('qemu-system-x86_64 not found', str(exc))
        with mock.patch('shutil.which', side_effect=lambda n: '/b/' + n):
            self.assertEqual('/b/qemu-system-aarch64',
                             qemu.find_binary(None, 'aarch64'))
            self.assertEqual('/b/my-qemu', qemu.find_binary('my-qemu'))


class TestDisks(base.TestCase):

    def setUp(self):
        super().setUp()
        base.require_tool(self, 'qemu-img')

    def test_overlay_leaves_the_base_alone(self):
        base_img = qemu.create_disk(os.path.join(self.tmp, 'base.qcow2'), 1)
        before = os.stat(base_img)
        overlay = qemu.create_overlay(base_img, 'qcow2',
                                      os.path.join(self.tmp, 'o.qcow2'))
        info = subprocess.run(['qemu-img', 'info', '--output', 'json',
                               overlay], capture_output=True, text=True,
                              check=True).stdout
        self.assertIn('"backing-filename": "%s"' % base_img, info)
        # An overlay is what verify makes, never what it accepts.
        self.assertRaisesRegex(errors.InputError, 'backing file',
                               qemu.image_format, overlay)
        after = os.stat(base_img)
        self.assertEqual((before.st_size, before.st_mtime_ns),
                         (after.st_size, after.st_mtime_ns))

    def test_boot_sector(self):
        with open(os.path.join(self.tmp, 'disk'), 'wb') as f:
            f.write(b'\0' * 510 + b'\x55\xaa' + b'\0' * 512)
        self.assertTrue(qemu.has_boot_sector(f.name))
        text = base.write(os.path.join(self.tmp, 'text'), 'root:x:0:0\n')
        self.assertFalse(qemu.has_boot_sector(text))

    def test_image_format_of_a_non_image(self):
        path = base.write(os.path.join(self.tmp, 'x.qcow2'), 'hello')
        self.assertEqual('raw', qemu.image_format(path))
        self.assertRaises(errors.InputError, qemu.image_format,
                          os.path.join(self.tmp, 'missing'))


class TestMachine(base.TestCase):
    """A stand-in process shows the machine is always stopped."""

    def machine(self, script):
        m = qemu.Machine(spec(serial_log=os.path.join(self.tmp,
                                                      'serial.log')),
                         os.path.join(self.tmp, 'qemu.log'),
                         stop_timeout=2)
        m.argv = [sys.executable, '-c', script]
        return m

    def test_stopped_on_exit_of_the_block(self):
        m = self.machine('import time; time.sleep(60)')
        with m:
            self.assertIsNone(m.poll())
            pid = m.proc.pid
        self.assertIsNotNone(m.poll())
        self.assertRaises(ProcessLookupError, os.kill, pid, 0)

    def test_stopped_when_the_block_raises(self):
        m = self.machine('import time; time.sleep(60)')
        try:
            with m:
                raise errors.Interrupted('test')
        except errors.Interrupted:
            pass
        self.assertIsNotNone(m.poll())

    def test_killed_when_it_ignores_sigterm(self):
        m = self.machine('import signal, time\n'
                         'signal.signal(signal.SIGTERM, signal.SIG_IGN)\n'
                         'print("ready", flush=True)\ntime.sleep(60)')
        with m:
            deadline = time.monotonic() + 10
            while 'ready' not in m.errors_text() and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
        self.assertEqual(-signal.SIGKILL, m.poll())

    def test_own_session_and_errors_text(self):
        m = self.machine('import os, sys\n'
                         'sys.stderr.write("qemu: bad\\nthing\\n")\n'
                         'sys.exit(0 if os.getsid(0) == os.getpid() '
                         'else 3)')
        with m:
            m.proc.wait(10)
        self.assertEqual(0, m.poll())
        self.assertEqual('qemu: bad thing', m.errors_text())

    def test_console_and_stderr_logs_are_0640(self):
        # Opened as qemu opens -serial file:PATH (O_CREAT|O_TRUNC, 0666
        # less a umask of 022), over an older log left 0644.
        log = os.path.join(self.tmp, 'serial.log')
        with open(log, 'w') as f:
            f.write('an older run\n')
        os.chmod(log, 0o644)
        m = self.machine('import os, sys\n'
                         'os.umask(0o022)\n'
                         'fd = os.open(%r, os.O_WRONLY | os.O_CREAT | '
                         'os.O_TRUNC, 0o666)\n'
                         'os.write(fd, b"login: ")\n'
                         'sys.stderr.write("qemu: ok\\n")\n' % log)
        with m:
            m.proc.wait(10)
        for path in (log, m.stderr_path):
            self.assertEqual(0o640, os.stat(path).st_mode & 0o777, path)
        with open(log) as f:
            self.assertEqual('login: ', f.read())
