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

"""Make small container image archives without docker or a registry.

One layer (a tar of the given files), an image config and the archive's
index: exactly what `docker save` (docker-archive) or an OCI image
layout would hold for such an image.
"""

import hashlib
import io
import json
import os
import tarfile

BUSYBOX = '/bin/busybox'


def _add(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def layer_tar(files, symlinks=None):
    """Bytes of a layer: files {path: (bytes, mode)}, symlinks {path: to}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
        dirs = sorted({os.path.dirname(p) for p in
                       list(files) + list(symlinks or {})} - {''})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            t.addfile(info)
        for path, (data, mode) in sorted(files.items()):
            _add(t, path, data, mode)
        for path, target in sorted((symlinks or {}).items()):
            info = tarfile.TarInfo(path)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            t.addfile(info)
    return buf.getvalue()


def image_config(layer, cmd=('/bin/sh',)):
    return json.dumps({
        'architecture': 'amd64', 'os': 'linux',
        'config': {'Cmd': list(cmd),
                   'Env': ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']},
        'rootfs': {'type': 'layers',
                   'diff_ids': ['sha256:' +
                                hashlib.sha256(layer).hexdigest()]},
        'history': [{'created_by': 'trove-image-builder tests'}],
    }, sort_keys=True).encode()


def image_id(config):
    return 'sha256:' + hashlib.sha256(config).hexdigest()


def docker_archive(path, files, tags, symlinks=None):
    """A `docker save`-style archive; returns the image id."""
    layer = layer_tar(files, symlinks)
    config = image_config(layer)
    layer_hex = hashlib.sha256(layer).hexdigest()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = [{'Config': '%s.json' % config_hex, 'RepoTags': list(tags),
                 'Layers': ['%s/layer.tar' % layer_hex]}]
    with tarfile.open(path, 'w') as tar:
        _add(tar, '%s.json' % config_hex, config)
        _add(tar, '%s/layer.tar' % layer_hex, layer)
        _add(tar, 'manifest.json', json.dumps(manifest).encode())
    return image_id(config)


def _link(tar, name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


def docker_archive_shared_layer(path, files, tags, links=None):
    """Images with one layer, saved once as newer `docker save` does.

    One image per tag (each its own config); the first image's
    <dir>/layer.tar holds the layer, the others' are symbolic links to
    it (../<dir>/layer.tar). links {image index: link target} replaces
    a link's target. Returns the image ids.
    """
    layer = layer_tar(files)
    manifest, ids = [], []
    with tarfile.open(path, 'w') as tar:
        for i, tag in enumerate(tags):
            config = image_config(layer, cmd=('/bin/sh', '-c', str(i)))
            config_hex = hashlib.sha256(config).hexdigest()
            layer_dir = hashlib.sha256(b'%d' % i + layer).hexdigest()
            _add(tar, '%s.json' % config_hex, config)
            name = '%s/layer.tar' % layer_dir
            if i == 0:
                first = name
                _add(tar, name, layer)
            else:
                _link(tar, name, (links or {}).get(i, '../' + first))
            manifest.append({'Config': '%s.json' % config_hex,
                             'RepoTags': [tag], 'Layers': [name]})
            ids.append(image_id(config))
        _add(tar, 'manifest.json', json.dumps(manifest).encode())
    return ids


def oci_archive(path, files, ref_name=None, symlinks=None):
    """A tar of an OCI image layout (no docker manifest.json)."""
    layer = layer_tar(files, symlinks)
    config = image_config(layer)

    def blob(data):
        return 'blobs/sha256/' + hashlib.sha256(data).hexdigest()

    def digest(data):
        return 'sha256:' + hashlib.sha256(data).hexdigest()

    manifest = json.dumps({
        'schemaVersion': 2,
        'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'config': {'mediaType': 'application/vnd.oci.image.config.v1+json',
                   'digest': digest(config), 'size': len(config)},
        'layers': [{'mediaType':
                    'application/vnd.oci.image.layer.v1.tar',
                    'digest': digest(layer), 'size': len(layer)}],
    }).encode()
    descriptor = {'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                  'digest': digest(manifest), 'size': len(manifest)}
    if ref_name:
        descriptor['annotations'] = {
            'org.opencontainers.image.ref.name': ref_name}
    index = {'schemaVersion': 2, 'manifests': [descriptor]}
    with tarfile.open(path, 'w') as tar:
        _add(tar, 'oci-layout',
             json.dumps({'imageLayoutVersion': '1.0.0'}).encode())
        _add(tar, 'index.json', json.dumps(index).encode())
        for data in (config, layer, manifest):
            _add(tar, blob(data), data)
    return image_id(config)


def busybox_files():
    """A static busybox rootfs: {files}, {symlinks}; None without one."""
    if not os.path.isfile(BUSYBOX):
        return None
    with open(BUSYBOX, 'rb') as f:
        data = f.read()
    return ({'bin/busybox': (data, 0o755)},
            {'bin/sh': 'busybox', 'bin/ls': 'busybox',
             'bin/echo': 'busybox'})
