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

"""build: inputs -> inputs hash -> cache hit? -> lock -> DIB -> image.

A Plan is everything decided before anything runs; --dry-run prints it,
build executes it. The image appears at its final path only complete,
with its manifest beside it.
"""

import dataclasses
import datetime
import glob
import importlib.metadata
import logging
import os
import shutil
import subprocess
import time

from trove_image_builder.build import containers
from trove_image_builder.build import dib
from trove_image_builder.build import host
from trove_image_builder.build import inputs
from trove_image_builder.build import partmap
from trove_image_builder.build import sweep
from trove_image_builder import catalog as catalog_mod
from trove_image_builder import conf as conf_mod
from trove_image_builder import datafiles
from trove_image_builder import errors
from trove_image_builder import imagefile
from trove_image_builder import lock
from trove_image_builder import manifest
from trove_image_builder import redact
from trove_image_builder import rules as rules_mod

LOG = logging.getLogger(__name__)

# Variables that name places on this host rather than image content;
# their content (if any) is hashed separately.
_VOLATILE_ENV = {'PATH', 'TMP_DIR', 'DIB_IMAGE_CACHE', 'ELEMENTS_PATH',
                 'DIB_TROVE_GUEST_AGENT_SOURCE',
                 'DIB_TROVE_GUEST_AGENT_CONSTRAINTS',
                 'DIB_TROVE_CONTAINER_ARCHIVES',
                 'DIB_TROVE_VALIDATION_RULES_DIR',
                 # Where packages are fetched from, not what they are.
                 'DIB_TROVE_PIP_INDEX_URL', 'DIB_TROVE_PIP_CA_BUNDLE',
                 'DIB_TROVE_PIP_INDEX_FILE'}
# The file a package index URL with credentials is written to, in the
# build's own TMP_DIR (removed with it): DIB's manifests element copies
# every DIB_* variable into the image, so the URL never is one.
PIP_INDEX_FILE = 'pip-index-url'
_LAYOUT_ELEMENTS = {'mbr': 'block-device-mbr', 'gpt': 'block-device-gpt',
                    'efi': 'block-device-efi'}


@dataclasses.dataclass(frozen=True)
class Request(conf_mod.FromConf):
    """What the user asked for, after flags and config are merged."""

    datastore: str = conf_mod.option('build.datastore', required=True)
    version: str = None
    os: str = conf_mod.option('build.os')
    release: str = conf_mod.option('build.release')
    fmt: str = conf_mod.option('build.format')
    image_size: int = conf_mod.option('build.image_size')
    block_device: str = conf_mod.option('build.block_device')
    output_dir: str = conf_mod.option('build.output_dir')
    work_dir: str = conf_mod.option('build.work_dir')
    cache_dir: str = conf_mod.option('build.cache_dir')
    elements_dir: str = conf_mod.option('build.elements_dir')
    extra_elements_path: tuple = conf_mod.option('build.extra_elements_path')
    extra_elements: tuple = conf_mod.option('build.extra_elements')
    dev_mode: bool = conf_mod.option('guest_agent.dev_mode')
    guest_agent_source: str = conf_mod.option('guest_agent.source')
    guest_agent_version: str = conf_mod.option('guest_agent.version')
    constraints: str = conf_mod.option('guest_agent.constraints')
    pip_index_url: str = conf_mod.option('guest_agent.pip_index_url')
    pip_ca_bundle: str = conf_mod.option('guest_agent.pip_ca_bundle')
    pip_from_host: bool = conf_mod.option('mirrors.from_host')
    mirror_from_host: bool = conf_mod.option('mirrors.from_host')
    debian_mirror: str = conf_mod.option('mirrors.debian')
    debian_security_mirror: str = conf_mod.option('mirrors.debian_security')
    ubuntu_mirror: str = conf_mod.option('mirrors.ubuntu')
    debootstrap_cache: bool = conf_mod.option('dib.debootstrap_cache')
    debug_trace: int = conf_mod.option('dib.debug_trace')
    extra_env: tuple = conf_mod.option('dib.extra_env')
    disk_image_create: str = conf_mod.option('dib.disk_image_create')
    stop_timeout: int = conf_mod.option('dib.stop_timeout')
    timeout: int = conf_mod.option('dib.timeout')
    cache_lock_timeout: int = conf_mod.option('build.cache_lock_timeout')
    container_archives: tuple = ()
    container_archive_dir: str = conf_mod.option(
        'container_images.archive_dir')


