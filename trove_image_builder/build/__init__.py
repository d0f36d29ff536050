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

from concurrent import futures
import dataclasses
import datetime
import glob
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import threading
import time

from trove_image_builder.build import containers
from trove_image_builder.build import devagent
from trove_image_builder.build import dib
from trove_image_builder.build import host
from trove_image_builder.build import inputs
from trove_image_builder.build import layer
from trove_image_builder.build import partmap
from trove_image_builder.build import sweep
from trove_image_builder.build import wheels
from trove_image_builder import catalog as catalog_mod
from trove_image_builder import conf as conf_mod
from trove_image_builder import datafiles
from trove_image_builder import errors
from trove_image_builder import imagefile
from trove_image_builder import lock
from trove_image_builder import manifest
from trove_image_builder import redact
from trove_image_builder import rules as rules_mod
from trove_image_builder import signals

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
                 'DIB_TROVE_PIP_INDEX_FILE',
                 # A cache: the same wheels with it or without.
                 'DIB_TROVE_WHEEL_CACHE'}
# The file a package index URL with credentials is written to, in the
# build's own TMP_DIR (removed with it): DIB's manifests element copies
# every DIB_* variable into the image, so the URL never is one.
PIP_INDEX_FILE = 'pip-index-url'
# The datastore elements' shared part: read by the layer, never in a base.
DATASTORE_ELEMENT = 'trove-datastore'
# The base manifest's record of its packed (compressed) copy.
PACKED_KEY = 'packed'
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
    base_dir: str = conf_mod.option('build.base_dir')
    wheel_cache: bool = conf_mod.option('build.wheel_cache')
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
class BasePlan:
    """The DIB build every image of one OS, release and agent starts from.

    Raw, kept under [build] base_dir; no datastore element in it.
    """

    request: Request
    name: str
    image_path: str
    log_path: str
    tmp_dir: str
    command: dib.Command
    inputs_hash: str
    facts: dict
    # Whose validation rules are kept beside the base (every manager).
    rules_managers: tuple = ()
    # (path, text) written 0600 when the build starts, removed with
    # tmp_dir: what must reach DIB but not its environment.
    secrets: tuple = ()

    @property
    def partial_base(self):
        return os.path.join(os.path.dirname(self.image_path),
                            '.%s.partial' % self.name)

    @property
    def packed_path(self):
        """The base compressed to qcow2 once, for the layers to patch."""
        return os.path.splitext(self.image_path)[0] + '.qcow2'

    @property
    def rules_export_dir(self):
        return self.partial_base + '.rules'

    @property
    def partial_image(self):
        return self.partial_base + '.raw'


@dataclasses.dataclass(frozen=True)
class Plan:
    """One image: the base, and the layer that makes it a datastore's."""

    request: Request
    name: str
    image_path: str
    tmp_dir: str
    base: BasePlan
    layout: str
    inputs_hash: str
    facts: dict
    # datastore.json's content (None: the generic image) and the
    # container archives (containers.Archive) written over the base.
    record: dict = None
    archives: tuple = ()
    rules_managers: tuple = ()

    @property
    def command(self):
        """The DIB command of the base (what --dry-run shows)."""
        return self.base.command

    @property
    def log_path(self):
        return self.base.log_path

    @property
    def partial_base(self):
        return os.path.join(self.request.output_dir,
                            '.%s.partial' % self.name)

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


