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

"""Hash everything that decides an image's content.

Two builds with the same inputs hash make the same image, so a matching
hash in the manifest (and an intact image file) means nothing to do.
"""

import hashlib
import json
import os

from trove_image_builder import imagefile

# Not content: byproducts of a checkout or a previous run.
SKIP_DIRS = {'.git', '.tox', '__pycache__', '.stestr', '.venv', 'build',
             'dist', '.eggs'}
SKIP_SUFFIXES = ('.pyc', '.pyo', '.swp')


def tree_hash(root, skip=()):
    """sha256 over relative paths, modes and contents of a file tree.

    skip: names of top-level directories left out.
    """
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        top = dirpath == root
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                             and not d.endswith('.egg-info')
                             and not (top and d in skip))
        for name in sorted(filenames):
            if name.endswith(SKIP_SUFFIXES):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            digest.update(rel.encode() + b'\0')
            digest.update(b'%o\0' % (st.st_mode & 0o111))
            if os.path.islink(path):
                digest.update(os.readlink(path).encode())
            else:
                with open(path, 'rb') as f:
                    for block in iter(lambda: f.read(imagefile.CHUNK), b''):
                        digest.update(block)
            digest.update(b'\0')
    return digest.hexdigest()


def inputs_hash(elements, env, element_trees, dib_version, extra=None):
    """One hash of the element list, DIB variables, trees and DIB version.

    element_trees maps a tree's name to its tree_hash, so moving the
    same content elsewhere does not force a rebuild.
    """
    doc = {
        'elements': list(elements),
        'env': dict(sorted(env.items())),
        'trees': dict(sorted(element_trees.items())),
        'dib_version': dib_version,
        'extra': extra or {},
    }
    blob = json.dumps(doc, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()
