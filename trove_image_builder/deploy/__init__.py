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

"""deploy: every listed datastore version built (or fetched), loaded,
registered, and the first one per datastore made its default.

The one command devstack's plugin and the CI jobs run. Each step is the
module the single-step commands use (build, fetch, load, activate);
this module decides the order (and what runs at once: layers, then the
loads of versions that share neither an image file nor a datastore),
makes room in Glance's quota, creates the flavors Trove's tests use, and
records what it made in a state file so `undeploy` can take exactly
that away again. Running it twice changes nothing the second time:
builds hit their cache, loads find their images, registrations and
defaults are already as wanted.
"""

from concurrent import futures
import dataclasses
import os
import threading

from trove_image_builder import activate
from trove_image_builder import build
from trove_image_builder import catalog
from trove_image_builder.cloud import connection
from trove_image_builder.cloud import flavors as flavors_mod
from trove_image_builder.cloud import glance as glance_mod
from trove_image_builder.cloud import quota
from trove_image_builder import conf as conf_mod
from trove_image_builder import datafiles
from trove_image_builder.deploy import datastores
from trove_image_builder.deploy import fetch
from trove_image_builder.deploy import state as state_mod
from trove_image_builder import errors
from trove_image_builder import imagefile
from trove_image_builder import load
from trove_image_builder import manifest
from trove_image_builder import register
from trove_image_builder import signals
from trove_image_builder import verify as verify_mod
from trove_image_builder.verify import conformance

REGISTRARS = (register.AUTO,) + register.KINDS
VERIFY = ('none', 'boot', 'conformance')
IMAGES = ('auto', 'shared', 'per-version')
# Downloads live in the default DIB cache directory's downloads/.
DOWNLOAD_DIR = os.path.join(conf_mod.default('build.cache_dir'), 'downloads')


@dataclasses.dataclass(frozen=True)
class Request:
    datastores: str
    image_file: str = None
    image_url: str = None
    image_checksum: str = None  # "ALGO:HEX" of the image at image_url
    insecure: bool = False  # no TLS verification; plain http allowed
    cacert: str = None  # CA bundle for image_url's server (--os-cacert)
    download_dir: str = DOWNLOAD_DIR
    registrar: str = register.AUTO
    activate: bool = True
    flavors: tuple = flavors_mod.DEFAULTS
    glance_limit: bool = True
    state_file: str = None
    force_build: bool = False
    # Layers built, and version groups loaded, at once; None: [build] jobs
    jobs: int = None
    # auto: one image for the versions that differ only in datastore.json;
    # shared: one for all; per-version: one each.
    images: str = 'auto'
    # none | boot | conformance: check each image before it is loaded.
    verify: str = 'none'
    build_flags: tuple = ()  # (name, value): build.Request fields
    load_flags: tuple = ()  # (name, value): load.Request fields


@dataclasses.dataclass(frozen=True)
class Row:
    version: catalog.Version
    image_path: str
    source: str  # built | cached build | file | download | cached download
    load: load.Result
    default: bool = False
    default_changed: bool = False


@dataclasses.dataclass(frozen=True)
class Result:
    rows: tuple
    registrar: str
    flavors: tuple  # flavors.Outcome
    limit_change: quota.Change = None
    notes: tuple = ()