def base_dir(req):
    return os.path.abspath(req.base_dir or os.path.join(req.cache_dir,
                                                        'bases'))


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
    if archives:
        # The layer converts archives with the element's own library.
        containers.load_library(elements_dir)
    _check_writable_dir(req.output_dir, 'output directory')
    layout = host.block_device(req.block_device, has_vfat)
    base = _base_plan(req, cat, elements_dir, system, release, agent,
                      layout)

    name = 'trove-%s-%s-%s%s' % (system.name, release, target,
                                 '-dev' if agent['mode'] == 'dev' else '')
    output_dir = os.path.abspath(req.output_dir)
    image_path = os.path.join(output_dir, '%s.%s' % (name, req.fmt))
    record = None
    if ver:
        record = {'datastore': ver.datastore, 'manager': ver.manager,
                  'version': ver.name,
                  'version_number': ver.version_number,
                  'container_image': ver.container_image,
                  'validation_rules': ver.validation_rules,
                  'element': ds.element}
    digest = hashlib.sha256(json.dumps({
        'base': base.inputs_hash, 'record': record, 'format': req.fmt,
        'containers': [a.sha256 for a in archives],
        'layer': layer.LAYER_FORMAT}, sort_keys=True).encode()).hexdigest()
    facts = dict(base.facts)
    facts.pop('frame_hash')
    facts.update({
        'name': name,
        'image': os.path.basename(image_path),
        'format': req.fmt,
        'datastore': ver.datastore if ver else catalog_mod.GENERIC,
        'datastore_version': ver.name if ver else None,
        'version_number': ver.version_number if ver else None,
        'manager': ver.manager if ver else None,
        'container_image': ver.container_image if ver else None,
        'validation_rules': ver.validation_rules if ver else None,
        'elements': base.facts['elements'] + ([ds.element] if ds else []),
        'inputs_hash': digest,
        'container_images': [a.record() for a in archives],
        'base': {'name': base.name, 'inputs_hash': base.inputs_hash},
    })
    return Plan(request=req, name=name, image_path=image_path,
                tmp_dir=os.path.join(os.path.abspath(req.work_dir), name),
                base=base, layout=layout, inputs_hash=digest, facts=facts,
                record=record, archives=archives,
                rules_managers=_rules_managers(cat, ver))


def _base_plan(req, cat, elements_dir, system, release, agent, layout):
    """The DIB build of the base; its hash leaves datastores out.

    The datastore elements (and trove-datastore, which only they use)
    are not in the base, so editing one datastore.yaml rebuilds that
    datastore's layers only.
    """
    for path in req.extra_elements_path:
        if not os.path.isdir(path):
            raise errors.InputError('element directory not found: %s'
                                    % path)
    bad = [k for k, _v in req.extra_env if not k.startswith('DIB_')]
    if bad:
        raise errors.InputError('[dib] extra_env accepts DIB_* only, not %s'
                                % ', '.join(bad))
    constraints = datafiles.constraints_file(req.constraints)
    name = 'trove-%s-%s-base%s' % (system.name, release,
                                   '-dev' if agent['mode'] == 'dev' else '')
    out_dir = base_dir(req)
    image_path = os.path.join(out_dir, name + '.raw')
    tmp_dir = os.path.join(os.path.abspath(req.work_dir), name)
    elements = [system.element, 'vm', _LAYOUT_ELEMENTS[layout],
                'trove-guest', 'trove-guest-agent', 'trove-docker',
                containers.ELEMENT]
    elements += [e for e in req.extra_elements if e not in elements]

    env = {
        'ELEMENTS_PATH': ':'.join([elements_dir] +
                                  [os.path.abspath(p) for p in
                                   req.extra_elements_path]),
        'DIB_RELEASE': release,
        'DIB_IMAGE_CACHE': os.path.abspath(req.cache_dir),
        'DIB_TROVE_WHEEL_CACHE': '1' if req.wheel_cache else '0',
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
        out_dir, '.%s.partial.rules' % name)
    env.update(dict(req.extra_env))

    dic = host.disk_image_create(req.disk_image_create)
    # DIB's helpers (dib-run-parts, dib-block-device) sit beside it.
    env['PATH'] = os.path.dirname(dic) + ':' + host.SBIN_PATH
    argv = [dic, '-t', 'raw', '-o', os.path.join(out_dir,
                                                 '.%s.partial' % name)]
    if req.image_size:
        argv += ['--image-size', str(req.image_size)]
    argv += elements
    command = dib.Command(argv=tuple(argv), env=env)

    layer_only = {ds.element for ds in cat.datastores.values()}
    layer_only.add(DATASTORE_ELEMENT)
    trees = {'elements': inputs.tree_hash(elements_dir, skip=layer_only),
             'constraints': manifest.sha256_file(constraints)}
    for i, path in enumerate(req.extra_elements_path):
        trees['extra-%d' % i] = inputs.tree_hash(path)
    if agent['mode'] == 'dev':
        # The agent's package apart from the rest of its tree: a change
        # to the package alone keeps the frame (devagent's fast path).
        trees['guest-agent'] = inputs.tree_hash(
            agent['source'], skip={devagent.PACKAGE})
        trees[devagent.PACKAGE_TREE] = inputs.tree_hash(
            os.path.join(agent['source'], devagent.PACKAGE))
    hashed_env = {k: v for k, v in env.items() if k not in _VOLATILE_ENV}
    version_dib = dib_version()
    digest = inputs.inputs_hash(
        elements, hashed_env, trees, version_dib,
        extra={'image_size': req.image_size})
    frame = inputs.inputs_hash(
        elements, hashed_env,
        {k: v for k, v in trees.items() if k != devagent.PACKAGE_TREE},
        version_dib, extra={'image_size': req.image_size})
    facts = {
        'name': name,
        'image': os.path.basename(image_path),
        'format': 'raw',
        'os': system.name,
        'release': release,
        'block_device': layout,
        'guest_agent': agent,
        'dib_version': version_dib,
        'elements': elements,
        'elements_hash': trees['elements'],
        'inputs_hash': digest,
        'frame_hash': frame if agent['mode'] == 'dev' else None,
    }
    return BasePlan(request=req, name=name, image_path=image_path,
                    log_path=os.path.join(out_dir, name + '.log'),
                    tmp_dir=tmp_dir, command=command, inputs_hash=digest,
                    facts=facts, secrets=secrets,
                    rules_managers=_rules_managers(cat, None))


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


