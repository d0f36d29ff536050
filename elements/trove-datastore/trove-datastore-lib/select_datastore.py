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

"""Pick the datastore version an image is built for.

Runs on the build host (DIB's Python, which has PyYAML). Finds the one
element of the build that carries a datastore.yaml, checks the file and
the DIB_TROVE_* variables against it and prints the selection as JSON.
Exits 1 with a one-line reason on any mismatch.
"""

import argparse
import json
import os
import sys

import yaml

DATA_FILE = 'datastore.yaml'
VERSION_KEYS = ('name', 'version_number', 'container_image',
                'validation_rules', 'default')


class SelectionError(Exception):
    pass


def find_datastore_elements(element_paths):
    """Return [(element, path to datastore.yaml)] of the build."""
    found = []
    for element, path in sorted(element_paths.items()):
        data_file = os.path.join(path, DATA_FILE)
        if os.path.isfile(data_file):
            found.append((element, data_file))
    return found


def load_datastore_file(data_file):
    """Read and check one datastore.yaml; return its content."""
    with open(data_file) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise SelectionError('%s: not a mapping' % data_file)
    for key in ('datastore', 'manager', 'versions'):
        if not data.get(key):
            raise SelectionError('%s: missing "%s"' % (data_file, key))
    versions = data['versions']
    if not isinstance(versions, list):
        raise SelectionError('%s: "versions" is not a list' % data_file)
    names = []
    for version in versions:
        missing = [k for k in VERSION_KEYS
                   if not isinstance(version, dict) or k not in version]
        if missing:
            raise SelectionError('%s: a version lacks %s'
                                 % (data_file, ', '.join(missing)))
        if not isinstance(version['default'], bool):
            raise SelectionError('%s: version %s: "default" must be true '
                                 'or false' % (data_file, version['name']))
        names.append(str(version['name']))
    if len(set(names)) != len(names):
        raise SelectionError('%s: duplicate version names' % data_file)
    defaults = [v for v in versions if v['default']]
    if len(defaults) != 1:
        raise SelectionError('%s: needs exactly one default version, has %d'
                             % (data_file, len(defaults)))
    return data


def select(data, datastore='', version='', container_image=''):
    """Return the selection for the requested (or default) version."""
    if datastore and datastore != data['datastore']:
        raise SelectionError(
            'DIB_TROVE_DATASTORE=%s but the image has the %s element'
            % (datastore, data['datastore']))
    versions = data['versions']
    if version:
        chosen = [v for v in versions if str(v['name']) == version]
        if not chosen:
            raise SelectionError(
                'datastore %s has no version "%s" (known: %s)'
                % (data['datastore'], version,
                   ', '.join(str(v['name']) for v in versions)))
    else:
        chosen = [v for v in versions if v['default']]
    entry = chosen[0]
    return {
        'datastore': data['datastore'],
        'manager': data['manager'],
        'version': str(entry['name']),
        'version_number': str(entry['version_number']),
        'container_image': container_image or str(entry['container_image']),
        'validation_rules': str(entry['validation_rules']),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--summary', action='store_true',
                        help='print one line for the build log, not JSON')
    args = parser.parse_args(argv)
    env = os.environ
    try:
        element_paths = yaml.safe_load(env.get('IMAGE_ELEMENT_YAML') or '{}')
        found = find_datastore_elements(element_paths or {})
        if len(found) != 1:
            raise SelectionError(
                'an image holds exactly one datastore element, this build '
                'has %d (%s)' % (len(found), ', '.join(e for e, _ in found)))
        element, data_file = found[0]
        result = select(load_datastore_file(data_file),
                        env.get('DIB_TROVE_DATASTORE', ''),
                        env.get('DIB_TROVE_DATASTORE_VERSION', ''),
                        env.get('DIB_TROVE_CONTAINER_IMAGE', ''))
    except (SelectionError, OSError, yaml.YAMLError) as e:
        sys.stderr.write('trove-datastore: ERROR: %s\n' % e)
        return 1
    result['element'] = element
    if args.summary:
        print('trove-datastore: %(datastore)s %(version)s '
              '(%(version_number)s), container image %(container_image)s'
              % result)
    else:
        print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
