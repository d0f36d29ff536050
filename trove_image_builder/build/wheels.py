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

"""The guest agent's wheel cache, filled on the build host beside DIB.

In the chroot, trove-guest-agent's install.d step takes its wheelhouse
from the cache or fills it (trove-guest-agent-lib/wheelhouse.py, `pip
download`, one wheel after another), well after debootstrap. When this
host runs the guest's own OS release, its Python and C library are the
guest's, so the same script run here computes the guest's key and picks
the guest's wheels: it fills the wheelhouse from DIB's first second,
beside debootstrap. The script's lock makes the guest's step wait for a
fill in progress, then check and use it. A fill that fails costs
nothing: the guest's step fills the wheelhouse itself, as without this.
"""

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time

from trove_image_builder.build import host
from trove_image_builder import signals

HELPER = ('trove-guest-agent', 'trove-guest-agent-lib', 'wheelhouse.py')
# The interpreter the guest's step runs the helper with is the OS's own.
SYSTEM_PYTHON = '/usr/bin/python3'
# Where the fill's output waits, in the build's tmp dir, for the log.
OUTPUT = 'host-wheel-fill.log'
# pip variables of the caller kept in the fill's environment.
KEPT_PIP_ENV = {'PIP_INDEX_URL', 'PIP_DEFAULT_TIMEOUT', 'PIP_TIMEOUT',
                'PIP_RETRIES'}
# Opens the fill's block at the end of the build's log.
LOG_HEADER = '--- the guest agent\'s wheel cache, prepared on this host'


@dataclasses.dataclass(frozen=True)
class Fill:
    """wheelhouse.py prepare, run on this host as the guest would run it."""

    argv: tuple
    # Set on top of the caller's environment, which the chroot inherits
    # too; may hold an index URL with credentials, so never shown.
    env: dict = dataclasses.field(repr=False)

    def full_env(self, base=None):
        """The caller's environment without pip settings the key misses.

        Where pip looks (find-links, extra indexes: often paths on this
        host that the chroot lacks) would make these wheels differ from
        the guest's under the same key; the index URL the key records
        and pip's patience stay.
        """
        merged = {k: v for k, v in (os.environ if base is None
                                    else base).items()
                  if not k.startswith('PIP_') or k in KEPT_PIP_ENV}
        merged.update(self.env)
        return merged


def why_not(env, os_name, host_release, pythons):
    """Why the host cannot fill the guest's wheelhouse; None if it can.

    env: the DIB command's variables; host_release: this host's
    os-release fields; pythons: (this Python, the OS's python3), as
    implementation and version: the wheels' tags and the key's.
    """
    if env.get('DIB_TROVE_WHEEL_CACHE', '1') == '0':
        return 'the wheel cache is off'
    if env.get('DIB_TROVE_GUEST_AGENT_SOURCE'):
        return 'a source tree install fills its wheelhouse in the chroot'
    if not env.get('DIB_TROVE_GUEST_AGENT_VERSION'):
        return 'no agent version'
    guest = (os_name, env.get('DIB_RELEASE'))
    ours = (host_release.get('ID'), host_release.get('VERSION_CODENAME'))
    if ours != guest:
        return 'this host runs %s %s, the guest %s %s' % (ours + guest)
    if pythons[0] != pythons[1]:
        return 'this tool runs on %s, the OS\'s python3 is %s' % pythons
    return None


def interpreters():
    """(this Python, the OS's python3) as implementation and X.Y."""
    ours = '%s %d.%d' % ((sys.implementation.name,) + sys.version_info[:2])
    # /usr/bin/python3 links to python3.X: no need to run it.
    name = os.path.basename(os.path.realpath(SYSTEM_PYTHON))
    return ours, 'cpython %s' % name[len('python'):]