@dataclasses.dataclass(frozen=True)
class Plan:
    request: Request
    name: str
    image_path: str
    log_path: str
    tmp_dir: str
    command: dib.Command
    layout: str
    inputs_hash: str
    facts: dict
    # Whose validation rules are kept beside the image.
    rules_managers: tuple = ()
    # (path, text) written 0600 when the build starts, removed with
    # tmp_dir: what must reach DIB but not its environment.
    secrets: tuple = ()

    @property
    def partial_base(self):
        return os.path.join(self.request.output_dir,
                            '.%s.partial' % self.name)

    @property
    def rules_export_dir(self):
        return self.partial_base + '.rules'

    @property
    def partial_image(self):
        return '%s.%s' % (self.partial_base, self.request.fmt)


@dataclasses.dataclass(frozen=True)
class Result:
    image_path: str
    manifest_path: str
    manifest: dict
    cached: bool


def _check_writable_dir(path, what):
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe) or '/'
    if not os.path.isdir(probe):
        raise errors.InputError('%s is not a directory: %s' % (what, probe))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise errors.InputError('%s is not writable: %s' % (what, probe))


def _guest_agent_facts(req):
    if req.dev_mode:
        if not req.guest_agent_source:
            raise errors.InputError(
                'dev mode needs --guest-agent-source PATH (a Trove tree)')
        src = os.path.abspath(req.guest_agent_source)
        if not os.path.isfile(os.path.join(src, 'trove', '__init__.py')):
            raise errors.InputError(
                'not a Trove source tree (no trove/__init__.py): %s' % src)
        return {'mode': 'dev', 'source': src, 'version': _git_rev(src)}
    if req.guest_agent_source:
        raise errors.InputError('--guest-agent-source needs --dev-mode')
    return {'mode': 'pypi', 'source': 'trove==%s' % req.guest_agent_version,
            'version': req.guest_agent_version}


def _git_rev(path):
    try:
        out = subprocess.run(
            ['git', '-C', path, 'describe', '--always', '--dirty',
             '--tags'], capture_output=True, text=True, check=True)
        return out.stdout.strip() or 'unknown'
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def dib_version():
    try:
        return importlib.metadata.version('diskimage-builder')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


def _mirror_env(req, os_name):
    env = {}
    if os_name == 'debian':
        archive, security = req.debian_mirror, req.debian_security_mirror
        if req.mirror_from_host and not (archive and security):
            host_archive, host_security = host.debian_mirrors()
            archive = archive or host_archive
            security = security or host_security
        if archive:
            env['DIB_DISTRIBUTION_MIRROR'] = archive
        if security:
            env['DIB_DEBIAN_SECURITY_MIRROR'] = security
    elif os_name == 'ubuntu' and req.ubuntu_mirror:
        env['DIB_DISTRIBUTION_MIRROR'] = req.ubuntu_mirror
    return env


def _pip_env(req, tmp_dir):
    """(DIB variables, secrets) for the guest agent's pip."""
    index, ca_bundle = req.pip_index_url, req.pip_ca_bundle
    if req.pip_from_host:
        index = index or host.pip_index_url()
        ca_bundle = ca_bundle or host.pip_ca_bundle()
    env, secrets = {}, ()
    if index and redact.url(index) != index:
        path = os.path.join(tmp_dir, PIP_INDEX_FILE)
        env['DIB_TROVE_PIP_INDEX_FILE'] = path
        secrets = ((path, index),)
    elif index:
        env['DIB_TROVE_PIP_INDEX_URL'] = index
    if ca_bundle:
        if not os.path.isfile(ca_bundle):
            raise errors.InputError('pip CA bundle not found: %s'
                                    % ca_bundle)
        env['DIB_TROVE_PIP_CA_BUNDLE'] = os.path.abspath(ca_bundle)
    return env, secrets


