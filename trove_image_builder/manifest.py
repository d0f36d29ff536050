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

"""The JSON record written beside each image.

Every later step (load, verify, register) reads this file instead of
re-deriving facts from the image or the options.
"""

import hashlib
import json
import os

from trove_image_builder import errors
from trove_image_builder import imagefile

SCHEMA = 1


def path_for(image_path):
    root, _ext = os.path.splitext(image_path)
    return root + '.json'


def sha256_file(path):
    return hash_file(path, 'sha256')


def hash_file(path, algorithm):
    """Hex digest of path's content with a hashlib algorithm."""
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        while True:
            block = f.read(imagefile.CHUNK)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def read(image_path):
    """The manifest of image_path, or None when there is none."""
    path = path_for(image_path)
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise errors.InputError('unreadable manifest %s: %s' % (path, exc))
    if not isinstance(data, dict):
        raise errors.InputError('manifest %s is not a JSON object' % path)
    return data


def write(image_path, data):
    """Write atomically: a reader never sees half a manifest."""
    path = path_for(image_path)
    tmp = path + '.tmp'
    with imagefile.open_private(tmp, 'w', encoding='utf-8') as f:
        json.dump(dict(data, schema=SCHEMA), f, indent=2, sort_keys=True)
        f.write('\n')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def update(image_path, **fields):
    """Merge fields into an existing manifest (e.g. a verify result)."""
    data = read(image_path)
    if data is None:
        raise errors.InputError('no manifest beside %s' % image_path)
    data.update(fields)
    return write(image_path, data)


def record_verification(image_path, record):
    """Add a verify result to the manifest of the image it checked.

    Only when the manifest still describes that image (the record's
    sha256): else nothing is written and None is returned.
    """
    data = read(image_path)
    if data is None or not record.get('sha256') or \
            data.get('sha256') != record['sha256']:
        return None
    return update(image_path, verification=record)


def verification(data):
    """The verify result a manifest holds, if it is of this image.

    A record without the image's sha256 (older, or written for an image
    since rebuilt) is ignored: None.
    """
    record = (data or {}).get('verification')
    if not isinstance(record, dict) or not data.get('sha256') or \
            record.get('sha256') != data['sha256']:
        return None
    return record


def parse_dpkg_manifest(text):
    """Package name -> version from DIB's dib-manifest-dpkg-* file.

    DIB writes JSON ({"packages": [{"package", "version", "status"}]});
    older releases wrote "name version" lines, still accepted.
    """
    try:
        rows = json.loads(text).get('packages', [])
    except (ValueError, AttributeError):
        rows = None
    if rows is not None:
        return {r['package']: r['version'] for r in rows
                if isinstance(r, dict) and 'package' in r and
                str(r.get('status', 'ii')).startswith('ii')}
    packages = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and not line.startswith('#'):
            packages[words[0]] = words[1]
    return packages


# Records verify writes into the manifest: the boot check and the
# conformance check (verify --conformance).
CHECK_RECORDS = ('verification', 'conformance')


def check_results(data):
    """{record: 'pass'|'fail'} of the checks recorded for this image.

    A record that names another image's sha256 (the file changed since)
    says nothing about this one and is left out.
    """
    results = {}
    for key in CHECK_RECORDS:
        record = (data or {}).get(key)
        if not isinstance(record, dict) or record.get('result') not in (
                'pass', 'fail'):
            continue
        checked = record.get('image_sha256')
        if checked and checked != (data or {}).get('sha256'):
            continue
        results[key] = record['result']
    return results


def failed_checks(data):
    """Names of the recorded checks that failed for this image."""
    return sorted(k for k, v in check_results(data).items() if v == 'fail')
