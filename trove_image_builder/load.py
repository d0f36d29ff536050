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

"""load: file checks -> find-or-upload to Glance -> register with Trove.

What the image is comes from the manifest beside it (flags may supply or
override it for an image built elsewhere). The upload is idempotent: an
active image of the target project with the same size and Glance hash
(os_hash_value) as the file is reused.
A failed upload leaves nothing in Glance; a failed registration leaves
the image in Glance, so the next run only registers.
"""

import dataclasses
import os
import signal
import time

from trove_image_builder import catalog
from trove_image_builder.cloud import connection
from trove_image_builder.cloud import glance as glance_mod
from trove_image_builder import conf as conf_mod
from trove_image_builder import errors
from trove_image_builder import imagefile
from trove_image_builder import lock
from trove_image_builder import manifest
from trove_image_builder import register
from trove_image_builder import rules as rules_mod
from trove_image_builder import signals


@dataclasses.dataclass(frozen=True)
class Request(conf_mod.FromConf):
    """What the user asked for, after flags and config are merged."""

    image_path: str
    datastore: str = None
    datastore_version: str = None
    version_number: str = None
    manager: str = None
    name: str = None
    disk_format: str = None
    visibility: str = conf_mod.option('cloud.visibility')
    container_format: str = conf_mod.option('cloud.container_format')
    hash_algorithm: str = conf_mod.option('cloud.hash_algorithm')
    cleanup_timeout: int = conf_mod.option('cloud.cleanup_timeout')
    leftover_age: int = conf_mod.option('cloud.leftover_age')
    register: bool = True
    registrar: str = conf_mod.option('trove.registrar')
    register_by: str = conf_mod.option('trove.register_by')
    validation_rules: str = None
    trove_manage: str = conf_mod.option('trove.trove_manage')
    trove_config_file: str = conf_mod.option('trove.config_file')

    @classmethod
    def from_conf(cls, conf, image_path, **flags):
        return super().from_conf(conf, image_path=image_path, **flags)


@dataclasses.dataclass(frozen=True)
class Image:
    """The checked file and everything Glance and Trove will be told."""

    path: str
    name: str
    disk_format: str
    size: int
    sha256: str  # None: no manifest, hashed during the upload
    datastore: str  # None: nothing to register
    datastore_version: str
    version_number: str
    manager: str
    validation_rules: str
    tags: tuple
    properties: dict


@dataclasses.dataclass(frozen=True)
class Result:
    image: Image
    glance_image: dict
    uploaded: bool
    upload_seconds: float = None
    registration: register.Outcome = None
    parameters: str = None
    notes: tuple = ()


def describe(req, builder_version=None):
    """Check the file and decide name, tags and properties; no network."""
    path = os.path.abspath(req.image_path)
    facts = manifest.read(path) or {}
    declared = req.disk_format or facts.get('format')
    disk_format = imagefile.glance_format(imagefile.check_file(
        path, imagefile.qemu_format(declared) if declared else None))
    size = os.path.getsize(path)
    if facts.get('size') is not None and facts['size'] != size:
        raise errors.InputError(
            'image %s is %d bytes, its manifest says %d: truncated or '
            'changed since it was built' % (path, size, facts['size']))

    datastore = req.datastore or facts.get('datastore')
    version = req.datastore_version or facts.get('datastore_version')
    if datastore == catalog.GENERIC:
        datastore = version = None
    if bool(datastore) != bool(version):
        raise errors.InputError(
            'registering needs both a datastore and a version (got %s); '
            'give --datastore and --datastore-version'
            % ('datastore %s' % datastore if datastore
               else 'version %s' % version))
    if not facts and not datastore and req.register:
        raise errors.InputError(
            'no manifest beside %s: give --datastore and '
            '--datastore-version, or --no-register' % path)
    own = bool(facts.get('datastore_version')) and \
        facts.get('datastore') == datastore and \
        facts.get('datastore_version') == version
    version_number = req.version_number or (
        facts.get('version_number') if own else None) or version
    manager = req.manager or (facts.get('manager') if own else None) or \
        datastore
    rules = _rules(req, path, facts, manager, own)

    name = req.name or facts.get('name') or \
        os.path.splitext(os.path.basename(path))[0]
    tags = ['trove']
    if datastore:
        tags += [datastore, '%s-%s' % (datastore, version)]
    properties = {'hw_rng_model': 'virtio'}
    if facts.get('os'):
        properties['os_distro'] = facts['os']
    if facts.get('release'):
        properties['os_version'] = facts['release']
    if datastore:
        properties['trove_datastore'] = datastore
        properties['trove_datastore_version'] = version
    properties[glance_mod.VERSION_PROPERTY] = (
        facts.get('builder_version') or builder_version or 'unknown')
    # What the build host's checks said, for activate to refuse on.
    for check, result in manifest.check_results(facts).items():
        properties[glance_mod.CHECK_PROPERTY % check] = result
    return Image(path=path, name=name, disk_format=disk_format, size=size,
                 sha256=facts.get('sha256'), datastore=datastore,
                 datastore_version=version, version_number=version_number,
                 manager=manager, validation_rules=rules, tags=tuple(tags),
                 properties=properties)


