#!/usr/bin/env python3
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

"""minicloud: a real, small OpenStack on 127.0.0.1 for tests.

Keystone, Glance and trove-api from PyPI (in a venv of their own) under
gunicorn, over a private MariaDB server.  Usable as a command
(`python3 integration/minicloud.py up|down|status|stop|start|env|...`)
and as a library:

    from integration.minicloud import MiniCloud
    cloud = MiniCloud()          # workdir from TIB_MINICLOUD_DIR or default
    cloud.up()
    images = cloud.openstack('image', 'list')
    cloud.stop('glance')

Only the standard library is used here; the services run in the venv.
"""

import argparse
import concurrent.futures
import fcntl
import getpass
import grp
import json
import logging
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time

if __package__:
    from . import cloud_catalog
    from . import cloud_compute
    from . import cloud_conf
    from . import cloud_db
    from . import cloud_proc
else:  # run as a script: the sibling modules are on sys.path[0]
    import cloud_catalog
    import cloud_compute
    import cloud_conf
    import cloud_db
    import cloud_proc

LOG = logging.getLogger('minicloud')

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_WORKDIR = '/var/lib/trove-image-builder/minicloud'
DEFAULT_CONSTRAINTS = os.path.join(REPO, 'upper-constraints.txt')

# The services themselves are not in upper-constraints: pin them here
# (the 2026.2 series, see FACTS.md); the rest follow the constraints.
REQUIREMENTS = (
    ('keystone', '30.0.0'),
    ('glance', '33.0.0'),
    ('trove', '26.0.0'),
    ('gunicorn', None),
    ('PyMySQL', None),
    ('python-openstackclient', None),
    ('python-troveclient', None),
)

SERVICES = ('mariadb', 'keystone', 'glance', 'trove')
DEFAULT_PORTS = {'mariadb': 13306, 'keystone': 15000, 'glance': 19292,
                 'trove': 18779}

# gunicorn settings per service.  trove-api monkey-patches with eventlet
# at import, which a threaded worker does not survive: it gets the
# plain sync worker.  Glance streams uploads inside one request, hence
# its long timeout.
GUNICORN = {
    'keystone': {'worker': 'gthread', 'threads': 4, 'timeout': 120},
    'glance': {'worker': 'gthread', 'threads': 4, 'timeout': 3600},
    'trove': {'worker': 'sync', 'threads': 1, 'timeout': 300},
}

SECRET_NAMES = ('admin', 'demo', 'glance', 'trove',
                'db_keystone', 'db_glance', 'db_trove')

# Opt-in compute API (flavors only): cloud_compute.py.
COMPUTE = cloud_compute.NAME
OPTIONAL_SERVICES = (COMPUTE,)
DEFAULT_PORTS[COMPUTE] = cloud_compute.DEFAULT_PORT
GUNICORN[COMPUTE] = cloud_compute.GUNICORN

START_TIMEOUT = 180


class CloudError(RuntimeError):
    """The minicloud could not do what was asked."""


class CommandError(CloudError):
    """A command of the cloud venv failed."""

    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__('%s exited %d: %s' % (
            ' '.join(argv[:4]), returncode, stderr.strip()[-2000:]))


class Layout:
    """Where everything lives under the workdir, and the service URLs."""

    def __init__(self, root, ports):
        self.root = root
        self.ports = ports

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    @property
    def venv(self):
        return self.path('venv')

    @property
    def bin_dir(self):
        return self.path('venv', 'bin')

    def log(self, name):
        return self.path('log', name + '.log')

    def pid(self, name):
        return self.path('run', name + '.pid')

    def conf(self, name):
        files = {'keystone': 'keystone.conf', 'glance': 'glance-api.conf',
                 'trove': 'trove.conf', COMPUTE: 'nova.conf'}
        return self.path('etc', name, files[name])

    @property
    def identity_url(self):
        return 'http://127.0.0.1:%d/v3' % self.ports['keystone']

    @property
    def image_url(self):
        return 'http://127.0.0.1:%d' % self.ports['glance']

    @property
    def database_url(self):
        return ('http://127.0.0.1:%d/v1.0/$(project_id)s'
                % self.ports['trove'])

    def probe_url(self, name):
        """A URL that answers once the service has loaded."""
        if name == COMPUTE:
            return cloud_compute.probe_url(self)
        return {'keystone': self.identity_url,
                'glance': self.image_url + '/versions',
                'trove': 'http://127.0.0.1:%d/' % self.ports['trove']}[name]