def execute(plan, force=False, progress=None, builder_version=None,
            rebuild_base=None, cancel=None):
    """Build plan's image unless an identical one is already there.

    force rebuilds the base too, unless rebuild_base says otherwise;
    cancel (a threading.Event) stops a layer running in a worker thread.
    """
    say = progress or (lambda msg: None)
    if not force:
        hit = cached_result(plan)
        if hit:
            return hit
    host.require_root()
    host.check_build_host(plan.layout)
    req = plan.request
    for path in (req.output_dir, req.work_dir, req.cache_dir,
                 os.path.dirname(plan.base.image_path)):
        os.makedirs(path, exist_ok=True)
    # SIGINT/SIGTERM unwind every step (DIB has handlers of its own);
    # in a worker thread of execute_all this is a no-op: cancel is used.
    with lock.TargetLock(req.output_dir, plan.name), \
            signals.interrupting(once=True):
        if not force:
            # Another build may have finished while we waited.
            hit = cached_result(plan)
            if hit:
                return hit
        _sweep_leftovers(plan)
        os.makedirs(plan.tmp_dir)
        try:
            data = _make_layer(plan, force if rebuild_base is None
                               else rebuild_base, say, builder_version,
                               cancel)
        except BaseException:
            _cleanup(plan, quiet=True)  # keep the original error
            raise
        _cleanup(plan)
    return Result(plan.image_path, manifest.path_for(plan.image_path),
                  data, cached=False)


def execute_all(plans, jobs=0, force=False, progress=None,
                builder_version=None):
    """Results of several plans: each base built once, then the layers.

    Up to jobs layers at once (0: one per core); each job's progress
    lines carry its image's name. Results come in plans' order.
    """
    say = progress or (lambda msg: None)
    with signals.interrupting(once=True):
        return _execute_all(plans, jobs, force, say, builder_version)


def _execute_all(plans, jobs, force, say, builder_version):
    results, pending, bases = [None] * len(plans), [], set()
    for i, plan in enumerate(plans):
        hit = None if force else cached_result(plan)
        if hit:
            results[i] = hit
            continue
        pending.append(i)
        if plan.base.image_path not in bases:
            bases.add(plan.base.image_path)
            ensure_base(plan, force, say, builder_version)
    cancel = threading.Event()
    pool = futures.ThreadPoolExecutor(
        max_workers=min(jobs or os.cpu_count() or 1, len(pending) or 1))
    try:
        running = {pool.submit(
            execute, plans[i], force=force, rebuild_base=False,
            progress=lambda msg, name=plans[i].name: say(
                '[%s] %s' % (name, msg)),
            builder_version=builder_version, cancel=cancel): i
            for i in pending}
        for done in futures.as_completed(running):
            results[running[done]] = done.result()
    except BaseException:
        # Stop the others and let them clean up before going on.
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def ensure_base(plan, force, say, builder_version):
    """plan's base, built unless up to date (or force); its manifest."""
    host.require_root()
    host.check_build_host(plan.layout)
    base = plan.base
    for path in (plan.request.cache_dir, os.path.dirname(base.image_path)):
        os.makedirs(path, exist_ok=True)
    with _base_lock(base, say):
        return _current_base(base, force, say, builder_version)