def make_plan(req, has_vfat=None):
    """Validate the request and decide everything; run nothing."""
    elements_dir = datafiles.elements_dir(req.elements_dir)
    cat = catalog_mod.Catalog.load(elements_dir)
    system = cat.operating_system(req.os)
    release = system.release(req.release)
    if req.datastore == catalog_mod.GENERIC:
        ds = ver = None
        if req.version:
            raise errors.InputError('the generic image has no versions')
        target = catalog_mod.GENERIC
    else:
        ds = cat.datastore(req.datastore)
        ver = ds.version(req.version)
        target = '%s-%s' % (ds.name, ver.name)
    agent = _guest_agent_facts(req)
    archives = containers.resolve(
        req.container_archives, req.container_archive_dir,
        ver.container_image if ver else None, elements_dir)
    for path in req.extra_elements_path:
        if not os.path.isdir(path):
            raise errors.InputError('element directory not found: %s'
                                    % path)
    bad = [k for k, _v in req.extra_env if not k.startswith('DIB_')]
    if bad:
        raise errors.InputError('[dib] extra_env accepts DIB_* only, not %s'
                                % ', '.join(bad))
    _check_writable_dir(req.output_dir, 'output directory')
    constraints = datafiles.constraints_file(req.constraints)
    layout = host.block_device(req.block_device, has_vfat)

    name = 'trove-%s-%s-%s%s' % (system.name, release, target,
                                 '-dev' if agent['mode'] == 'dev' else '')
    output_dir = os.path.abspath(req.output_dir)
    image_path = os.path.join(output_dir, '%s.%s' % (name, req.fmt))
    tmp_dir = os.path.join(os.path.abspath(req.work_dir), name)
    elements = [system.element, 'vm', _LAYOUT_ELEMENTS[layout],
                'trove-guest', 'trove-guest-agent', 'trove-docker']
    if ds:
        elements.append(ds.element)
    if archives:
        elements.append(containers.ELEMENT)
    elements += [e for e in req.extra_elements if e not in elements]

    env = {
        'ELEMENTS_PATH': ':'.join([elements_dir] +
                                  [os.path.abspath(p) for p in
                                   req.extra_elements_path]),
        'DIB_RELEASE': release,
        'DIB_IMAGE_CACHE': os.path.abspath(req.cache_dir),
        'TMP_DIR': tmp_dir,
        'DIB_DEBUG_TRACE': str(req.debug_trace),
        'DIB_TROVE_GUEST_AGENT_CONSTRAINTS': constraints,
    }
    if req.debootstrap_cache:
        env['DIB_DEBOOTSTRAP_CACHE'] = '1'
        env['DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE'] = '1'
    env.update(_mirror_env(req, system.name))
    if agent['mode'] == 'dev':
        env['DIB_TROVE_GUEST_AGENT_SOURCE'] = agent['source']
    else:
        env['DIB_TROVE_GUEST_AGENT_VERSION'] = req.guest_agent_version
    pip_env, secrets = _pip_env(req, tmp_dir)
    env.update(pip_env)
    env['DIB_TROVE_VALIDATION_RULES_DIR'] = os.path.join(
        output_dir, '.%s.partial.rules' % name)
    if ver:
        env['DIB_TROVE_DATASTORE'] = ver.datastore
        env['DIB_TROVE_DATASTORE_VERSION'] = ver.name
        env['DIB_TROVE_CONTAINER_IMAGE'] = ver.container_image
    if archives:
        env['DIB_TROVE_CONTAINER_ARCHIVES'] = ':'.join(
            a.path for a in archives)
    env.update(dict(req.extra_env))

    dic = host.disk_image_create(req.disk_image_create)
    # DIB's helpers (dib-run-parts, dib-block-device) sit beside it.
    env['PATH'] = os.path.dirname(dic) + ':' + host.SBIN_PATH
    argv = [dic, '-t', req.fmt, '-o', os.path.join(
        output_dir, '.%s.partial' % name)]
    if req.image_size:
        argv += ['--image-size', str(req.image_size)]
    argv += elements
    command = dib.Command(argv=tuple(argv), env=env)

    trees = {'elements': inputs.tree_hash(elements_dir),
             'constraints': manifest.sha256_file(constraints)}
    for i, path in enumerate(req.extra_elements_path):
        trees['extra-%d' % i] = inputs.tree_hash(path)
    if agent['mode'] == 'dev':
        trees['guest-agent'] = inputs.tree_hash(agent['source'])
    for i, archive in enumerate(archives):
        trees['container-%d' % i] = archive.sha256
    hashed_env = {k: v for k, v in env.items() if k not in _VOLATILE_ENV}
    version_dib = dib_version()
    digest = inputs.inputs_hash(
        elements, hashed_env, trees, version_dib,
        extra={'format': req.fmt, 'image_size': req.image_size})
    facts = {
        'name': name,
        'image': os.path.basename(image_path),
        'format': req.fmt,
        'datastore': ver.datastore if ver else catalog_mod.GENERIC,
        'datastore_version': ver.name if ver else None,
        'version_number': ver.version_number if ver else None,
        'manager': ver.manager if ver else None,
        'container_image': ver.container_image if ver else None,
        'validation_rules': ver.validation_rules if ver else None,
        'os': system.name,
        'release': release,
        'block_device': layout,
        'guest_agent': agent,
        'dib_version': version_dib,
        'elements': elements,
        'elements_hash': trees['elements'],
        'inputs_hash': digest,
        'container_images': [a.record() for a in archives],
    }
    return Plan(request=req, name=name, image_path=image_path,
                log_path=os.path.join(output_dir, name + '.log'),
                tmp_dir=tmp_dir, command=command, layout=layout,
                inputs_hash=digest, facts=facts, secrets=secrets,
                rules_managers=_rules_managers(cat, ver))


