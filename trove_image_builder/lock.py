"""Locks between processes on one host (flock: freed when the holder
dies, so a killed build never leaves a stale lock)."""

import fcntl
import os

from trove_image_builder import errors


class _PidLock:
    """An exclusive flock on a file that records the holder's pid."""

    def __init__(self, path):
        self.path = path
        self._fd = None

    def _busy(self, fd, holder):
        """Called when another process holds the lock.

        Return to wait for it, raise to give up (fd is closed then).
        """
        raise NotImplementedError

    def __enter__(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors='replace')
                self._busy(fd, holder.strip() or 'unknown')
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, b'%d\n' % os.getpid(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc):
        os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None
        return False


class TargetLock(_PidLock):
    """One build of an image at a time: a second one is refused."""

    def __init__(self, directory, name):
        super().__init__(os.path.join(directory, '.%s.lock' % name))
        self.name = name

    def _busy(self, fd, holder):
        raise errors.Busy('another build of %s is running (pid %s); try '
                          'again when it ends' % (self.name, holder))


class SharedCacheLock(_PidLock):
    """Builds sharing DIB's image cache take turns.

    DIB shares its apt archive and debootstrap tarball between builds
    that use one cache directory; two at once fail on apt's lock or race
    on the tarball.
    """

    def __init__(self, cache_dir, on_wait=None):
        super().__init__(os.path.join(cache_dir,
                                      '.trove-image-builder.lock'))
        self._on_wait = on_wait

    def _busy(self, fd, holder):
        if self._on_wait:
            self._on_wait(holder)