def _current_base(base, rebuild, say, builder_version, fresh=None):
    """The base's manifest, built first unless up to date (lock held).

    fresh: {'copy_to': path}, for a base DIB builds now to be copied to
    path by the read that hashes it; 'copied' is set to True then.
    """
    hit = None if rebuild else cached_result(base)
    if hit:
        say('base %s is up to date' % base.name)
        return hit.manifest
    return _build_base(base, say, builder_version, fresh)


def _base_lock(base, say):
    """Builds needing one base take turns: it is built once, then read."""
    req = base.request
    path = os.path.join(os.path.dirname(base.image_path),
                        '.%s.lock' % base.name)
    return lock.Lock(
        path, lambda pid: say('waiting for another build using the base '
                              '%s (pid %s)' % (base.name, pid)),
        req.cache_lock_timeout, lock.refuse(
            'another build held the base %s for more than %d seconds; '
            'gave up waiting ([build] cache_lock_timeout)'
            % (base.name, req.cache_lock_timeout)))


def _copy_base(plan, work_image, force, say, builder_version):
    """The base (built when needed) copied to work_image; its manifest.

    The caller holds the base's lock. A base that does not match its
    recorded sha256 is rebuilt, once. A base DIB builds now is copied by
    the read that hashes it.
    """
    base, made = plan.base, {}
    fresh = {'copy_to': work_image}

    def sha256(attempt):
        made.update(_current_base(base, force or attempt, say,
                                  builder_version, fresh))
        return None if fresh.get('copied') else made['sha256']

    started = time.monotonic()
    _checked_copy(base.image_path, work_image, sha256, say, 'the base',
                  'rebuilding it')
    say('copied the base in %.1fs' % (time.monotonic() - started))
    return made


def _copy_packed(base, data, dest, say, cancel):
    """The packed base (made when missing or stale) copied to dest.

    The caller holds the base's lock; data is the base's manifest, which
    records the packed file's sha256 and the base's it was made from.
    """
    def sha256(attempt):
        packed = data.get(PACKED_KEY) or {}
        if (attempt or packed.get('base_sha256') != data['sha256'] or
                not os.path.isfile(base.packed_path)):
            packed = _pack_base(base, data, say, cancel)
        return packed['sha256']

    _checked_copy(base.packed_path, dest, sha256, say, 'the packed base',
                  'packing it again')


def _checked_copy(src, dest, sha256, say, what, remedy):
    """src copied to dest, its content checked against sha256(attempt).

    sha256(1) makes src anew before giving its sha256: a src that does
    not match its record is made again, once. sha256() gives None when
    making src copied it to dest already.
    """
    for attempt in range(2):
        expected = sha256(attempt)
        if expected is None or layer.copy_checked(src, dest, expected):
            return
        os.unlink(dest)
        say('%s %s does not match the sha256 in its manifest; %s'
            % (what, src, remedy))
    raise errors.BuildFailed('%s %s was made again but does not match '
                             'its own sha256; is the disk failing?'
                             % (what, src))


def _pack_base(base, data, say, cancel):
    """Compress the base once for every qcow2 layer; its record."""
    started = time.monotonic()
    say('compressing the base %s once for its layers' % base.name)
    partial = base.partial_base + '.qcow2'
    try:
        layer.pack(base.image_path, partial, cancel)
        os.chmod(partial, imagefile.FILE_MODE)
        packed = {'sha256': manifest.sha256_file(partial),
                  'base_sha256': data['sha256'],
                  'seconds': round(time.monotonic() - started, 1)}
        os.replace(partial, base.packed_path)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    data[PACKED_KEY] = packed
    manifest.write(base.image_path, data)
    say('packed the base in %.1fs' % packed['seconds'])
    return packed