def _read_constraints(path):
    pins = {}
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if '===' in line:
                name, version = line.split('===', 1)
                pins[_norm(name)] = version.split(';')[0].strip()
    return pins


def _norm(name):
    return name.lower().replace('_', '-').replace('.', '-')


def _json_file(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


class MiniCloud:
    """One minicloud, rooted at a work directory."""

    def __init__(self, workdir=None, constraints=None, compute=False):
        workdir = (workdir or os.environ.get('TIB_MINICLOUD_DIR')
                   or DEFAULT_WORKDIR)
        self.workdir = os.path.abspath(workdir)
        self.constraints = constraints or DEFAULT_CONSTRAINTS
        self._state_path = os.path.join(self.workdir, 'state.json')
        self._secrets_path = os.path.join(self.workdir, 'secrets.json')
        self._compute_asked = bool(
            compute or os.environ.get('TIB_MINICLOUD_COMPUTE') == '1')

    @property
    def compute(self):
        """Whether this cloud runs the opt-in compute API (nova-api).

        Asked for by this object, or recorded by an earlier `up`.
        """
        return self._compute_asked or bool(self._state().get('compute'))

    @property
    def services(self):
        return SERVICES + ((COMPUTE,) if self.compute else ())

    @property
    def lay(self):
        # Read each time: another process may have set the ports up.
        return Layout(self.workdir,
                      self._state().get('ports', dict(DEFAULT_PORTS)))

    # -- public paths -------------------------------------------------

    @property
    def bin_dir(self):
        return self.lay.bin_dir

    @property
    def clouds_yaml(self):
        return self.lay.path('clouds.yaml')

    @property
    def trove_conf(self):
        return self.lay.conf('trove')

    @property
    def glance_conf(self):
        return self.lay.conf('glance')

    @property
    def keystone_conf(self):
        return self.lay.conf('keystone')

    @property
    def db(self):
        return cloud_db.MariaDB(self.lay.path('mysql'), self.lay.path('run'),
                                self.lay.log('mariadb'),
                                self.lay.ports['mariadb'])

    def env(self):
        """Variables a shell or test needs to use this cloud."""
        return {
            'OS_CLIENT_CONFIG_FILE': self.clouds_yaml,
            'OS_CLOUD': 'minicloud-admin',
            'TROVE_CONF': self.trove_conf,
            'TIB_MINICLOUD_DIR': self.workdir,
            'TIB_MINICLOUD_BIN': self.bin_dir,
        }

    # -- bookkeeping --------------------------------------------------

    def _state(self):
        return _json_file(self._state_path, {})

    def _save_state(self, state):
        tmp = self._state_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(state, f, indent=1, sort_keys=True)
        os.replace(tmp, self._state_path)

    def _done(self, step):
        return step in self._state().get('done', [])

    def _mark(self, step):
        state = self._state()
        state.setdefault('done', []).append(step)
        self._save_state(state)

    def _lock(self):
        os.makedirs(self.workdir, exist_ok=True)
        fd = os.open(os.path.join(self.workdir, '.lock'),
                     os.O_RDWR | os.O_CREAT, 0o600)
        # Blocking: a second `up` waits, then finds everything running.
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _secrets(self):
        """Random passwords, made once, kept 0600, never printed."""
        values = _json_file(self._secrets_path, {})
        names = SECRET_NAMES + (cloud_compute.SECRET_NAMES
                                if self.compute else ())
        missing = [n for n in names if n not in values]
        if missing:
            for name in missing:
                # hex: safe in SQL, URLs and YAML without quoting
                values[name] = secrets.token_hex(16)
            cloud_conf.write_private(self._secrets_path,
                                     json.dumps(values, indent=1))
        return values

    def _choose_ports(self):
        """Fix the ports at first setup, skipping ones already taken."""
        state = self._state()
        ports = state.get('ports', {})
        missing = [n for n in self.services if n not in ports]
        if not missing:
            return
        taken = set(ports.values())
        for name in missing:
            port = DEFAULT_PORTS[name]
            while port in taken or cloud_proc.port_open(port):
                port += 1
            taken.add(port)
            ports[name] = port
        state['ports'] = ports
        self._save_state(state)

    def _cloud_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env['PATH'] = self.bin_dir + os.pathsep + env.get('PATH', '')
        env['OS_CLIENT_CONFIG_FILE'] = self.clouds_yaml
        env.pop('PYTHONPATH', None)
        return env

    # -- install ------------------------------------------------------

    def _wanted(self):
        pins = _read_constraints(self.constraints)
        reqs = REQUIREMENTS + ((cloud_compute.REQUIREMENT,)
                               if self.compute else ())
        return {name: version or pins.get(_norm(name))
                for name, version in reqs}

    def installed_ok(self):
        """True when the venv holds every requirement at its version."""
        python = os.path.join(self.bin_dir, 'python')
        if not os.path.exists(python):
            return False
        wanted = self._wanted()
        probe = ('import json, sys\n'
                 'from importlib import metadata\n'
                 'out = {}\n'
                 'for n in sys.argv[1:]:\n'
                 '    try:\n'
                 '        out[n] = metadata.version(n)\n'
                 '    except metadata.PackageNotFoundError:\n'
                 '        out[n] = None\n'
                 'print(json.dumps(out))\n')
        res = subprocess.run([python, '-c', probe] + list(wanted),
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        if res.returncode:
            return False
        have = json.loads(res.stdout)
        return all(have[n] and (v is None or have[n] == v)
                   for n, v in wanted.items())

    def install(self):
        """Create/update the venv; a no-op when versions already match."""
        lock = self._lock()
        try:
            return self._install()
        finally:
            os.close(lock)

    def _install(self):
        if self.installed_ok():
            return False
        os.makedirs(self.lay.path('log'), exist_ok=True)
        started = time.monotonic()
        LOG.info('installing Keystone, Glance, Trove into %s '
                 '(about a minute)', self.lay.venv)
        python = os.path.join(self.bin_dir, 'python')
        broken = (os.path.exists(self.lay.venv) and subprocess.run(
            [python, '-c', ''], stderr=subprocess.DEVNULL).returncode)
        if not os.path.exists(python) or broken:
            subprocess.run([sys.executable, '-m', 'venv', '--clear',
                            self.lay.venv], check=True)
        reqs = ['%s==%s' % (n, v) if v else n
                for n, v in self._wanted().items()]
        log_path = self.lay.log('install')
        with open(log_path, 'ab') as log:
            res = subprocess.run(
                [python, '-m', 'pip', 'install', '-c', self.constraints]
                + reqs, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        if res.returncode or not self.installed_ok():
            raise CloudError('pip install failed, see %s:\n%s'
                             % (log_path, cloud_proc.tail(log_path)))
        LOG.info('installed in %.0f s', time.monotonic() - started)
        return True

    # -- configuration ------------------------------------------------

    def _write_configs(self, sec):
        lay, db = self.lay, self.db
        for sub in (('etc', 'keystone'), ('etc', 'glance'), ('etc', 'trove'),
                    ('keystone',), ('glance', 'images'), ('glance', 'staging'),
                    ('glance', 'tasks'), ('run', 'lock'), ('log',)):
            os.makedirs(lay.path(*sub), mode=0o700, exist_ok=True)
        shipped = os.path.join(lay.venv, 'etc')
        shutil.copyfile(os.path.join(shipped, 'glance',
                                     'glance-api-paste.ini'),
                        lay.path('etc', 'glance', 'glance-api-paste.ini'))
        shutil.copyfile(os.path.join(shipped, 'trove', 'api-paste.ini'),
                        lay.path('etc', 'trove', 'api-paste.ini'))
        texts = {
            lay.conf('keystone'): cloud_conf.keystone_conf(
                lay, db.url('keystone', sec['db_keystone'])),
            lay.conf('glance'): cloud_conf.glance_conf(
                lay, db.url('glance', sec['db_glance']), sec['glance']),
            lay.conf('trove'): cloud_conf.trove_conf(
                lay, db.url('trove', sec['db_trove']), sec['trove']),
            self.clouds_yaml: cloud_conf.clouds_yaml(lay, sec),
        }
        for path, text in texts.items():
            cloud_conf.write_private(path, text)
        if self.compute:
            cloud_compute.write_configs(lay, db, sec)

    # -- running commands of the cloud venv ---------------------------

    def run(self, *argv, extra_env=None, check=True):
        """Run a command of the cloud venv; CompletedProcess (text)."""
        argv = list(argv)
        if not os.path.isabs(argv[0]):
            argv[0] = os.path.join(self.bin_dir, argv[0])
        env = self._cloud_env()
        env.update(extra_env or {})
        res = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        if check and res.returncode:
            raise CommandError(argv, res.returncode, res.stdout, res.stderr)
        return res

    def openstack(self, *args, cloud='minicloud-admin', parse=True,
                  check=True):
        """Run the real `openstack` CLI; parsed JSON output by default.

        Pass parse=False for commands without output (delete, set, ...):
        they do not take `-f json`; the stdout text is returned then.
        """
        argv = ['openstack', '--os-cloud', cloud] + list(args)
        if parse:
            argv += ['-f', 'json']
        res = self.run(*argv, check=check)
        if not parse or res.returncode:
            return res.stdout
        return json.loads(res.stdout) if res.stdout.strip() else None

    def trove_manage(self, *args, check=True):
        """Run trove-manage against this cloud's trove.conf."""
        return self.run('trove-manage', '--config-file', self.trove_conf,
                        *args, check=check)

    def _setup_cmd(self, log_name, *argv, extra_env=None):
        log_path = self.lay.log(log_name)
        argv = [os.path.join(self.bin_dir, argv[0])] + list(argv[1:])
        env = self._cloud_env()
        env.update(extra_env or {})
        with open(log_path, 'ab') as log:
            return subprocess.Popen(argv, env=env, stdout=log,
                                    stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)

    def _wait_setup(self, proc, log_name):
        if proc.wait():
            log_path = self.lay.log(log_name)
            raise CloudError('%s failed, see %s:\n%s' % (
                os.path.basename(proc.args[0]), log_path,
                cloud_proc.tail(log_path)))

    # -- services -----------------------------------------------------

    def _service_argv(self, name):
        opts = GUNICORN[name]
        factory = 'cloud_wsgi:%s(%r)' % (name, self.lay.conf(name))
        return [
            os.path.join(self.bin_dir, 'gunicorn'),
            '--bind', '127.0.0.1:%d' % self.lay.ports[name],
            '--workers', '1', '--worker-class', opts['worker'],
            '--threads', str(opts['threads']),
            '--timeout', str(opts['timeout']), '--graceful-timeout', '10',
            # the process title then tells which cloud a gunicorn serves
            '--no-control-socket',
            '--name', 'minicloud-%s %s' % (name, self.workdir),
            '--pythonpath', HERE, '--chdir', self.workdir,
            '--error-logfile', '-', '--access-logfile', '-',
            factory,
        ]

    def _launch(self, name):
        """Start one service unless it runs; True if started now."""
        pid_path = self.lay.pid(name)
        if cloud_proc.running(pid_path):
            return False
        port = self.lay.ports[name]
        if cloud_proc.port_open(port):
            raise CloudError('port %d for %s is taken by another program'
                             % (port, name))
        if name == 'mariadb':
            argv = self.db.server_argv()
        else:
            argv = self._service_argv(name)
        with open(self.lay.log(name), 'a') as log:
            log.write('--- minicloud: starting %s at %s\n'
                      % (name, time.strftime('%Y-%m-%d %H:%M:%S')))
        cloud_proc.launch(argv, self.lay.log(name), pid_path,
                          env=self._cloud_env(), cwd=self.workdir)
        LOG.info('%s started (port %d)', name, port)
        return True

    def _ready(self, name):
        if name == 'mariadb':
            return self.db.ping()
        return cloud_proc.http_answers(self.lay.probe_url(name))

    def _wait(self, names, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            for name in list(pending):
                if self._ready(name):
                    pending.remove(name)
                elif not cloud_proc.running(self.lay.pid(name)):
                    log_path = self.lay.log(name)
                    raise CloudError('%s died on start, see %s:\n%s' % (
                        name, log_path, cloud_proc.tail(log_path)))
            if pending and time.monotonic() > deadline:
                raise CloudError('%s not answering after %d s, see %s'
                                 % (', '.join(pending), timeout,
                                    self.lay.path('log')))
            if pending:
                time.sleep(0.3)

    def _setup_databases(self, sec):
        db = self.db
        if not self._done('databases'):
            for name in ('keystone', 'glance', 'trove'):
                db.ensure_database(name, sec['db_' + name])
            self._mark('databases')
        jobs = []
        if not self._done('glance-db'):
            jobs.append(('glance', self._setup_cmd(
                'setup-glance', 'glance-manage', '--config-file',
                self.lay.conf('glance'), 'db_sync')))
        if not self._done('trove-db'):
            jobs.append(('trove', self._setup_cmd(
                'setup-trove', 'trove-manage', '--config-file',
                self.lay.conf('trove'), 'db_sync')))
        # Keystone's steps run one after another while the other two
        # services migrate their schemas beside them.
        if not self._done('keystone-db'):
            self._keystone_setup(sec)
            self._mark('keystone-db')
        for name, proc in jobs:
            self._wait_setup(proc, 'setup-' + name)
            self._mark(name + '-db')
        if self.compute and not self._done('nova-db'):
            cloud_compute.ensure_databases(db, sec)
            for argv in cloud_compute.setup_commands(self.lay):
                self._wait_setup(self._setup_cmd('setup-nova', *argv),
                                 'setup-nova')
            self._mark('nova-db')

    def _keystone_setup(self, sec):
        conf = ['keystone-manage', '--config-file', self.lay.conf('keystone')]
        owner = ['--keystone-user', getpass.getuser(),
                 '--keystone-group', grp.getgrgid(os.getgid()).gr_name]
        url = self.lay.identity_url
        steps = [
            (['db_sync'], None),
            (['fernet_setup'] + owner, None),
            (['credential_setup'] + owner, None),
            (['bootstrap', '--bootstrap-username', 'admin',
              '--bootstrap-project-name', 'admin',
              '--bootstrap-role-name', 'admin',
              '--bootstrap-admin-url', url,
              '--bootstrap-internal-url', url,
              '--bootstrap-public-url', url,
              '--bootstrap-region-id', cloud_conf.REGION],
             # the password goes by environment, not argv (ps shows argv)
             {'OS_BOOTSTRAP_PASSWORD': sec['admin']}),
        ]
        for args, env in steps:
            fernet_dir = self.lay.path('keystone', 'fernet-keys')
            if args[0] == 'fernet_setup' and os.path.isdir(fernet_dir):
                continue
            proc = self._setup_cmd('setup-keystone', *(conf + args),
                                   extra_env=env)
            self._wait_setup(proc, 'setup-keystone')

    def up(self):
        """Install if needed, set up once, start what is not running."""
        started = time.monotonic()
        lock = self._lock()
        try:
            if self._compute_asked and not self._state().get('compute'):
                state = self._state()
                state['compute'] = True
                self._save_state(state)
            self._install()
            self._choose_ports()
            sec = self._secrets()
            self._write_configs(sec)
            db = self.db
            if not db.initialized():
                with open(self.lay.log('setup-mariadb'), 'ab') as log:
                    db.initialize(log)
            self._launch('mariadb')
            self._wait(['mariadb'])
            self._setup_databases(sec)
            apis = [n for n in self.services if n != 'mariadb']
            for name in apis:
                self._launch(name)
            self._wait(['keystone'])
            if not self._done('catalog'):
                cloud_catalog.populate(self.lay, sec, cloud_conf.REGION)
                self._mark('catalog')
            if self.compute and not self._done('catalog-nova'):
                cloud_compute.populate(self.lay, sec, cloud_conf.REGION)
                self._mark('catalog-nova')
            self._wait([n for n in apis if n != 'keystone'])
        finally:
            os.close(lock)
        LOG.info('cloud up in %.1f s: %s', time.monotonic() - started,
                 self.lay.identity_url)

    def start(self, name):
        """Start one stopped service (after `up` has set it up once)."""
        self._check_name(name)
        if not self._done('catalog'):
            raise CloudError('the cloud was never set up: run up first')
        lock = self._lock()
        try:
            self._launch(name)
            self._wait([name])
        finally:
            os.close(lock)

    def stop(self, name):
        """Stop one service; True if it was running."""
        self._check_name(name)
        lock = self._lock()
        try:
            return self._stop(name)
        finally:
            os.close(lock)

    def _stop(self, name):
        stopped = cloud_proc.stop(self.lay.pid(name))
        if stopped:
            LOG.info('%s stopped', name)
        return stopped

    def down(self, purge=False):
        """Stop everything (MariaDB last); purge also drops all data."""
        apis = [n for n in self.services if n != 'mariadb']
        lock = self._lock()
        try:
            with concurrent.futures.ThreadPoolExecutor(len(apis)) as pool:
                list(pool.map(self._stop, apis))
            self._stop('mariadb')
            if purge:
                self._purge()
        finally:
            os.close(lock)

    def _purge(self):
        # Everything but the venv (slow to rebuild) and the lock file.
        for entry in ('mysql', 'etc', 'keystone', 'glance', 'run', 'log',
                      COMPUTE, 'state.json', 'secrets.json', 'clouds.yaml'):
            path = self.lay.path(entry)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.unlink(path)
        LOG.info('data removed from %s (venv kept)', self.workdir)

    def _check_name(self, name):
        if name not in self.services:
            raise CloudError('unknown service %r: one of %s'
                             % (name, ', '.join(self.services)))

    def status(self):
        """{service: {pid, answering, url, memory_mib}}."""
        out = {}
        for name in self.services:
            pid = cloud_proc.running(self.lay.pid(name))
            pids = cloud_proc.group_members(pid) if pid else []
            url = ('127.0.0.1:%d' % self.lay.ports[name]
                   if name == 'mariadb' else self.lay.probe_url(name))
            out[name] = {
                'pid': pid,
                'answering': bool(pid) and self._ready(name),
                'url': url,
                'memory_mib': round(cloud_proc.memory_kib(pids) / 1024, 1),
            }
        return out

    def is_up(self):
        return all(s['answering'] for s in self.status().values())


# -- command line ------------------------------------------------------

def _cmd_status(cloud, args):
    status = cloud.status()
    if args.json:
        print(json.dumps(status, indent=1))
    else:
        total = 0
        for name, st in status.items():
            state = ('up' if st['answering'] else
                     'starting/broken' if st['pid'] else 'stopped')
            print('%-9s %-16s pid %-8s %7.1f MiB  %s' % (
                name, state, st['pid'] or '-', st['memory_mib'], st['url']))
            total += st['memory_mib']
        print('%-9s %-16s %12s %7.1f MiB' % ('total', '', '', total))
    return 0 if all(s['answering'] for s in status.values()) else 3


def _cmd_env(cloud, args):
    for key, value in cloud.env().items():
        print('export %s=%s' % (key, shlex.quote(value)))
    # appended, so the caller's own python3 and tools keep precedence
    print('export PATH="$PATH":%s' % shlex.quote(cloud.bin_dir))
    return 0


def _cmd_selftest(cloud, args):
    if __package__:
        from . import cloud_selftest
    else:
        import cloud_selftest
    return cloud_selftest.run(cloud, keep_up=args.keep_up)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='minicloud', description=__doc__.split('\n\n')[0])
    parser.add_argument('--workdir', help='default: $TIB_MINICLOUD_DIR or '
                        + DEFAULT_WORKDIR)
    parser.add_argument('--constraints', help='pip constraints file '
                        '(default: the repository\'s upper-constraints.txt)')
    parser.add_argument('--compute', action='store_true',
                        help='also run nova-api, for flavors (opt-in; '
                        'remembered by the workdir once set up)')
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('install', help='create or update the venv only')
    sub.add_parser('up', help='install, set up and start everything')
    down = sub.add_parser('down', help='stop everything')
    down.add_argument('--purge', action='store_true',
                      help='also delete databases, keys, images and config '
                      '(the venv is kept)')
    status = sub.add_parser('status', help='what runs and answers')
    status.add_argument('--json', action='store_true')
    for verb in ('stop', 'start'):
        p = sub.add_parser(verb, help='%s one service' % verb)
        p.add_argument('service', choices=SERVICES + OPTIONAL_SERVICES)
    sub.add_parser('env', help='shell lines to use the cloud')
    st = sub.add_parser('selftest', help='bring up, exercise, check, down')
    st.add_argument('--keep-up', action='store_true',
                    help='leave the cloud running at the end')
    args = parser.parse_args(argv)
    logging.basicConfig(format='minicloud: %(message)s', level=logging.INFO,
                        stream=sys.stderr)
    cloud = MiniCloud(args.workdir, args.constraints, compute=args.compute)
    handlers = {
        'install': lambda c, a: c.install() and 0,
        'up': lambda c, a: c.up(),
        'down': lambda c, a: c.down(purge=a.purge),
        'status': _cmd_status,
        'stop': lambda c, a: c.stop(a.service) and 0,
        'start': lambda c, a: c.start(a.service),
        'env': _cmd_env,
        'selftest': _cmd_selftest,
    }
    try:
        return handlers[args.command](cloud, args) or 0
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        # CloudError and the helpers' errors: one line, no traceback
        LOG.error('%s', exc)
        return 1


if __name__ == '__main__':
    sys.exit(main())
