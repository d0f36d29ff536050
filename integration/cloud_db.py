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

"""A private MariaDB server for the minicloud.

Debian's mariadb-server binaries run against a datadir, socket and port
of our own (`--no-defaults` keeps /etc/mysql out of it), so the system's
database, if any, is never touched.  root logs in only through the unix
socket as the OS user that created the datadir: there is no root password.
"""

import getpass
import os
import shutil
import subprocess

_SEARCH = ('/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin')


def find_binary(*names):
    """Path of the first of names on PATH or in the sbin dirs."""
    path = os.environ.get('PATH', '') + os.pathsep + os.pathsep.join(_SEARCH)
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    raise RuntimeError('%s not found: install mariadb-server '
                       '(apt-get install mariadb-server)' % names[0])


class MariaDB:
    """Paths and commands of one private server instance."""

    def __init__(self, datadir, run_dir, log_path, port):
        self.datadir = datadir
        self.socket = os.path.join(run_dir, 'mariadb.sock')
        self.pid_path = os.path.join(run_dir, 'mariadb.pid')
        self.log_path = log_path
        self.port = port
        self.user = getpass.getuser()
        # The kernel caps unix socket paths at 107 bytes.
        if len(self.socket) > 100:
            raise RuntimeError('workdir path too long for a unix socket: %s'
                               % self.socket)

    def initialized(self):
        return os.path.isdir(os.path.join(self.datadir, 'mysql'))

    def initialize(self, log):
        """Create the system tables (about a second)."""
        os.makedirs(self.datadir, mode=0o700, exist_ok=True)
        subprocess.run(
            [find_binary('mariadb-install-db', 'mysql_install_db'),
             '--no-defaults', '--datadir=' + self.datadir,
             '--user=' + self.user, '--skip-test-db',
             '--auth-root-authentication-method=socket',
             '--auth-root-socket-user=' + self.user],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            check=True)

    def server_argv(self):
        return [
            find_binary('mariadbd', 'mysqld'), '--no-defaults',
            '--datadir=' + self.datadir, '--socket=' + self.socket,
            '--port=%d' % self.port, '--bind-address=127.0.0.1',
            '--user=' + self.user, '--log-error=' + self.log_path,
            '--pid-file=' + self.pid_path + '.server',
            '--skip-name-resolve', '--skip-log-bin',
            '--performance-schema=OFF', '--innodb-buffer-pool-size=64M',
            '--max-connections=300',
            '--character-set-server=utf8mb4',
            '--collation-server=utf8mb4_general_ci',
        ]

    def _client(self, prog):
        return [find_binary(*prog), '--no-defaults',
                '--socket=' + self.socket, '--user=root']

    def ping(self):
        """True once the server accepts connections."""
        if not os.path.exists(self.socket):
            return False
        res = subprocess.run(
            self._client(('mariadb-admin', 'mysqladmin')) + ['ping'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        return res.returncode == 0

    def execute(self, sql):
        """Run SQL as root; the text goes through stdin, never argv."""
        res = subprocess.run(
            self._client(('mariadb', 'mysql')) + ['--batch'],
            input=sql.encode(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        if res.returncode:
            # The SQL holds passwords: report the server's error only.
            raise RuntimeError('mariadb: %s'
                               % res.stderr.decode(errors='replace').strip())
        return res.stdout.decode()

    def ensure_database(self, name, password):
        """Database `name` and a same-named user who owns it.

        Passwords are hex (see minicloud.Secrets), so they need no
        quoting in SQL or in SQLAlchemy URLs.
        """
        if not (name.isidentifier() and password.isalnum()):
            raise ValueError('unsafe database name or password')
        self.execute(
            "CREATE DATABASE IF NOT EXISTS `{n}` CHARACTER SET utf8mb4;\n"
            "CREATE USER IF NOT EXISTS '{n}'@'127.0.0.1' "
            "IDENTIFIED BY '{p}';\n"
            "ALTER USER '{n}'@'127.0.0.1' IDENTIFIED BY '{p}';\n"
            "GRANT ALL PRIVILEGES ON `{n}`.* TO '{n}'@'127.0.0.1';\n"
            .format(n=name, p=password))

    def url(self, name, password):
        """SQLAlchemy URL for a service database."""
        return ('mysql+pymysql://%s:%s@127.0.0.1:%d/%s?charset=utf8mb4'
                % (name, password, self.port, name))