def _make_layer(plan, rebuild_base, say, builder_version, cancel):
    req = plan.request
    started = time.monotonic()
    work_image = os.path.join(plan.tmp_dir, 'base.raw')
    root = os.path.join(plan.tmp_dir, 'root')
    # Without archives a qcow2 layer is the packed base patched; archives
    # are worth compressing, so their layers are converted whole.
    patched = req.fmt == 'qcow2' and not plan.archives
    overlay = os.path.join(plan.tmp_dir, 'layer.qcow2')
    with _base_lock(plan.base, say):
        base_data = _copy_base(plan, work_image, rebuild_base, say,
                               builder_version)
        layer_started = time.monotonic()
        if patched:
            # Compared with the base while nobody can rebuild it.
            _copy_packed(plan.base, base_data, plan.partial_image, say,
                         cancel)
            say('writing the %s layer' % plan.name)
            layer.write_layer(work_image, root, plan.record, (), None)
            layer.diff(plan.base.image_path, work_image, overlay, cancel)
    if patched:
        layer.apply(overlay, plan.partial_image, cancel)
    else:
        say('writing the %s layer' % plan.name)
        lib = containers.load_library(
            datafiles.elements_dir(req.elements_dir)) \
            if plan.archives else None
        layer.write_layer(work_image, root, plan.record, plan.archives, lib)
        if req.fmt == 'raw':
            shutil.move(work_image, plan.partial_image)
        else:
            say('converting to %s' % req.fmt)
            layer.convert(work_image, plan.partial_image, req.fmt, cancel)
    info = imagefile.info(plan.partial_image, errors.BuildFailed)
    if info.get('format') != req.fmt:
        raise errors.BuildFailed('the layer is a %s image, expected %s'
                                 % (info.get('format'), req.fmt))
    if info.get('backing-filename') or info.get('full-backing-filename'):
        raise errors.BuildFailed('the layer %s still has a backing file'
                                 % plan.partial_image)
    data = dict(plan.facts)
    data['base'] = dict(data['base'], sha256=base_data['sha256'],
                        build_seconds=base_data.get('build_seconds'),
                        built_at=base_data.get('built_at'))
    data.update(
        sha256=manifest.sha256_file(plan.partial_image),
        size=os.path.getsize(plan.partial_image),
        virtual_size=info.get('virtual-size'),
        packages=base_data.get('packages', {}),
        layer_seconds=round(time.monotonic() - layer_started, 1),
        layer_method='patched' if patched else 'converted',
        build_seconds=round(time.monotonic() - started, 1),
        built_at=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'),
        builder_version=builder_version,
        log=plan.base.log_path)
    with open(plan.partial_image, 'rb') as f:
        os.fsync(f.fileno())
        os.fchmod(f.fileno(), imagefile.FILE_MODE)
    os.replace(plan.partial_image, plan.image_path)
    data['fingerprint'] = settled_fingerprint(plan.image_path)
    data[rules_mod.MANIFEST_KEY] = _layer_rules(plan, base_data, say)
    manifest.write(plan.image_path, data)
    return data


def _layer_rules(plan, base_data, say):
    """The base's validation rules kept for the image's own managers."""
    kept = base_data.get(rules_mod.MANIFEST_KEY) or {}
    sources, missing = {}, []
    for manager in plan.rules_managers:
        path = rules_mod.for_image(plan.base.image_path, base_data, manager)
        if path:
            sources[manager] = (path, kept['files'][manager]['from'])
        else:
            missing.append(manager)
    if missing and plan.record:
        say('no validation rules for %s in the image\'s trove %s: load '
            'registers no configuration parameters for it'
            % (', '.join(missing), kept.get('trove_version') or
               '(unknown)'))
    return rules_mod.keep(plan.image_path, sources,
                          kept.get('trove_version'))


def _dib_base(base, say, builder_version, started, fresh=None):
    """Run DIB for the base; its manifest (not yet written).

    fresh: see _current_base.
    """
    req = base.request
    say('building the base %s; log: %s' % (base.name, base.log_path))
    with imagefile.open_private(base.log_path, 'w'):
        pass  # a fresh log per build
    # The loop devices DIB has when it is told to stop: its trap may
    # unmount their tmpfs before it detaches them, and then nothing
    # else ties them to this build.
    held = {}

    def on_stop():
        held.update(sweep.identities(sweep.loops_of(
            base.tmp_dir, base.partial_base)))

    fill = wheels.host_fill(base.command.env, base.secrets,
                            datafiles.elements_dir(req.elements_dir),
                            base.facts['os'])
    try:
        with wheels.filling(fill, base.log_path, base.tmp_dir,
                            req.stop_timeout, say):
            base.command.run(
                base.log_path, stop_timeout=req.stop_timeout,
                timeout=req.timeout, on_stop=on_stop,
                on_phase=lambda phase: say('[%4ds] %s' % (
                    time.monotonic() - started, phase)))
    finally:
        sweep.release_identified(held)
    if not os.path.isfile(base.partial_image):
        raise errors.BuildFailed(
            'DIB finished but wrote no image %s; log: %s'
            % (base.partial_image, base.log_path))
    info = imagefile.info(base.partial_image, errors.BuildFailed)
    if info.get('format') != 'raw':
        raise errors.BuildFailed('DIB wrote a %s image, expected '
                                 'raw' % info.get('format'))
    if fresh:
        sha256 = layer.copy_hashed(base.partial_image, fresh['copy_to'])
        fresh['copied'] = True
    else:
        sha256 = manifest.sha256_file(base.partial_image)
    data = dict(base.facts)
    data.update(
        sha256=sha256,
        size=os.path.getsize(base.partial_image),
        virtual_size=info.get('virtual-size'),
        packages=_packages(base),
        built_at=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'),
        builder_version=builder_version,
        log=base.log_path)
    with open(base.partial_image, 'rb') as f:
        os.fsync(f.fileno())
        os.fchmod(f.fileno(), imagefile.FILE_MODE)
    os.replace(base.partial_image, base.image_path)
    data['fingerprint'] = settled_fingerprint(base.image_path)
    data[rules_mod.MANIFEST_KEY] = keep_rules(base, say)
    return data