def _rules(req, path, facts, manager, own):
    """--validation-rules FILE, else the rules kept beside the image.

    A "trove:" spec (the catalogue's, as deploy passes it) names the
    same file in whichever trove is at hand, so the copy the build took
    from the image's own trove wins over it. The kept rules also serve
    a generic image registered for a datastore: its agent is that trove.
    """
    if req.validation_rules and not req.validation_rules.startswith(
            'trove:'):
        return req.validation_rules
    return rules_mod.for_image(path, facts, manager) or \
        req.validation_rules or (
            facts.get('validation_rules') if own else None)


def _reusable(glance, image, req, say, hashes):
    """The active image of the target project that is this very file.

    A Glance image is only taken for the file when its owner is the
    target project and its size and os_hash_value (Glance's own hash,
    in Glance's algorithm) are the file's: anyone in the project can set
    the sha256 property. Unfinished images (leftovers of interrupted
    loads) are deleted on the way when they are ours and stale. hashes
    holds the file's digests by algorithm, and gets those made here.
    """
    hashes.setdefault('sha256', image.sha256)

    def local(algo):
        if algo not in hashes:
            hashes[algo] = manifest.hash_file(image.path, algo)
        return hashes[algo]

    active = []
    for found in glance.by_sha256(image.sha256):
        status = found.get('status')
        if status == 'active':
            differs = _differs(found, image, local)
            if differs:
                say('image %s carries the sha256 of %s but %s: not reused'
                    % (found['id'], image.path, differs))
            else:
                active.append(found)
        elif status in glance_mod.UNFINISHED:
            if _ours_and_stale(found, req.leftover_age):
                glance.delete(found['id'])
                say('deleted image %s (%s), left by an interrupted load'
                    % (found['id'], found['status']))
            else:
                say('image %s (%s) is not ours to delete, or another '
                    'host may still be uploading it: left alone'
                    % (found['id'], status))
    active.sort(key=lambda i: i.get('created_at') or '', reverse=True)
    return active[0] if active else None


def _differs(found, image, local):
    """Why found is not image's file, or None when it is."""
    if found.get('size') != image.size:
        return 'its size is %s, the file has %d' % (found.get('size'),
                                                    image.size)
    algo, value = found.get('os_hash_algo'), found.get('os_hash_value')
    if not algo or not value:
        return 'Glance recorded no hash of it'
    try:
        mine = local(algo)
    except ValueError:
        return 'Glance hashes with %s, unknown here' % algo
    if value != mine:
        return 'its %s differs from the file\'s' % algo
    return None


def _ours_and_stale(found, max_age):
    """A half-done upload this tool made that no load is still writing.

    One made from this host is stale at once (the load lock is ours);
    one from elsewhere once Glance has not touched it for max_age
    seconds. Images made by hand are never deleted.
    """
    if not found.get(glance_mod.VERSION_PROPERTY):
        return False
    if found.get(glance_mod.UPLOADER_PROPERTY) == glance_mod.uploader_id():
        return True
    age = glance_mod.age_seconds(found)
    return age is not None and age >= max_age


