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

"""Read container image archives and hand them to `docker load`.

Runs on the build host (DIB's Python, standard library only); the
trove-image-builder CLI imports it too, so both read archives the same
way. Two formats are accepted:

* docker-archive: what `docker save` writes (manifest.json, one config
  and layer tars per image);
* OCI archive: a tar of an OCI image layout (oci-layout, index.json,
  blobs/).

Debian 12's docker (20.10) loads only docker-archives, so an OCI archive
without docker's manifest.json is rewritten on the fly with one added.

A member the manifests name may be a link to another member (newer
`docker save` writes one copy of identical layers and links the rest:
``<id>/layer.tar -> ../<other>/layer.tar``); it is followed inside the
archive, and a link out of it, or a loop, is refused.

    container_archive.py inspect ARCHIVE         # JSON summary
    container_archive.py docker-archive ARCHIVE  # loadable tar on stdout
"""

import argparse
import hashlib
import io
import json
import posixpath
import re
import shutil
import sys
import tarfile

DOCKER_MANIFEST = 'manifest.json'
OCI_LAYOUT = 'oci-layout'
OCI_INDEX = 'index.json'
INDEX_TYPES = ('application/vnd.oci.image.index.v1+json',
               'application/vnd.docker.distribution.manifest.list.v2+json')
MANIFEST_TYPES = ('application/vnd.oci.image.manifest.v1+json',
                  'application/vnd.docker.distribution.manifest.v2+json')
# Annotations that name an image in an OCI index, best first.
NAME_ANNOTATIONS = ('io.containerd.image.name',
                    'org.opencontainers.image.ref.name')
# DIB's ARCH (or uname -m) -> OCI platform architecture.
ARCH_ALIASES = {'x86_64': 'amd64', 'aarch64': 'arm64'}
# JSON documents in an archive are small; refuse to read huge ones.
MAX_JSON = 16 << 20
# Links followed from one name before giving up (a chain, not a loop).
MAX_LINKS = 16
_REFERENCE = re.compile(r'^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?'
                        r'(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*'
                        r'(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$')


class ArchiveError(Exception):
    pass


def _norm(name):
    while name.startswith('./'):
        name = name[2:]
    return name


class _Archive:
    """A tar file with its members indexed by normalised name."""

    def __init__(self, path):
        self.path = path
        try:
            self.tar = tarfile.open(path, 'r:*')
            self.members = {_norm(m.name): m for m in self.tar.getmembers()}
        except FileNotFoundError:
            raise ArchiveError('no such file: %s' % path)
        except IsADirectoryError:
            raise ArchiveError('a directory, not an archive: %s' % path)
        except (tarfile.TarError, EOFError):
            raise ArchiveError('not a tar archive (plain, gzip, bzip2 or '
                               'xz): %s' % path)
        except OSError as exc:
            raise ArchiveError('cannot read %s: %s'
                               % (path, exc.strerror or exc))

    def close(self):
        self.tar.close()

    def _file(self, name):
        """The regular file member name leads to, or None if none.

        Symbolic links resolve against their own directory, hard links
        against the archive's top; neither may leave the archive.
        """
        name, seen = _norm(name), []
        while True:
            member = self.members.get(name)
            if member is None or member.isfile():
                return member
            if not (member.issym() or member.islnk()):
                return None
            if name in seen or len(seen) >= MAX_LINKS:
                raise ArchiveError('%s: %s is a link loop (%s)'
                                   % (self.path, seen[0],
                                      ' -> '.join(seen + [name])))
            seen.append(name)
            base = posixpath.dirname(name) if member.issym() else ''
            target = posixpath.normpath(posixpath.join(base,
                                                       member.linkname))
            if member.linkname.startswith('/') or target == '..' or \
                    target.startswith('../'):
                raise ArchiveError('%s: %s links outside the archive (%s)'
                                   % (self.path, seen[0], member.linkname))
            name = _norm(target)

    def has(self, name):
        return self._file(name) is not None

    def read(self, name, limit=None):
        member = self._file(name)
        if member is None:
            raise ArchiveError('%s: missing member %s' % (self.path, name))
        if limit and member.size > limit:
            raise ArchiveError('%s: %s is too large' % (self.path, name))
        return self.tar.extractfile(member).read()

    def json(self, name):
        try:
            return json.loads(self.read(name, MAX_JSON))
        except ValueError as exc:
            raise ArchiveError('%s: %s is not JSON: %s'
                               % (self.path, name, exc))


def normalize_reference(ref):
    """docker's short form of an image reference, with a tag."""
    for prefix in ('docker.io/library/', 'index.docker.io/library/',
                   'docker.io/', 'index.docker.io/'):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    last = ref.rsplit('/', 1)[-1]
    if ':' not in last and '@' not in last:
        ref += ':latest'
    return ref


def _blob_path(digest):
    algorithm, _sep, value = digest.partition(':')
    if not value or not re.match(r'^[a-z0-9]+$', algorithm) or \
            not re.match(r'^[a-f0-9]+$', value):
        raise ArchiveError('bad digest %r' % digest)
    return 'blobs/%s/%s' % (algorithm, value)


