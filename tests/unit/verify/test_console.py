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

from tests.unit import base
from trove_image_builder.verify import console

NONCE = 'a1b2c3d4e5f6'


class TestParse(base.TestCase):

    def parse(self, line):
        return console.parse(line, NONCE)

    def test_kernel_and_userspace(self):
        ev = self.parse('[    0.000000] Linux version 6.1.0-28-amd64 '
                        '(debian-kernel@lists.debian.org) ...')
        self.assertEqual(('kernel', '6.1.0-28-amd64'), (ev.kind, ev.detail))
        for line in ('[    2.1] Run /sbin/init as init process',
                     '[    2.3] systemd[1]: Detected virtualization qemu.',
                     'Welcome to Debian GNU/Linux 12 (bookworm)!'):
            self.assertEqual('userspace', self.parse(line).kind, line)

    def test_panic(self):
        ev = self.parse('[    1.9] Kernel panic - not syncing: VFS: Unable '
                        'to mount root fs on unknown-block(0,0)')
        self.assertEqual('panic', ev.kind)
        self.assertIn('Unable to mount root fs', ev.detail)

    def test_check_markers(self):
        ev = self.parse('TIB-VERIFY %s guest-agent ok active: '
                        'ActiveState=active SubState=running' % NONCE)
        self.assertEqual(('marker', 'guest-agent', True), (ev.kind, ev.name,
                                                           ev.ok))
        self.assertEqual('active: ActiveState=active SubState=running',
                         ev.detail)
        ev = self.parse('TIB-VERIFY %s docker fail failed: Result=exit-code'
                        % NONCE)
        self.assertEqual((False, 'failed: Result=exit-code'),
                         (ev.ok, ev.detail))

    def test_marker_after_kernel_noise_on_the_same_line(self):
        ev = self.parse('[   31.2] random: crng init doneTIB-VERIFY %s '
                        'cloud-init ok status=done' % NONCE)
        self.assertEqual(('cloud-init', True), (ev.name, ev.ok))

    def test_image_lines(self):
        ev = self.parse('TIB-VERIFY %s image sha256:abc tib/bb:1' % NONCE)
        self.assertEqual(('image', 'sha256:abc tib/bb:1'),
                         (ev.name, ev.detail))
        self.assertEqual('done', self.parse('TIB-VERIFY %s done'
                                            % NONCE).name)

    def test_other_nonce_and_malformed_markers_are_ignored(self):
        for line in ('TIB-VERIFY 000000000000 docker ok active',
                     'TIB-VERIFY %s docker maybe' % NONCE,
                     'TIB-VERIFY %s' % NONCE,
                     'echo "TIB-VERIFY $nonce $*"',
                     'an ordinary line'):
            self.assertIsNone(self.parse(line), line)

    def test_clean(self):
        self.assertEqual('login:', console.clean(b'\x1b[0;1mlogin: \r'))
        self.assertEqual('ok', console.clean(b'o\x00k\r'))


class TestFollower(base.TestCase):

    def test_reads_complete_lines_as_the_file_grows(self):
        path = os.path.join(self.tmp, 'serial.log')
        follower = console.Follower(path, tail_lines=3)
        self.assertEqual([], follower.read_lines())  # not there yet
        with open(path, 'wb') as f:
            f.write(b'one\r\ntw')
        self.assertEqual(['one'], follower.read_lines())
        with open(path, 'ab') as f:
            f.write(b'o\n\nthree\nfour\nfiv')
        self.assertEqual(['two', 'three', 'four'], follower.read_lines())
        self.assertEqual([], follower.read_lines())
        self.assertEqual(['three', 'four', 'fiv'], follower.last_lines())

    def test_starts_over_when_the_file_is_truncated(self):
        path = base.write(os.path.join(self.tmp, 'serial.log'),
                          'old run line one\nold run line two\n')
        follower = console.Follower(path)
        self.assertEqual(2, len(follower.read_lines()))
        base.write(path, 'new\n')
        self.assertEqual(['new'], follower.read_lines())

    def test_invalid_utf8_does_not_break(self):
        path = os.path.join(self.tmp, 'serial.log')
        with open(path, 'wb') as f:
            f.write(b'\xff\xfeok\n')
        self.assertEqual(['\ufffd\ufffdok'],
                         console.Follower(path).read_lines())