def _build_all(versions, req, conf, say, builder_version):
    """Their images: the shared base once, then the layers, jobs at once.

    Two or more versions whose images would differ only in
    datastore.json share one generic image unless req.images says
    otherwise: Trove's agent learns its datastore from what the
    taskmanager injects, so one image (one upload) serves them all, as
    in Trove's own devstack. A version with container archives to embed
    gets an image of its own.
    """
    flags = dict(req.build_flags)
    plans = {ver: build.make_plan(build.Request.from_conf(
        conf, datastore=ver.datastore, version=ver.name, **flags))
        for ver in versions}
    if req.images == 'per-version':
        own = list(versions)
    elif req.images == 'shared':
        own = []
    else:
        own = [ver for ver in versions if plans[ver].archives]
        if len(versions) - len(own) == 1:
            own = list(versions)  # nothing to share: its own record
    shared = [ver for ver in versions if ver not in own]
    todo = [plans[ver] for ver in own]
    if shared:
        todo.append(build.make_plan(build.Request.from_conf(
            conf, datastore=catalog.GENERIC, **flags)))
        if req.images == 'auto':
            say('%s: one shared image (their images would differ only in '
                'datastore.json; --images per-version makes one each)'
                % ', '.join('%s %s' % (v.datastore, v.name) for v in shared))
    results = build.execute_all(
        todo, jobs=req.jobs or conf.build.jobs, force=req.force_build,
        progress=say, builder_version=builder_version)
    made = dict(zip(own, results))
    made.update((ver, results[-1]) for ver in shared)
    return {ver: (made[ver].image_path,
                  'cached build' if made[ver].cached else 'built')
            for ver in versions}


def image_files(versions, req, conf, say, builder_version=None):
    """{Version: (image path, source)}.

    One prebuilt image for all versions, or one build per version.
    """
    if req.image_file and req.image_url:
        raise errors.InputError('give an image file or an image URL, not '
                                'both')
    if req.image_file:
        path = os.path.abspath(req.image_file)
        # Refused here, before anything in the cloud is looked at.
        imagefile.check_file(path, dict(req.load_flags).get('disk_format')
                             or (manifest.read(path) or {}).get('format'))
        return {ver: (path, 'file') for ver in versions}
    if req.image_url:
        path, was_cached = fetch.fetch(
            req.image_url, req.download_dir, say, verify=not req.insecure,
            checksum=req.image_checksum, cacert=req.cacert)
        source = 'cached download' if was_cached else 'download'
        return {ver: (path, source) for ver in versions}
    return _build_all(versions, req, conf, say, builder_version)


def check_images(files, req, conf, say, catalog_=None):
    """Verify each image as req.verify asks; refuse recorded failures.

    An image whose manifest records a failed check is refused (exit 9)
    unless req.force_build; a check run here that fails stops the
    deploy before anything is loaded (exit 10).
    """
    checked = set()
    for ver, (path, _source) in files.items():
        if req.verify == 'boot' and path not in checked:
            checked.add(path)
            result = verify_mod.run(path, verify_mod.Options.from_conf(conf),
                                    progress=say)
            if not result.passed:
                raise errors.VerifyFailed(result.message,
                                          serial_log=result.serial_log,
                                          tail=result.tail)
        elif req.verify == 'conformance':
            result = conformance.run(
                path, '%s:%s' % (ver.datastore, ver.name),
                conformance.Options.from_conf(conf),
                catalog_ or conformance.load_catalog(conf), progress=say)
            if not result.passed:
                raise errors.VerifyFailed(result.message,
                                          serial_log=result.serial_log,
                                          tail=result.tail)
        failed = manifest.failed_checks(manifest.read(path))
        if failed and not req.force_build:
            raise errors.Refused(
                '%s failed its %s check (recorded in its manifest); fix '
                'and verify it again, or pass --force' % (
                    path, ' and '.join(failed)))


def _new_bytes(glance, paths):
    """Bytes of the distinct files whose content is not in Glance yet."""
    total, seen = 0, set()
    for path in paths:
        facts = manifest.read(path) or {}
        sha256 = facts.get('sha256') or manifest.sha256_file(path)
        if sha256 in seen:
            continue
        seen.add(sha256)
        if not any(i.get('status') == 'active'
                   for i in glance.by_sha256(sha256)):
            total += os.path.getsize(path)
    return total


def _load_request(conf, path, ver, req, kind):
    flags = dict(req.load_flags)
    flags.update(datastore=ver.datastore, datastore_version=ver.name,
                 version_number=ver.version_number, manager=ver.manager,
                 validation_rules=ver.validation_rules or None,
                 registrar=kind, register=True)
    return load.Request.from_conf(conf, path, **flags)