def _rules_managers(cat, ver):
    """The version's manager; for the generic image, every one declared.

    The generic image serves any datastore the catalogue has, so load
    may register it for any of them.
    """
    if ver:
        return (ver.manager,)
    return tuple(sorted({v.manager for ds in cat.datastores.values()
                         for v in ds.versions}))


def keep_rules(plan, say):
    """Keep the agent's validation rules beside the image.

    From the image (exported by the trove-guest-agent element), else in
    dev mode from the local trove tree the agent was installed from.
    Returns the manifest record.
    """
    found, trove_version = rules_mod.exported(plan.rules_export_dir)
    agent = plan.facts['guest_agent']
    sources, missing = {}, []
    for manager in plan.rules_managers:
        if manager in found:
            sources[manager] = (found[manager], rules_mod.FROM_IMAGE)
            continue
        local = rules_mod.source_tree_file(agent['source'], manager) \
            if agent['mode'] == 'dev' else None
        if local:
            sources[manager] = (local, rules_mod.FROM_SOURCE)
        else:
            missing.append(manager)
    if missing:
        say('no validation rules for %s in the image\'s trove %s: load '
            'registers no configuration parameters for %s'
            % (', '.join(missing), trove_version or '(unknown)',
               'them' if len(missing) > 1 else 'it'))
    return rules_mod.keep(plan.image_path, sources,
                          trove_version or agent.get('version'))


def file_fingerprint(path):
    """What changes whenever a file's content could have changed.

    Any write moves ctime, which no user call can set back, so an equal
    fingerprint means the content hashed at build time is still there (as
    git's index and make rely on). Different: hash the file again.
    """
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
            st.st_ctime_ns]


def settled_fingerprint(path):
    """file_fingerprint, taken once the clock has left the last write's tick.

    File timestamps move in coarse ticks (milliseconds); a write in the
    same tick as the last one would leave ctime unchanged. Waiting one
    tick out before recording makes every later write visible.
    """
    time.sleep(0.05)
    return file_fingerprint(path)


def cached_result(plan):
    """A Result when the image on disk is exactly what plan would build."""
    data = manifest.read(plan.image_path)
    if not data or data.get('inputs_hash') != plan.inputs_hash:
        return None
    try:
        fingerprint = file_fingerprint(plan.image_path)
    except OSError:
        return None
    if fingerprint[2] != data.get('size'):
        return None
    if (fingerprint != data.get('fingerprint') and
            manifest.sha256_file(plan.image_path) != data.get('sha256')):
        return None
    return Result(plan.image_path, manifest.path_for(plan.image_path),
                  data, cached=True)


