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

"""Container image archives embedded into a guest image at build time.

The archives are read by the trove-container-images element's own
library (loaded from the elements directory), so the build checks them
exactly as the element will copy them. Everything here runs before DIB:
a missing or malformed archive fails the build in seconds.
"""

import dataclasses
import importlib.util
import os

from trove_image_builder import errors
from trove_image_builder import manifest

ELEMENT = 'trove-container-images'
_LIB = os.path.join(ELEMENT, 'trove-container-images-lib',
                    'container_archive.py')
# Archive names tried in [container_images] archive_dir for an image
# reference such as "mariadb:10.11.11" -> mariadb_10.11.11.tar.
SUFFIXES = ('.tar', '.tar.gz', '.tgz')


@dataclasses.dataclass(frozen=True)
class Archive:
    path: str
    sha256: str
    kind: str
    # ((image id, (tag, ...)), ...)
    images: tuple

    def record(self):
        """What the manifest keeps (verify compares the guest with it)."""
        return {'archive': os.path.basename(self.path),
                'sha256': self.sha256, 'kind': self.kind,
                'images': [{'id': i, 'tags': list(t)}
                           for i, t in self.images]}


def load_library(elements_dir):
    path = os.path.join(elements_dir, _LIB)
    if not os.path.isfile(path):
        raise errors.InputError('%s has no %s element (needed to embed '
                                'container images)' % (elements_dir,
                                                       ELEMENT))
    spec = importlib.util.spec_from_file_location(
        'tib_container_archive', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def archive_file_name(reference):
    """mariadb:10.11.11 -> mariadb_10.11.11 (no suffix)."""
    return reference.replace('/', '_').replace(':', '_').replace('@', '_')


def inspect(path, lib):
    path = os.path.abspath(path)
    if ':' in path:
        # DIB_TROVE_CONTAINER_ARCHIVES is a colon-separated list.
        raise errors.InputError('container image archive path may not '
                                'contain ":": %s' % path)
    if not os.path.isfile(path):
        raise errors.InputError('container image archive not found: %s'
                                % path)
    try:
        info = lib.inspect(path)
    except lib.ArchiveError as exc:
        raise errors.InputError('bad container image archive: %s' % exc)
    images = tuple((i['id'], tuple(i['tags'])) for i in info['images'])
    return Archive(path=path, sha256=manifest.sha256_file(path),
                   kind=info['kind'], images=images)


def find_in_dir(archive_dir, reference):
    """The archive for reference in archive_dir, or None."""
    base = os.path.join(archive_dir, archive_file_name(reference))
    for suffix in SUFFIXES:
        if os.path.isfile(base + suffix):
            return base + suffix
    return None


def resolve(explicit, archive_dir, container_image, elements_dir):
    """The archives to embed: the explicit ones, then the datastore's.

    The datastore version's container_image is embedded when
    archive_dir holds an archive named after it; that archive must
    contain the image under that name, or the agent would pull anyway.
    """
    paths = list(explicit or ())
    wanted = None
    if archive_dir and container_image:
        if not os.path.isdir(archive_dir):
            raise errors.InputError('container archive directory not '
                                    'found: %s' % archive_dir)
        wanted = find_in_dir(archive_dir, container_image)
        if wanted:
            paths.append(wanted)
    if not paths:
        return ()
    lib = load_library(elements_dir)
    archives, seen = [], set()
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        archives.append(inspect(path, lib))
    if wanted:
        ref = lib.normalize_reference(container_image)
        tags = {t for a in archives for _i, ts in a.images for t in ts}
        if ref not in tags:
            raise errors.InputError(
                '%s does not contain %s (it has: %s)'
                % (wanted, ref, ', '.join(sorted(tags)) or 'no tags'))
    return tuple(archives)