def _refresh_base(base, say, builder_version):
    """Dev mode: the base with only the agent replaced; None: use DIB."""
    old = manifest.read(base.image_path)
    if not devagent.applies(old, base.facts):
        return None
    work = os.path.join(base.tmp_dir, 'refresh.raw')
    if not layer.copy_checked(base.image_path, work, old.get('sha256')):
        say('the base %s does not match its manifest; building it with '
            'DIB' % base.image_path)
        return None
    say('dev mode: only the agent\'s code changed; replacing it in the '
        'base %s' % base.name)
    with layer.mounted(work, os.path.join(base.tmp_dir, 'root')) as root:
        count = devagent.replace_agent(
            root, base.facts['guest_agent']['source'])
    say('replaced %d files of the agent' % count)
    data = dict(base.facts)
    data.update(
        sha256=manifest.sha256_file(work), size=os.path.getsize(work),
        virtual_size=os.path.getsize(work), packages=old.get('packages', {}),
        built_at=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'),
        builder_version=builder_version, log=base.log_path,
        refreshed_from=old.get('inputs_hash'))
    with open(work, 'rb') as f:
        os.fsync(f.fileno())
        os.fchmod(f.fileno(), imagefile.FILE_MODE)
    os.replace(work, base.image_path)
    data['fingerprint'] = settled_fingerprint(base.image_path)
    # The image's rules export is from the old agent: the new tree's own.
    data[rules_mod.MANIFEST_KEY] = keep_rules(base, say)
    return data


def _build_base(base, say, builder_version, fresh=None):
    """The base made anew (the caller holds its lock); its manifest.

    Dev mode's fast path needs no DIB and so not DIB's cache either.
    fresh: see _current_base.
    """
    started = time.monotonic()
    data = _prepared(base, lambda: _refresh_base(base, say,
                                                 builder_version))
    if data is None:
        req = base.request
        with lock.SharedCacheLock(req.cache_dir, on_wait=lambda pid: say(
                'waiting for another build using %s (pid %s)'
                % (req.cache_dir, pid)),
                wait_timeout=req.cache_lock_timeout):
            data = _prepared(base, lambda: _dib_base(
                base, say, builder_version, time.monotonic(), fresh))
    data['build_seconds'] = round(time.monotonic() - started, 1)
    manifest.write(base.image_path, data)
    return data


def _prepared(base, make):
    """make() in a fresh tmp dir, cleaned up after whatever happens."""
    _sweep_leftovers(base)
    os.makedirs(base.tmp_dir)
    for path, text in base.secrets:
        _write_private(path, text)
    try:
        data = make()
    except BaseException:
        _cleanup(base, quiet=True)  # keep the original error
        raise
    _cleanup(base)
    return data


def _write_private(path, text):
    """A new file only root reads (tmp_dir is fresh: nothing to follow)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)


def _sweep_leftovers(plan):
    """What a build of plan's target that was killed outright left."""
    try:
        _release_tmp(plan)
        _remove_partials(plan)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        raise errors.HostError('cannot clean up what an earlier build '
                               'of %s left: %s' % (plan.name, exc))


def _cleanup(plan, quiet=False):
    try:
        _release_tmp(plan)
        _remove_partials(plan)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        if not quiet:
            raise errors.HostError('cleanup after the build failed: %s'
                                   % exc)
        LOG.error('cleanup after the failed build is incomplete: %s', exc)
