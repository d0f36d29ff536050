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
import subprocess
import sys
import time
from unittest import mock

import fixtures

from tests.unit import base
from trove_image_builder import errors
from trove_image_builder import lock


class TestLock(base.TestCase):

    def test_second_holder_refused(self):
        with lock.TargetLock(self.tmp, 'img'):
            e = self.assertRaises(errors.Busy,
                                  lock.TargetLock(self.tmp, 'img').__enter__)
            self.assertIn('another build of img is running (pid %d)'
                          % os.getpid(), str(e))
        with lock.TargetLock(self.tmp, 'img'):
            pass  # released: free again


class TestSharedCacheLock(base.TestCase):

    def test_second_holder_waits_until_free(self):
        holder = subprocess.Popen([
            sys.executable, '-c',
            'import sys, time\n'
            'from trove_image_builder import lock\n'
            'with lock.SharedCacheLock(sys.argv[1]):\n'
            '    print("held", flush=True)\n'
            '    time.sleep(1.5)\n', self.tmp],
            stdout=subprocess.PIPE, text=True)
        self.assertEqual('held', holder.stdout.readline().strip())
        waited = []
        started = time.monotonic()
        with lock.SharedCacheLock(self.tmp, on_wait=waited.append):
            elapsed = time.monotonic() - started
        holder.wait()
        self.assertEqual([str(holder.pid)], waited)
        self.assertGreater(elapsed, 0.5)

    def test_wait_is_bounded(self):
        holder = subprocess.Popen([
            sys.executable, '-c',
            'import sys, time\n'
            'from trove_image_builder import lock\n'
            'with lock.SharedCacheLock(sys.argv[1]):\n'
            '    print("held", flush=True)\n'
            '    time.sleep(30)\n', self.tmp],
            stdout=subprocess.PIPE, text=True)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.kill)
        self.assertEqual('held', holder.stdout.readline().strip())
        started = time.monotonic()
        e = self.assertRaises(errors.Busy, lock.SharedCacheLock(
            self.tmp, wait_timeout=0.3).__enter__)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual('another build using %s (pid %d) still runs after '
                         '0 seconds; gave up waiting ([build] '
                         'cache_lock_timeout)' % (self.tmp, holder.pid),
                         str(e))


class TestLockFile(base.TestCase):

    def test_a_symlink_is_not_followed(self):
        target = os.path.join(self.tmp, 'target')
        os.symlink(target, os.path.join(self.tmp, '.img.lock'))
        self.assertRaises(errors.HostError,
                          lock.TargetLock(self.tmp, 'img').__enter__)
        self.assertFalse(os.path.exists(target))

    def test_a_lock_file_of_another_user_is_refused(self):
        with lock.TargetLock(self.tmp, 'img'):
            pass
        with mock.patch('os.geteuid', return_value=os.geteuid() + 1):
            e = self.assertRaises(errors.HostError,
                                  lock.TargetLock(self.tmp, 'img').__enter__)
        self.assertIn('belongs to another user', str(e))

    def test_private_dirs_are_never_in_a_shared_tmp(self):
        with mock.patch('os.geteuid', return_value=0):
            self.assertEqual('/run', lock.runtime_base())
        runtime = os.path.join(self.tmp, 'xdg')
        self.useFixture(fixtures.EnvironmentVariable('XDG_RUNTIME_DIR',
                                                     runtime))
        with mock.patch('os.geteuid', return_value=1000):
            self.assertEqual(runtime, lock.runtime_base())
        self.useFixture(fixtures.EnvironmentVariable('XDG_RUNTIME_DIR'))
        self.useFixture(fixtures.EnvironmentVariable('HOME', self.tmp))
        with mock.patch('os.geteuid', return_value=1000):
            self.assertEqual(os.path.join(self.tmp, '.cache'),
                             lock.runtime_base())
        self.assertEqual(os.path.join(self.tmp, 'xdg', 'trove-image-builder'),
                         lock.private_dir(runtime))

    def test_private_dir_is_the_users_only(self):
        path = lock.private_dir(self.tmp)
        self.assertEqual(path, lock.private_dir(self.tmp))
        self.assertEqual(0o700, os.stat(path).st_mode & 0o777)
        os.chmod(path, 0o777)
        self.assertRaises(errors.HostError, lock.private_dir, self.tmp)