def _verify(glance, image_id, image, body, hash_algorithm):
    """Compare what Glance stored with what was read from disk."""
    stored = glance.get(image_id)
    if stored is None:
        raise errors.UploadFailed('image %s vanished from Glance after '
                                  'the upload' % image_id)
    problems, notes = [], []
    if stored.get('status') != 'active':
        problems.append('status %s, not active' % stored.get('status'))
    if stored.get('size') != image.size:
        problems.append('size %s, the file has %d'
                        % (stored.get('size'), image.size))
    algo = stored.get('os_hash_algo')
    local = body.hexdigests()
    if algo in local:
        if stored.get('os_hash_value') != local[algo]:
            problems.append('its %s differs from the file\'s' % algo)
    else:
        notes.append('Glance hashes with %s, not %s ([cloud] '
                     'hash_algorithm): only the size was compared'
                     % (algo, hash_algorithm))
    if problems:
        raise errors.UploadFailed('Glance stored image %s wrongly: %s'
                                  % (image_id, '; '.join(problems)))
    return stored, notes


def _as_upload_error(exc, image):
    if isinstance(exc, errors.Error) and not type(exc) is errors.CloudError:
        return exc
    if isinstance(exc, errors.CloudError):
        return errors.UploadFailed('upload of %s failed: %s'
                                   % (image.name, exc))
    return errors.UploadFailed('upload of %s failed: %s: %s'
                               % (image.name, type(exc).__name__, exc))


def upload(glance, image, req, progress=None, hashes=None):
    """Create the Glance image and stream the file into it.

    Returns (stored image, seconds, notes). On any failure the half-made
    image is deleted, patiently when Glance itself went away, before a
    one-line error is raised. hashes gets the digests the upload made.
    """
    properties = dict(image.properties)
    properties[glance_mod.SHA256_PROPERTY] = image.sha256
    properties[glance_mod.UPLOADER_PROPERTY] = glance_mod.uploader_id()
    created = glance.create(image.name, image.disk_format,
                            req.container_format, req.visibility,
                            image.tags, properties)
    image_id = created['id']
    body = glance_mod.Body(image.path, image.size,
                           sorted({'sha256', req.hash_algorithm}), progress)
    started = time.monotonic()
    try:
        # SIGTERM during the upload raises, so the image is cleaned up.
        with signals.interrupting(signums=(signal.SIGTERM,)):
            glance.upload(image_id, body)
        seconds = time.monotonic() - started
        if body.sent != image.size:
            raise errors.UploadFailed(
                'read %d bytes of %s, expected %d: the file changed during '
                'the upload' % (body.sent, image.path, image.size))
        local = body.hexdigests()['sha256']
        if local != image.sha256:
            raise errors.InputError(
                'corrupt image: the sha256 of %s is %s, not %s as its '
                'manifest (or the first read) says' % (image.path, local,
                                                       image.sha256))
        stored, notes = _verify(glance, image_id, image, body,
                                req.hash_algorithm)
        if hashes is not None:
            hashes.update(body.hexdigests())
    except BaseException as exc:
        gone = glance.delete_patiently(image_id, req.cleanup_timeout)
        if not isinstance(exc, Exception) and not isinstance(
                exc, errors.Error):
            if gone:
                raise  # KeyboardInterrupt: the CLI says "interrupted"
            raise errors.Interrupted(
                'interrupted; image %s could not be deleted yet, the next '
                'load of this file deletes it' % image_id) from None
        error = _as_upload_error(exc, image)
        if gone:
            message = '%s; nothing left in Glance' % error
        else:
            message = ('%s; image %s could not be deleted yet, the next '
                       'load of this file deletes it' % (error, image_id))
        raise type(error)(message) from None
    return stored, seconds, notes


