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

"""Locks between processes on one host.

One kind of lock: an exclusive flock on a file that records the holder's
pid. flock is freed when its holder dies, so a killed run never leaves a
stale lock. The file is opened without following a symlink, and locks
that have no directory of their own live in one only this user (root,
for builds) can write to.
"""

import fcntl
import os
import time

from trove_image_builder import errors


def runtime_base():
    """Where this user's private directories go; never a shared /tmp.

    root: /run (root-only, cleared at boot); others: their
    $XDG_RUNTIME_DIR (0700), else ~/.cache. A predictable name in /tmp
    could be taken first by anyone.
    """
    if os.geteuid() == 0:
        return '/run'
    return os.environ.get('XDG_RUNTIME_DIR') or os.path.join(
        os.path.expanduser('~'), '.cache')


def private_dir(base=None):
    """<base>/trove-image-builder: created 0700, refused if foreign."""
    base = base or runtime_base()
    os.makedirs(base, mode=0o700, exist_ok=True)
    path = os.path.join(base, 'trove-image-builder')
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if (not os.path.isdir(path) or os.path.islink(path)
            or st.st_uid != os.geteuid() or st.st_mode & 0o077):
        raise errors.HostError('%s is not a directory of this user only '
                               '(mode 0700); remove it' % path)
    return path


class Lock:
    """An exclusive flock on path.

    When another process holds it: busy(holder pid) is called; it raises
    to give up, or returns to wait for the lock, at most wait_timeout
    seconds (None: for ever) before timed_out(holder pid) raises.
    """

    POLL = 1.0

    def __init__(self, path, busy, wait_timeout=None, timed_out=None):
        self.path = path
        self._busy = busy
        self._wait_timeout = wait_timeout
        self._timed_out = timed_out or refuse(
            'gave up waiting for the lock %s' % path)
        self._fd = None

    def __enter__(self):
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise errors.HostError('cannot open the lock %s: %s'
                                   % (self.path, exc.strerror))
        try:
            if os.fstat(fd).st_uid != os.geteuid():
                # Made by someone else in a directory they can write:
                # theirs to hold for ever, so not a lock of ours.
                raise errors.HostError('the lock %s belongs to another '
                                       'user; remove it' % self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._busy(self._holder(fd))
                self._wait(fd)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, b'%d\n' % os.getpid(), 0)
        self._fd = fd
        return self

    @staticmethod
    def _holder(fd):
        return os.pread(fd, 32, 0).decode(errors='replace').strip() or \
            'unknown'

    def _wait(self, fd):
        if self._wait_timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        # flock has no timeout: poll, a second at a time.
        deadline = time.monotonic() + self._wait_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._timed_out(self._holder(fd))
                    raise  # timed_out must raise
                time.sleep(min(self.POLL, max(
                    0.01, deadline - time.monotonic())))

    def __exit__(self, *exc):
        os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None
        return False


def refuse(message):
    """A busy callback that gives up with Busy(message)."""
    def busy(holder):
        raise errors.Busy(message)
    return busy


class TargetLock(Lock):
    """One build of an image at a time: a second one is refused."""

    def __init__(self, directory, name, busy=None):
        super().__init__(os.path.join(directory, '.%s.lock' % name),
                         self._refuse)
        self.name = name
        # busy: the refusal, with %s for the holder's pid.
        self._message = busy or (
            'another build of %s is running (pid %%s)' % name)

    def _refuse(self, holder):
        raise errors.Busy('%s; try again when it ends'
                          % (self._message % holder))


class SharedCacheLock(Lock):
    """Builds sharing DIB's image cache take turns.

    DIB shares its apt archive and debootstrap tarball between builds
    that use one cache directory; two at once fail on apt's lock or race
    on the tarball.
    """

    def __init__(self, cache_dir, on_wait=None, wait_timeout=None):
        super().__init__(
            os.path.join(cache_dir, '.trove-image-builder.lock'),
            on_wait or (lambda holder: None), wait_timeout,
            lambda holder: self._give_up(cache_dir, holder, wait_timeout))

    @staticmethod
    def _give_up(cache_dir, holder, seconds):
        raise errors.Busy('another build using %s (pid %s) still runs '
                          'after %d seconds; gave up waiting ([build] '
                          'cache_lock_timeout)' % (cache_dir, holder,
                                                   seconds))