def _docker_images(archive):
    entries = archive.json(DOCKER_MANIFEST)
    if not isinstance(entries, list) or not entries:
        raise ArchiveError('%s: manifest.json lists no images'
                           % archive.path)
    images = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get('Config'):
            raise ArchiveError('%s: manifest.json entry without Config'
                               % archive.path)
        for layer in entry.get('Layers') or []:
            if not archive.has(layer):
                raise ArchiveError('%s: missing layer %s'
                                   % (archive.path, layer))
        config = archive.read(entry['Config'], MAX_JSON)
        images.append({
            'id': 'sha256:' + hashlib.sha256(config).hexdigest(),
            'tags': [normalize_reference(t)
                     for t in entry.get('RepoTags') or []],
        })
    return images


def _oci_manifest(archive, descriptor, arch):
    """Follow descriptor (through nested indexes) to one image manifest."""
    media = descriptor.get('mediaType')
    data = archive.json(_blob_path(descriptor.get('digest', '')))
    if media in INDEX_TYPES or 'manifests' in data:
        for entry in data.get('manifests', []):
            platform = entry.get('platform') or {}
            if platform.get('os', 'linux') == 'linux' and \
                    platform.get('architecture', arch) == arch:
                return _oci_manifest(archive, entry, arch)
        raise ArchiveError('%s: no linux/%s image in its index'
                           % (archive.path, arch))
    if media and media not in MANIFEST_TYPES:
        raise ArchiveError('%s: unsupported manifest type %s'
                           % (archive.path, media))
    return data


def _oci_name(descriptor):
    annotations = descriptor.get('annotations') or {}
    for key in NAME_ANNOTATIONS:
        name = annotations.get(key, '')
        # A bare tag ("1.0") names no repository: docker cannot use it.
        if ('/' in name or ':' in name) and _REFERENCE.match(name):
            return normalize_reference(name)
    return None


def _oci_images(archive, arch):
    layout = archive.json(OCI_LAYOUT)
    if not isinstance(layout, dict) or 'imageLayoutVersion' not in layout:
        raise ArchiveError('%s: oci-layout without imageLayoutVersion'
                           % archive.path)
    index = archive.json(OCI_INDEX)
    descriptors = index.get('manifests') if isinstance(index, dict) else None
    if not descriptors:
        raise ArchiveError('%s: index.json lists no images' % archive.path)
    images = []
    for descriptor in descriptors:
        manifest = _oci_manifest(archive, descriptor, arch)
        config = manifest.get('config') or {}
        layers = [_blob_path(layer.get('digest', ''))
                  for layer in manifest.get('layers', [])]
        for path in [_blob_path(config.get('digest', ''))] + layers:
            if not archive.has(path):
                raise ArchiveError('%s: missing blob %s'
                                   % (archive.path, path))
        name = _oci_name(descriptor)
        images.append({
            'id': config['digest'],
            'tags': [name] if name else [],
            'config': _blob_path(config['digest']),
            'layers': layers,
        })
    return images


def inspect(path, arch='amd64'):
    """{'kind': ..., 'images': [{'id': 'sha256:...', 'tags': [...]}]}."""
    archive = _Archive(path)
    try:
        if archive.has(DOCKER_MANIFEST):
            return {'kind': 'docker-archive',
                    'images': _docker_images(archive)}
        if archive.has(OCI_LAYOUT) and archive.has(OCI_INDEX):
            images = _oci_images(archive, arch)
            return {'kind': 'oci-archive',
                    'images': [{'id': i['id'], 'tags': i['tags']}
                               for i in images]}
        raise ArchiveError(
            '%s: neither a docker-archive (no manifest.json) nor an OCI '
            'archive (no oci-layout and index.json)' % path)
    finally:
        archive.close()


def write_docker_archive(path, out, arch='amd64'):
    """Write to the binary stream out an archive `docker load` reads."""
    archive = _Archive(path)
    try:
        if archive.has(DOCKER_MANIFEST):
            # Already loadable (compressed or not): copy it unchanged.
            _docker_images(archive)
            with open(path, 'rb') as src:
                shutil.copyfileobj(src, out, 1 << 20)
            return
        images = _oci_images(archive, arch)
        manifest = [{'Config': i['config'],
                     'RepoTags': i['tags'] or None,
                     'Layers': i['layers']} for i in images]
        with tarfile.open(fileobj=out, mode='w|') as dest:
            for member in archive.tar.getmembers():
                data = (archive.tar.extractfile(member)
                        if member.isfile() else None)
                dest.addfile(member, data)
            blob = json.dumps(manifest).encode()
            info = tarfile.TarInfo(DOCKER_MANIFEST)
            info.size = len(blob)
            info.mode = 0o644
            dest.addfile(info, io.BytesIO(blob))
    finally:
        archive.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('action', choices=['inspect', 'docker-archive'])
    parser.add_argument('archive')
    parser.add_argument('--arch', default='amd64',
                        help='architecture picked from a multi-platform '
                             'OCI index')
    args = parser.parse_args(argv)
    arch = ARCH_ALIASES.get(args.arch, args.arch)
    try:
        if args.action == 'inspect':
            print(json.dumps(inspect(args.archive, arch), indent=2))
        else:
            write_docker_archive(args.archive, sys.stdout.buffer, arch)
            sys.stdout.buffer.flush()
    except ArchiveError as exc:
        sys.stderr.write('trove-container-images: ERROR: %s\n' % exc)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
