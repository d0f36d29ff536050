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

"""A throw-away RabbitMQ node for the guest conformance check.

Debian's rabbitmq-server runs as a child of this process with every file
of its own (config, database, logs, Erlang cookie) in a private 0700
directory, every socket on 127.0.0.1 (AMQP, the Erlang distribution port
and its own epmd), and one user whose random password lives only in that
directory. Stopping it (on every way out) ends the node and its epmd and
removes the directory.
"""

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

from trove_image_builder import errors
from trove_image_builder import signals

LOG = logging.getLogger(__name__)

SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'
EPMD = 'epmd'
START_TIMEOUT = 90
STOP_TIMEOUT = 30
SETUP_HINT = ('apt-get install --no-install-recommends rabbitmq-server '
              '(tools/setup-host.sh --tests installs it)')
# AMQP 0-9-1 protocol header; a ready broker answers with Connection.Start.
_AMQP_HEADER = b'AMQP\x00\x00\x09\x01'


def free_port(host='127.0.0.1'):
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def amqp_ready(port, host='127.0.0.1', timeout=2.0):
    """True when an AMQP broker on port answers the protocol header."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(_AMQP_HEADER)
            # Method frame (type 1) of Connection.Start on channel 0.
            return s.recv(1) == b'\x01'
    except OSError:
        return False


def peak_rss_mib(pid):
    """VmHWM of a live process and its descendants, in MiB (0 if gone)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            with open('/proc/%d/status' % current) as f:
                for line in f:
                    if line.startswith('VmHWM:'):
                        total += int(line.split()[1])
            with open('/proc/%d/task/%d/children' % (current, current)) as f:
                pids += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return round(total / 1024.0, 1)


def sum_peak_rss_mib(pids):
    return round(sum(peak_rss_mib(p) for p in pids), 1)


def find_server(path=SERVER):
    if not os.access(path, os.X_OK) or not shutil.which(EPMD):
        raise errors.HostError('RabbitMQ is not installed (%s not found): %s'
                               % (path, SETUP_HINT))
    return path


class Broker:
    """A private RabbitMQ node; a context manager that always stops it."""

    def __init__(self, work_dir, server=SERVER,
                 start_timeout=START_TIMEOUT):
        self.work_dir = work_dir
        self.server = server
        self.start_timeout = start_timeout
        self.user = 'tib-%s' % secrets.token_hex(4)
        self._password = secrets.token_urlsafe(24)
        self.port = None
        self.home = None
        self._procs = []

    def url(self, host='127.0.0.1', port=None):
        """transport_url for a client reaching the broker at host:port."""
        return 'rabbit://%s:%s@%s:%d/' % (
            self.user, urllib.parse.quote(self._password, safe=''), host,
            port or self.port)

    def _env(self, ports):
        amqp, dist, epmd = ports
        home = self.home
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('RABBITMQ_', 'ERL_'))}
        env.update({
            'HOME': home,
            'RABBITMQ_NODENAME': 'tib-%s@localhost' % secrets.token_hex(4),
            'RABBITMQ_NODE_IP_ADDRESS': '127.0.0.1',
            'RABBITMQ_NODE_PORT': str(amqp),
            'RABBITMQ_DIST_PORT': str(dist),
            'ERL_EPMD_ADDRESS': '127.0.0.1',
            'ERL_EPMD_PORT': str(epmd),
            'RABBITMQ_MNESIA_BASE': os.path.join(home, 'mnesia'),
            'RABBITMQ_LOG_BASE': os.path.join(home, 'log'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': os.path.join(home, 'plugins'),
            'RABBITMQ_CONFIG_FILE': os.path.join(home, 'rabbitmq.conf'),
            'RABBITMQ_ADVANCED_CONFIG_FILE': os.path.join(home,
                                                          'advanced.config'),
            'RABBITMQ_CONF_ENV_FILE': os.path.join(home, 'rabbitmq-env.conf'),
            # The distribution listener binds to all interfaces otherwise.
            'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS':
                '-kernel inet_dist_use_interface {127,0,0,1}',
        })
        return env

    def _write_files(self, amqp):
        def put(name, text):
            fd = os.open(os.path.join(self.home, name),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(text)

        put('rabbitmq.conf', '\n'.join([
            'listeners.tcp.default = 127.0.0.1:%d' % amqp,
            'default_user = %s' % self.user,
            'default_pass = %s' % self._password,
            'default_vhost = /',
            # No management plugin, no disk alarms on a small test host.
            'disk_free_limit.absolute = 50MB',
            'log.console = false',
            'log.file.level = warning',
        ]) + '\n')
        put('advanced.config', '[].\n')
        put('plugins', '[].\n')
        put('rabbitmq-env.conf', '')

    def _spawn(self, argv, env, log_name):
        log = open(os.path.join(self.home, 'log', log_name), 'wb')
        with log:
            proc = subprocess.Popen(
                argv, env=env, cwd=self.home, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=signals.die_with_parent)
        self._procs.append(proc)
        return proc

    def start(self):
        find_server(self.server)
        os.makedirs(self.work_dir, exist_ok=True)
        self.home = tempfile.mkdtemp(prefix='broker-', dir=self.work_dir)
        os.mkdir(os.path.join(self.home, 'log'), 0o700)
        ports = (free_port(), free_port(), free_port())
        self.port = ports[0]
        self._write_files(self.port)
        env = self._env(ports)
        # Our own epmd in the foreground: erl uses it instead of starting a
        # daemon of its own that would outlive the node.
        self._spawn([shutil.which(EPMD), '-address', '127.0.0.1', '-port',
                     str(ports[2])], env, 'epmd.log')
        server = self._spawn([self.server], env, 'server.log')
        deadline = time.monotonic() + self.start_timeout
        while not amqp_ready(self.port):
            if server.poll() is not None:
                raise errors.HostError(
                    'RabbitMQ exited (code %s) while starting: %s'
                    % (server.returncode, self._log_tail()))
            if time.monotonic() > deadline:
                raise errors.HostError(
                    'RabbitMQ did not answer on 127.0.0.1:%d within %ds: %s'
                    % (self.port, self.start_timeout, self._log_tail()))
            time.sleep(0.5)
        LOG.debug('broker up on 127.0.0.1:%d', self.port)
        return self

    def peak_rss_mib(self):
        """Peak resident memory of the node so far (MiB), or None."""
        procs = [p for p in self._procs if p.poll() is None]
        return sum_peak_rss_mib(p.pid for p in procs) if procs else None

    def _log_tail(self):
        try:
            with open(os.path.join(self.home, 'log', 'server.log'),
                      errors='replace') as f:
                return ' '.join(f.read().split())[-300:] or 'no output'
        except OSError:
            return 'no output'

    def stop(self):
        # The node first (it deregisters from epmd), then epmd.
        for proc in reversed(self._procs):
            signals.stop_group(proc, STOP_TIMEOUT)
            # Anything the node left in its group (erl_child_setup...).
            signals.to_group(proc, signal.SIGKILL)
        self._procs = []
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False