def _remove_partials(plan):
    for path in glob.glob(glob.escape(plan.partial_base) + '*'):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _release_tmp(plan):
    """Undo what DIB left of this target's build, and only that."""
    try:
        sweep.release(plan.tmp_dir, partial=plan.partial_base)
    except partmap.PartmapError as exc:
        # A loop device that would not detach; one line, not a trace.
        raise RuntimeError(str(exc))
    sweep.remove_tree(plan.tmp_dir)


def _packages(plan):
    pattern = os.path.join(plan.partial_base + '.d', 'dib-manifests',
                           'dib-manifest-dpkg-*')
    packages = {}
    for path in glob.glob(pattern):
        with open(path, encoding='utf-8', errors='replace') as f:
            packages.update(manifest.parse_dpkg_manifest(f.read()))
    return packages


def execute(plan, force=False, progress=None, builder_version=None):
    """Build plan's image unless an identical one is already there."""
    say = progress or (lambda msg: None)
    if not force:
        hit = cached_result(plan)
        if hit:
            return hit
    host.require_root()
    host.check_build_host(plan.layout)
    req = plan.request
    for path in (req.output_dir, req.work_dir, req.cache_dir):
        os.makedirs(path, exist_ok=True)
    with lock.TargetLock(req.output_dir, plan.name), \
            lock.SharedCacheLock(req.cache_dir, on_wait=lambda pid: say(
                'waiting for another build using %s (pid %s)'
                % (req.cache_dir, pid)),
                wait_timeout=req.cache_lock_timeout):
        if not force:
            # Another build may have finished while we waited.
            hit = cached_result(plan)
            if hit:
                return hit
        # Leftovers of a build that was killed outright.
        try:
            _release_tmp(plan)
            _remove_partials(plan)
        except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
            raise errors.HostError('cannot clean up what an earlier build '
                                   'of %s left: %s' % (plan.name, exc))
        os.makedirs(plan.tmp_dir)
        for path, text in plan.secrets:
            _write_private(path, text)
        started = time.monotonic()
        say('building %s; log: %s' % (plan.name, plan.log_path))
        with imagefile.open_private(plan.log_path, 'w'):
            pass  # a fresh log per build
        try:
            plan.command.run(
                plan.log_path, stop_timeout=req.stop_timeout,
                timeout=req.timeout,
                on_phase=lambda phase: say('[%4ds] %s' % (
                    time.monotonic() - started, phase)))
            if not os.path.isfile(plan.partial_image):
                raise errors.BuildFailed(
                    'DIB finished but wrote no image %s; log: %s'
                    % (plan.partial_image, plan.log_path))
            info = imagefile.info(plan.partial_image, errors.BuildFailed)
            if info.get('format') != req.fmt:
                raise errors.BuildFailed(
                    'DIB wrote a %s image, expected %s'
                    % (info.get('format'), req.fmt))
            data = dict(plan.facts)
            data.update(
                sha256=manifest.sha256_file(plan.partial_image),
                size=os.path.getsize(plan.partial_image),
                virtual_size=info.get('virtual-size'),
                packages=_packages(plan),
                build_seconds=round(time.monotonic() - started, 1),
                built_at=datetime.datetime.now(
                    datetime.timezone.utc).isoformat(timespec='seconds'),
                builder_version=builder_version,
                log=plan.log_path)
            with open(plan.partial_image, 'rb') as f:
                os.fsync(f.fileno())
                os.fchmod(f.fileno(), imagefile.FILE_MODE)
            os.replace(plan.partial_image, plan.image_path)
            data['fingerprint'] = settled_fingerprint(plan.image_path)
            data[rules_mod.MANIFEST_KEY] = keep_rules(plan, say)
            manifest_path = manifest.write(plan.image_path, data)
        except BaseException:
            _cleanup(plan, quiet=True)  # keep the original error
            raise
        _cleanup(plan)
    return Result(plan.image_path, manifest_path, data, cached=False)


def _write_private(path, text):
    """A new file only root reads (tmp_dir is fresh: nothing to follow)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)


def _cleanup(plan, quiet=False):
    try:
        _release_tmp(plan)
        _remove_partials(plan)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        if not quiet:
            raise errors.HostError('cleanup after the build failed: %s'
                                   % exc)
        LOG.error('cleanup after the failed build is incomplete: %s', exc)
