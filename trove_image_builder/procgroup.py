"""Signals to a child started in its own session (DIB, qemu)."""

import os


def signal(proc, signum):
    """Send signum to proc's whole process group, if it still exists."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass
