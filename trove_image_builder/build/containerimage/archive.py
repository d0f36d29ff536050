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

"""Write a one-layer image as a `docker save` archive (docker-archive).

What `docker load` reads: the layer tar, the image config (whose
rootfs.diff_ids name the layer's sha256) and manifest.json naming both
and the image's tags. No docker and no registry are involved.
"""

import hashlib
import io
import json
import os
import tarfile

from trove_image_builder import manifest


def image_config(layer_sha256, entrypoint, cmd, env, labels,
                 created='1970-01-01T00:00:00Z'):
    """The image config JSON (bytes) of a one-layer amd64 image."""
    return json.dumps({
        'architecture': 'amd64', 'os': 'linux', 'created': created,
        'config': {'Entrypoint': list(entrypoint), 'Cmd': list(cmd),
                   'Env': list(env), 'Labels': dict(labels)},
        'rootfs': {'type': 'layers',
                   'diff_ids': ['sha256:' + layer_sha256]},
        'history': [{'created': created,
                     'created_by': 'trove-image-builder container-image'}],
    }, sort_keys=True).encode()


def _add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write(path, layer_path, config, tags):
    """Write the archive at path; return the image id (sha256:...)."""
    layer_sha = manifest.sha256_file(layer_path)
    config_sha = hashlib.sha256(config).hexdigest()
    if ('sha256:' + layer_sha) not in json.loads(config)['rootfs'][
            'diff_ids']:
        raise ValueError('the config does not name this layer')
    index = [{'Config': '%s.json' % config_sha, 'RepoTags': list(tags),
              'Layers': ['%s/layer.tar' % layer_sha]}]
    with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, '%s.json' % config_sha, config)
        # Only content names the archive: the same layer and config make
        # the same bytes (builds embedding it hit their cache).
        info = tar.gettarinfo(layer_path, arcname='%s/layer.tar' % layer_sha)
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ''
        with open(layer_path, 'rb') as f:
            tar.addfile(info, f)
        _add_bytes(tar, 'manifest.json',
                   json.dumps(index, sort_keys=True).encode())
    os.chmod(path, 0o644)
    return 'sha256:' + config_sha
