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

"""container-image build: a datastore's container image, offline.

    datastore.yaml (the version's container_build recipe)
        -> debootstrap --variant=minbase with the recipe's Debian packages
        -> the server's account at uid/gid 1001, entrypoint (+ health
           check), docs, manuals and package lists dropped
        -> one-layer `docker save` archive tagged with the version's
           container_image, and a JSON record beside it

No container registry and no docker are used: the archive is what
``build --embed-container-image`` (or ``[container_images] archive_dir``)
puts into a guest image. The entrypoints are written here for the
contract Trove's guest agent relies on (see the scripts' headers).
"""

import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

from trove_image_builder.build.containerimage import archive
from trove_image_builder.build import host
from trove_image_builder.build import sweep
from trove_image_builder import errors
from trove_image_builder import lock
from trove_image_builder import manifest

SCRIPTS_DIR = os.path.dirname(os.path.abspath(__file__))
ENTRYPOINT = '/usr/local/bin/docker-entrypoint.sh'
SERVICE_UID = 1001
# Accounts the server runs as, per manager, created or moved to 1001.
ACCOUNTS = {'mariadb': 'mysql', 'postgresql': 'postgres'}
CMD = {'mariadb': ['mariadbd'], 'postgresql': ['postgres']}
DEBOOTSTRAP_TIMEOUT = 1800
STEP_TIMEOUT = 600
TRIMMED = ('usr/share/doc', 'usr/share/man', 'usr/share/info',
           'var/lib/apt/lists', 'var/cache/apt', 'var/log')
# A cluster Debian's postgresql-common creates at install: the agent
# initialises its own on the volume.
DROPPED = ('var/lib/postgresql', 'etc/postgresql')
BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
RECORD_SUFFIX = '.json'


@dataclasses.dataclass(frozen=True)
class Recipe:
    datastore: str
    version: str
    manager: str
    tag: str
    release: str
    packages: tuple
    path: str = ''

    @property
    def archive_name(self):
        """The file name [container_images] archive_dir looks for."""
        return self.tag.replace('/', '_').replace(':', '_') + '.tar'

    def scripts(self):
        directory = os.path.join(SCRIPTS_DIR, self.manager)
        return sorted(os.path.join(directory, n)
                      for n in os.listdir(directory) if n.endswith('.sh'))


@dataclasses.dataclass(frozen=True)
class Result:
    archive: str
    record: str
    tag: str
    image_id: str
    cached: bool
    seconds: float
    packages: dict
    size: int


def recipe(catalog, datastore, version=None, tag=None):
    """The recipe of DATASTORE[:VERSION] from its datastore.yaml."""
    ds = catalog.datastore(datastore)
    ver = ds.version(version)
    build = ver.container_build
    if not build:
        raise errors.InputError(
            'no offline container image for %s %s: %s; build or fetch an '
            'archive elsewhere and pass it to build '
            '--embed-container-image' % (
                ds.name, ver.name, ver.container_build_note or
                'its datastore.yaml has no container_build recipe'))
    if ds.manager not in ACCOUNTS:
        raise errors.InputError('no container entrypoint for manager %s'
                                % ds.manager)
    return Recipe(datastore=ds.name, version=ver.name, manager=ds.manager,
                  tag=tag or ver.container_image,
                  release=build.debian_release, packages=build.packages,
                  path=build.path)


def inputs_hash(rec, mirror):
    """What the archive is made of; a change means a rebuild."""
    digest = hashlib.sha256()
    digest.update(json.dumps([dataclasses.asdict(rec), mirror],
                             sort_keys=True).encode())
    for path in rec.scripts():
        with open(path, 'rb') as f:
            digest.update(os.path.basename(path).encode() + b'\0' +
                          f.read())
    return digest.hexdigest()