def _registration(glance, image, stored, req):
    tags = tuple(image.tags) if req.register_by == 'tags' else ()
    return register.Wanted(
        datastore=image.datastore, name=image.datastore_version,
        version_number=image.version_number, manager=image.manager,
        image_id='' if tags else stored['id'], image_tags=tags)


def run(req, connect, progress=None, say=None, builder_version=None,
        make_registrar=register.make, hashes=None):
    """Load req's image; connect() returns an openstacksdk Connection.

    hashes: digests by the file's sha256, then by algorithm, kept by a
    caller that loads the same content again (deploy, for versions that
    share one image): each is then computed once.
    """
    say = say or (lambda msg: None)
    image = describe(req, builder_version)
    registering = bool(req.register and image.datastore)
    if registering and req.register_by == 'tags':
        register.check_tags(image.tags)
    if not image.sha256:
        say('no manifest sha256: hashing %s first' % image.path)
        image = dataclasses.replace(
            image, sha256=manifest.sha256_file(image.path))
    known = ({} if hashes is None else hashes).setdefault(image.sha256, {})
    conn = connect()
    glance = glance_mod.Glance(connection.image_api(conn),
                               conn.current_project_id)
    notes = []
    with _load_lock(image.sha256):
        previous_pick = None
        if registering and req.register_by == 'tags':
            previous_pick = glance.newest_with_tags(image.tags)
        stored = _reusable(glance, image, req, say, known)
        seconds = None
        if stored:
            missing = [t for t in image.tags
                       if t not in stored.get('tags', [])]
            glance.add_tags(stored['id'], missing)
            if missing:
                stored = glance.get(stored['id']) or stored
            say('image %s is already in Glance (same size and %s): not '
                'uploaded again' % (stored['id'], stored['os_hash_algo']))
        else:
            stored, seconds, upload_notes = upload(glance, image, req,
                                                   progress, known)
            notes += upload_notes
    result = Result(image=image, glance_image=stored,
                    uploaded=seconds is not None, upload_seconds=seconds)
    if registering and req.register_by == 'tags':
        pick = glance.newest_with_tags(image.tags)
        if pick and pick['id'] != stored['id']:
            # Registering by these tags would make Trove boot the other
            # image while this command reported success.
            raise errors.Refused(
                'image %s is in Glance, but the tags %s pick the newer '
                'image %s (%s): Trove would boot that one; nothing was '
                'registered. Give --register-by id to register this image, '
                'or delete or untag image %s' % (
                    stored['id'], ','.join(image.tags), pick['id'],
                    pick.get('name'), pick['id']))
        elif previous_pick and previous_pick['id'] != stored['id']:
            notes.append('tags %s now pick image %s (was %s)' % (
                ','.join(image.tags), stored['id'], previous_pick['id']))
    if not registering:
        if req.register and not image.datastore:
            notes.append('generic image: not registered (give --datastore '
                         'and --datastore-version to register it)')
        return dataclasses.replace(result, notes=tuple(notes))
    try:
        registrar = make_registrar(req.registrar, conn, req.trove_manage,
                                   req.trove_config_file)
        outcome = registrar.register(
            _registration(glance, image, stored, req))
        parameters = None
        if image.validation_rules:
            loaded = registrar.load_rules(outcome.version,
                                          image.validation_rules)
            notes += loaded.notes
            parameters = loaded.summary()
    except errors.Error as exc:
        raise errors.RegisterFailed(
            'image %s is in Glance and stays there; registering %s %s with '
            'Trove failed: %s; run load again to finish (the image is not '
            'uploaded twice)' % (stored['id'], image.datastore,
                                 image.datastore_version, exc)) from None
    notes = list(outcome.notes) + notes
    return dataclasses.replace(result, registration=outcome,
                               parameters=parameters, notes=tuple(notes))


def _load_lock(sha256):
    """One load of the same file content at a time on this host.

    So a second one never deletes the first one's image mid-upload.
    """
    return lock.Lock(
        os.path.join(lock.private_dir(), 'load-%s.lock' % sha256[:16]),
        lock.refuse('another load of the same image is running on this '
                    'host; try again when it ends'))
