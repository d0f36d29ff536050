"""One build per target at a time, across processes."""

import fcntl
import os

from trove_image_builder import errors


class TargetLock:
    """An exclusive, non-blocking flock on <dir>/.<name>.lock.

    The kernel drops the lock when the holder dies, so a killed build
    never leaves a stale lock behind.
    """

    def __init__(self, directory, name):
        self.path = os.path.join(directory, '.%s.lock' % name)
        self._fd = None

    def __enter__(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors='replace').strip()
            os.close(fd)
            raise errors.Busy(
                'another build of %s is running (pid %s); try again when '
                'it ends' % (os.path.basename(self.path)[1:-5],
                             holder or 'unknown'))
        os.ftruncate(fd, 0)
        os.pwrite(fd, b'%d\n' % os.getpid(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc):
        os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None
        return False
