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

"""Validation rules kept beside an image, recorded in its manifest.

The build takes trove's templates/<manager>/validation-rules.json from
the image's own agent venv (the trove-guest-agent element exports them),
so load registers the configuration parameters of exactly the trove
release inside the image, whatever trove (if any) the loading host has.
"""

import json
import os
import shutil

from trove_image_builder import errors
from trove_image_builder import manifest

# The manifest's record: {"trove_version", "files": {manager: {"file",
# "sha256", "from"}}}; "file" is relative to the image's directory.
MANIFEST_KEY = 'validation_rules_files'
# What the element's cleanup.d step writes into the export directory.
VERSION_FILE = 'trove-version'
FROM_IMAGE = 'image'
FROM_SOURCE = 'source tree'


def kept_path(image_path, manager):
    root, _ext = os.path.splitext(image_path)
    return '%s.%s.validation-rules.json' % (root, manager)


def exported(export_dir):
    """(manager -> path, trove version) the build's DIB run exported."""
    found, trove_version = {}, None
    if not os.path.isdir(export_dir):
        return found, trove_version
    for entry in sorted(os.listdir(export_dir)):
        path = os.path.join(export_dir, entry)
        if entry == VERSION_FILE:
            with open(path, encoding='utf-8') as f:
                trove_version = f.read().strip() or None
        elif entry.endswith('.json'):
            found[entry[:-len('.json')]] = path
    return found, trove_version


def source_tree_file(source_dir, manager):
    """The rules file of a local trove tree (dev mode), or None."""
    path = os.path.join(source_dir, 'trove', 'templates', manager,
                        'validation-rules.json')
    return path if os.path.isfile(path) else None


def _check(path):
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        if not isinstance(data.get('configuration-parameters'), list):
            raise ValueError('no configuration-parameters list')
    except (OSError, ValueError, AttributeError) as exc:
        raise errors.BuildFailed('unusable validation rules %s: %s'
                                 % (path, exc))


def keep(image_path, sources, trove_version):
    """Copy sources (manager -> (path, origin)) beside image_path.

    Returns the manifest record. Each copy appears complete or not at
    all, like the image itself.
    """
    files = {}
    for manager, (src, origin) in sorted(sources.items()):
        _check(src)
        dest = kept_path(image_path, manager)
        tmp = dest + '.tmp'
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        files[manager] = {'file': os.path.basename(dest),
                          'sha256': manifest.sha256_file(dest),
                          'from': origin}
    return {'trove_version': trove_version, 'files': files}


def for_image(image_path, facts, manager):
    """The kept rules of manager for this image, checked; or None.

    None when the manifest keeps none for manager (older builds, or a
    datastore the agent's trove has no rules for).
    """
    entry = ((facts.get(MANIFEST_KEY) or {}).get('files') or {}).get(
        manager)
    if not entry or not manager:
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(image_path)),
                        entry['file'])
    if not os.path.isfile(path):
        raise errors.InputError(
            'the validation rules %s recorded in the manifest are missing; '
            'copy them with the image or give --validation-rules FILE'
            % path)
    if manifest.sha256_file(path) != entry.get('sha256'):
        raise errors.InputError(
            'the validation rules %s changed since the build (sha256 '
            'differs from the manifest\'s); give --validation-rules FILE '
            'to load another file' % path)
    return path
