"""qemu-img, the one tool every step uses to read image files."""

import json
import subprocess

from trove_image_builder import errors


def run(*args):
    """qemu-img ARGS, output captured; a missing qemu-img is a host error."""
    try:
        return subprocess.run(('qemu-img',) + args, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise errors.HostError('qemu-img not runnable (apt-get install '
                               'qemu-utils): %s' % exc)


def last_line(text):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else 'no details'


def info(path, error=errors.InputError):
    """`qemu-img info` of path as a dict; failures raise error."""
    res = run('info', '--output', 'json', path)
    if res.returncode != 0:
        raise error('qemu-img cannot read %s: %s'
                    % (path, last_line(res.stderr)))
    try:
        return json.loads(res.stdout)
    except ValueError:
        raise error('qemu-img info gave no JSON for %s' % path)
