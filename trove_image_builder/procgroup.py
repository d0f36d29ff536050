"""Signals to a child started in its own session (DIB, qemu, a broker)."""

import ctypes
import os
import signal as _signal

_PR_SET_PDEATHSIG = 1


def signal(proc, signum):
    """Send signum to proc's whole process group, if it still exists."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def die_with_parent():
    """preexec_fn: the kernel kills the child if this process dies.

    Covers what no handler can: this tool killed outright (SIGKILL).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0)