def host_fill(env, secrets, elements_dir, os_name, host_release=None,
              pythons=None):
    """The Fill that matches the guest's step for DIB's env, or None.

    secrets: the build's (path, text) pairs; an index URL with
    credentials is one (DIB_TROVE_PIP_INDEX_FILE names its path).
    """
    host_release = host.os_release() if host_release is None \
        else host_release
    pip = os.path.join(os.path.dirname(sys.executable), 'pip')
    if why_not(env, os_name, host_release, pythons or interpreters()) or \
            not os.access(pip, os.X_OK):
        return None
    argv = [sys.executable, '-I', os.path.join(elements_dir, *HELPER),
            'prepare',
            '--cache', os.path.join(env['DIB_IMAGE_CACHE'],
                                    host.WHEEL_CACHE),
            '--pip', pip,
            '--requirement', 'trove==%s'
            % env['DIB_TROVE_GUEST_AGENT_VERSION']]
    if env.get('DIB_TROVE_GUEST_AGENT_CONSTRAINTS'):
        argv += ['--constraints', env['DIB_TROVE_GUEST_AGENT_CONSTRAINTS']]
    # The chroot has no pip.conf: neither does this fill. What the
    # guest's step sets, this sets the same way.
    fill_env = {'PIP_CONFIG_FILE': os.devnull,
                'PIP_DISABLE_PIP_VERSION_CHECK': '1'}
    if env.get('DIB_TROVE_PIP_INDEX_URL'):
        url = env['DIB_TROVE_PIP_INDEX_URL']
        argv += ['--index-url', url, '--', '--index-url', url]
    index_file = env.get('DIB_TROVE_PIP_INDEX_FILE')
    for path, text in secrets:
        if path == index_file:
            fill_env['PIP_INDEX_URL'] = text
    if env.get('DIB_TROVE_PIP_CA_BUNDLE'):
        fill_env['PIP_CERT'] = env['DIB_TROVE_PIP_CA_BUNDLE']
        fill_env['REQUESTS_CA_BUNDLE'] = env['DIB_TROVE_PIP_CA_BUNDLE']
    return Fill(argv=tuple(argv), env=fill_env)


@contextlib.contextmanager
def filling(fill, log_path, tmp_dir, grace, say):
    """Run fill (None: nothing) for the block; its output ends in log_path.

    A fill still running when the block ends (DIB failed or stopped
    before the guest needed its wheels) is interrupted: the script
    removes its partial wheelhouse. A watchdog stops it should this
    tool be killed outright.
    """
    proc = None if fill is None else _start(fill, tmp_dir, say)
    if proc is None:
        yield
        return
    watchdog = signals.watch_group(proc, grace)
    started = time.time()
    say('filling the guest agent\'s wheel cache on this host beside DIB')
    try:
        yield
    finally:
        stopped = proc.poll() is None
        # SIGINT: the script removes its partial wheelhouse.
        signals.stop_group(proc, grace, signal.SIGINT)
        signals.unwatch(watchdog)
        _append(log_path, os.path.join(tmp_dir, OUTPUT), proc.returncode,
                stopped, started)


def _start(fill, tmp_dir, say):
    """The fill's process, its output going to tmp_dir; None if it failed."""
    try:
        with open(os.path.join(tmp_dir, OUTPUT), 'wb') as out:
            return subprocess.Popen(
                fill.argv, env=fill.full_env(), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
    except OSError as exc:
        # Only a head start lost: the guest's step fills it instead.
        say('cannot fill the wheel cache on this host (%s); the build '
            'fills it' % exc)
        return None


def _append(log_path, output, rc, stopped, started):
    """The fill's output as one block at the end of the build's log.

    Its time is until its last output (the file's mtime), which the
    helper writes as it ends: the block around it may last longer.
    """
    with open(output, 'rb') as f:
        text = f.read()
        seconds = max(0.0, os.fstat(f.fileno()).st_mtime - started)
    with open(log_path, 'ab') as log:
        log.write(('%s beside DIB: exit %d%s after %.1f s ---\n' % (
            LOG_HEADER, rc, ' (stopped when DIB ended)' if stopped else '',
            seconds)).encode())
        log.write(text)
        log.write(b'--- end of the host\'s wheel cache preparation ---\n')