def _run(argv, what, timeout=STEP_TIMEOUT, **kw):
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=timeout, stdin=subprocess.DEVNULL,
                             **kw)
    except subprocess.TimeoutExpired:
        raise errors.BuildFailed('%s took longer than %ds' % (what, timeout))
    except OSError as exc:
        raise errors.HostError('%s: cannot run %s: %s' % (what, argv[0],
                                                          exc))
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        raise errors.BuildFailed('%s failed (exit %d): %s' % (
            what, out.returncode, ' | '.join(lines[-3:]) or 'no output'))
    return out.stdout


def _cached(archive_path, record_path, inputs):
    try:
        with open(record_path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if record.get('inputs') != inputs or not os.path.isfile(archive_path):
        return None
    if os.path.getsize(archive_path) != record.get('size') or \
            manifest.sha256_file(archive_path) != record.get('sha256'):
        return None
    return record


def _chroot(rootfs, *argv, what):
    return _run(['chroot', rootfs] + list(argv), what)


def _service_account(rootfs, name):
    """name at uid and gid 1001 in rootfs, owning what it owned before."""
    passwd = _chroot(rootfs, 'getent', 'passwd', name, what='getent') \
        if _has_entry(rootfs, 'passwd', name) else ''
    uid = str(SERVICE_UID)
    if not passwd:
        _chroot(rootfs, 'groupadd', '--gid', uid, name, what='groupadd')
        _chroot(rootfs, 'useradd', '--uid', uid, '--gid', uid,
                '--no-create-home', '--home-dir', '/nonexistent',
                '--shell', '/usr/sbin/nologin', name, what='useradd')
        return
    old_uid, old_gid = passwd.split(':')[2:4]
    if old_uid == uid and old_gid == uid:
        return
    _chroot(rootfs, 'groupmod', '--gid', uid, name, what='groupmod')
    _chroot(rootfs, 'usermod', '--uid', uid, '--gid', uid, name,
            what='usermod')
    _chroot(rootfs, 'find', '/', '-xdev', '(', '-uid', old_uid, '-o',
            '-gid', old_gid, ')', '-exec', 'chown', '-h', '%s:%s'
            % (uid, uid), '{}', '+', what='chown')


def _has_entry(rootfs, db, name):
    with open(os.path.join(rootfs, 'etc', db)) as f:
        return any(line.split(':', 1)[0] == name for line in f)


def _customise(rec, rootfs):
    _service_account(rootfs, ACCOUNTS[rec.manager])
    # docker writes the container's own; without docker (or before it)
    # mariadb-install-db still needs localhost to resolve.
    with open(os.path.join(rootfs, 'etc', 'hosts'), 'w') as f:
        f.write('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n')
    for path in rec.scripts():
        name = os.path.basename(path)
        target = ENTRYPOINT if name == 'entrypoint.sh' else \
            os.path.join('/usr/local/bin', name)
        shutil.copyfile(path, os.path.join(rootfs, target.lstrip('/')))
        os.chmod(os.path.join(rootfs, target.lstrip('/')), 0o755)
    if rec.manager == 'postgresql':
        # Trove's postgresql.conf asks for en_US.utf8 messages and
        # formats: initdb and the server fail without that locale.
        _chroot(rootfs, 'localedef', '-i', 'en_US', '-c', '-f', 'UTF-8',
                'en_US.UTF-8', what='localedef')
    for rel in TRIMMED + (DROPPED if rec.manager == 'postgresql' else ()):
        path = os.path.join(rootfs, rel)
        if os.path.isdir(path):
            for name in os.listdir(path):
                child = os.path.join(path, name)
                if os.path.isdir(child) and not os.path.islink(child):
                    shutil.rmtree(child)
                else:
                    os.unlink(child)


def _packages(rec, rootfs):
    out = _chroot(rootfs, 'dpkg-query', '-W', '-f',
                  '${Package} ${Version}\\n', *rec.packages,
                  what='dpkg-query')
    return dict(line.split(' ', 1) for line in out.splitlines() if line)


def _image_config(rec, layer_sha, packages):
    env = ['PATH=%s' % (rec.path + ':' + BASE_PATH if rec.path
                        else BASE_PATH)]
    env.append('LANG=%s' % ('en_US.UTF-8' if rec.manager == 'postgresql'
                            else 'C.UTF-8'))
    labels = {
        'org.opencontainers.image.title': '%s %s for Trove' % (
            rec.datastore, rec.version),
        'org.opencontainers.image.description': 'Built offline by '
        'trove-image-builder from Debian %s packages: %s' % (
            rec.release, ', '.join('%s %s' % kv for kv in
                                   sorted(packages.items()))),
        'org.opencontainers.image.version': packages.get(rec.packages[0],
                                                         ''),
    }
    created = datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%SZ')
    return archive.image_config(layer_sha, [ENTRYPOINT], CMD[rec.manager],
                                env, labels, created=created)


def build(rec, output_dir, cache_dir, work_dir, mirror=None, force=False,
          progress=None):
    """Make (or reuse) the archive of rec in output_dir; return a Result."""
    say = progress or (lambda msg: None)
    host.require_root()
    if not shutil.which('debootstrap'):
        raise errors.HostError('debootstrap not found (apt-get install '
                               'debootstrap)')
    mirror = mirror or host.debian_mirrors()[0] or \
        'http://deb.debian.org/debian'
    started = time.monotonic()
    for directory in (output_dir, work_dir):
        os.makedirs(directory, exist_ok=True)
    archive_path = os.path.join(output_dir, rec.archive_name)
    record_path = archive_path[:-len('.tar')] + RECORD_SUFFIX
    inputs = inputs_hash(rec, mirror)
    with lock.TargetLock(output_dir, rec.archive_name):
        record = None if force else _cached(archive_path, record_path,
                                            inputs)
        if record:
            say('%s is up to date (%s)' % (rec.tag, archive_path))
            return _result(archive_path, record_path, record, True,
                           started)
        tmp = tempfile.mkdtemp(prefix='container-image-', dir=work_dir)
        try:
            record = _make(rec, mirror, inputs, cache_dir, tmp,
                           archive_path, record_path, say)
        finally:
            sweep.release(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
    return _result(archive_path, record_path, record, False, started)


def _make(rec, mirror, inputs, cache_dir, tmp, archive_path, record_path,
          say):
    rootfs = os.path.join(tmp, 'rootfs')
    debs = os.path.join(cache_dir, 'container-images', 'debs')
    os.makedirs(debs, exist_ok=True)
    say('debootstrap %s with %s' % (rec.release, ', '.join(rec.packages)))
    _run(['debootstrap', '--variant=minbase', '--cache-dir=%s' % debs,
          '--include=%s' % ','.join(rec.packages), rec.release, rootfs,
          mirror], 'debootstrap', timeout=DEBOOTSTRAP_TIMEOUT)
    packages = _packages(rec, rootfs)
    say('installed %s' % ', '.join('%s %s' % kv
                                   for kv in sorted(packages.items())))
    _customise(rec, rootfs)
    layer = os.path.join(tmp, 'layer.tar')
    say('packing the layer')
    _run(['tar', '--numeric-owner', '--xattrs', '-C', rootfs, '-cf', layer,
          '--exclude=./dev/*', '--exclude=./proc/*', '--exclude=./sys/*',
          '--exclude=./run/*', '--exclude=./tmp/*', '.'], 'tar')
    config = _image_config(rec, manifest.sha256_file(layer), packages)
    partial = archive_path + '.partial'
    try:
        image_id = archive.write(partial, layer, config, [rec.tag])
        record = {'tag': rec.tag, 'image_id': image_id, 'inputs': inputs,
                  'datastore': rec.datastore, 'version': rec.version,
                  'release': rec.release, 'packages': packages,
                  'size': os.path.getsize(partial),
                  'sha256': manifest.sha256_file(partial)}
        os.replace(partial, archive_path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    with open(record_path + '.partial', 'w') as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.replace(record_path + '.partial', record_path)
    return record


def _result(archive_path, record_path, record, cached, started):
    return Result(archive=archive_path, record=record_path,
                  tag=record['tag'], image_id=record['image_id'],
                  cached=cached, seconds=round(time.monotonic() - started,
                                               1),
                  packages=record['packages'], size=record['size'])