def load_groups(versions, files):
    """versions split into the groups that must load one after another.

    Versions of one image file (one Glance image; load's lock refuses a
    second load of the same content at once) or of one datastore (their
    registrations would race to create its row) share a group, in the
    order listed. Groups come in the order of their first version.
    """
    parent = list(range(len(versions)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    first = {}
    for i, ver in enumerate(versions):
        for key in (('path', files[ver][0]), ('datastore', ver.datastore)):
            parent[root(i)] = root(first.setdefault(key, i))
    groups = {}
    for i, ver in enumerate(versions):
        groups.setdefault(root(i), []).append(ver)
    return list(groups.values())


def _load_all(versions, files, loader, jobs, loaded, stopping=None):
    """Load every version: load_groups' groups at once, up to jobs.

    loader() gives each group's thread its function load_one(ver,
    progress); loaded(ver, path, source, result) is called per version
    as soon as it is in. A failure sets stopping (a threading.Event):
    no group starts another version, and the first failure is raised
    once all have ended. An interrupt also stops the uploads in progress
    (load deletes their half-made images).
    """
    stopping = stopping or threading.Event()
    interrupted = threading.Event()
    lock, failures = threading.Lock(), []

    def check(sent, size):
        # Called per block sent: raising here makes load clean up.
        if interrupted.is_set():
            raise errors.Interrupted('interrupted; upload stopped')

    def load_group(group):
        try:
            load_one = loader()
            for ver in group:
                if stopping.is_set():
                    return
                loaded(ver, *files[ver], load_one(ver, check))
        except BaseException as exc:
            with lock:
                failures.append(exc)
            stopping.set()

    groups = load_groups(versions, files)
    pool = futures.ThreadPoolExecutor(
        max_workers=min(jobs or os.cpu_count() or 1, len(groups)))
    # SIGINT/SIGTERM raise in the main thread, the workers see the
    # events; a second signal is ignored, so the cleanup gets to finish.
    with signals.interrupting(once=True):
        try:
            futures.wait([pool.submit(load_group, g) for g in groups])
        except BaseException:
            stopping.set()
            interrupted.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if failures:
        raise failures[0]  # the first: later ones may be its echoes


def _note_loaded(state, ver, result):
    """Record in state what loading ver made or changed."""
    image = result.glance_image
    state.note('images', image['id'], result.uploaded,
               name=image.get('name'))
    outcome = result.registration
    key = state_mod.version_key(ver.datastore, ver.name)
    facts = dict(id=outcome.version.id, datastore=ver.datastore,
                 name=ver.name)
    prev = outcome.previous
    if outcome.action == 'updated' and prev and 'previous' not in \
            state.data['versions'].get(key, {}):
        # What Trove had before the first deploy changed it, for
        # undeploy to put back (the version itself is not ours).
        facts['previous'] = {
            'version_number': prev.version_number,
            'manager': prev.manager, 'image_id': prev.image_id,
            'image_tags': list(prev.image_tags),
            'active': prev.active}
    state.note('versions', key, outcome.action == 'created', **facts)


def run(req, conf, connect, say=None, connect_limits=None,
        builder_version=None):
    """Deploy req's versions.

    connect() returns an openstacksdk Connection, connect_limits() one
    scoped to the system (for the quota).
    """
    say = say or (lambda msg: None)
    cat = catalog.Catalog.load(datafiles.elements_dir(conf.build.elements_dir))
    versions = datastores.parse_entries(req.datastores, cat)
    wanted_flavors = flavors_mod.parse_all(req.flavors)
    if req.registrar not in REGISTRARS:
        raise errors.InputError('unknown registrar %r (one of %s)'
                                % (req.registrar, ', '.join(REGISTRARS)))
    if req.images not in IMAGES:
        raise errors.InputError('unknown --images %r (one of %s)'
                                % (req.images, ', '.join(IMAGES)))
    if req.verify not in VERIFY:
        raise errors.InputError('unknown --verify %r (one of %s)'
                                % (req.verify, ', '.join(VERIFY)))
    state = state_mod.State.load(req.state_file)
    conn = connect()  # wrong credentials fail before any build
    kind = register.choose(conn, req.registrar, say)
    files = image_files(versions, req, conf, say, builder_version)
    check_images(files, req, conf, say, cat)

    image_api = connection.image_api(conn)
    glance = glance_mod.Glance(image_api, conn.current_project_id)
    flags = dict(req.load_flags)
    settings = register.Settings.from_conf(
        conf, kind=kind, trove_manage=flags.get('trove_manage'),
        config_file=flags.get('trove_config_file'))
    registrar = settings.make(conn)
    notes = []
    for ds in datastores.first_per_datastore(versions):
        state.note('datastores', ds, registrar.versions(ds) is None)

    change = None
    if req.glance_limit:
        new_bytes = _new_bytes(glance, [p for p, _s in files.values()])

        def record(change):
            # On file before Keystone changes: undeploy can undo it even
            # if this process dies right after.
            state.note_limit(change)
            state.save()
        change = quota.ensure_room(
            image_api, conn.current_project_id, new_bytes,
            lambda: (connect_limits or connect)().identity, record)
        if change:
            say('raised Glance\'s %s %s from %d to %d MiB' % (
                quota.RESOURCE, change.kind.replace('_', ' '), change.old,
                change.new))

    def loader():
        # A Connection per thread: sharing one is not documented as safe.
        own_conn = connect()
        own_registrar = settings.make(own_conn)
        # Versions sharing a file load in one group's thread, one after
        # another: the file is hashed once for them all.
        hashes = {}

        def load_one(ver, progress):
            prefix = '[%s %s] ' % (ver.datastore, ver.name)
            return load.run(
                _load_request(conf, files[ver][0], ver, req, kind),
                lambda: own_conn, progress=progress,
                say=lambda msg: say(prefix + msg),
                builder_version=builder_version,
                make_registrar=lambda *a, **k: own_registrar,
                hashes=hashes)
        return load_one

    loaded, lock = {}, threading.Lock()

    def note_loaded(ver, path, source, result):
        with lock:  # called from the workers' threads
            loaded[ver] = (path, source, result)
            _note_loaded(state, ver, result)

    try:
        _load_all(versions, files, loader, req.jobs or conf.build.jobs,
                  note_loaded)
        for ver in versions:
            notes += ['%s %s: %s' % (ver.datastore, ver.name, n)
                      for n in loaded[ver][2].notes]

        defaults = {}
        if req.activate:
            for ds, ver in datastores.first_per_datastore(versions).items():
                number = loaded[ver][2].registration.version.version_number
                done = activate.activate(registrar, glance, ds, ver.name,
                                         number, force=req.force_build)
                defaults[ver] = done.changed

        made_flavors = ()
        if wanted_flavors:
            if flavors_mod.has_compute(conn):
                made_flavors = tuple(flavors_mod.ensure(conn,
                                                        wanted_flavors))
                for out in made_flavors:
                    state.note('flavors', out.flavor.id,
                               out.action == 'created',
                               name=out.flavor.name)
                    if out.note:
                        notes.append(out.note)
            else:
                notes.append('no compute endpoint in the catalog: flavors '
                             'not created')
    finally:
        state.save()  # what was made so far, even when a step failed

    rows = tuple(Row(version=ver, image_path=loaded[ver][0],
                     source=loaded[ver][1], load=loaded[ver][2],
                     default=ver in defaults,
                     default_changed=defaults.get(ver, False))
                 for ver in versions)
    return Result(rows=rows, registrar=kind, flavors=made_flavors,
                  limit_change=change, notes=tuple(notes))
