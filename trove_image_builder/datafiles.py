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

"""Find the data files shipped beside the package (elements, constraints).

pbr installs them under <prefix>/share/trove-image-builder; a source
checkout (pip install -e, tox) has them at the top of the tree. Both
places are derived from where Python and this package live, never from
the name the program was started with.
"""

import os
import sys
import sysconfig

from trove_image_builder import errors

SHARE = os.path.join('share', 'trove-image-builder')


def _candidates():
    seen = []
    for prefix in (sysconfig.get_path('data'), sys.prefix, '/usr/local',
                   '/usr'):
        path = os.path.join(prefix, SHARE)
        if path not in seen:
            seen.append(path)
    # A source checkout: the package's parent directory.
    seen.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return seen


def find(name, override=None):
    """Return the absolute path of the shipped data file or dir *name*."""
    if override:
        if not os.path.exists(override):
            raise errors.InputError('%s not found: %s' % (name, override))
        return os.path.abspath(override)
    for base in _candidates():
        path = os.path.join(base, name)
        if os.path.exists(path):
            return path
    raise errors.HostError(
        'cannot find the shipped %r (looked in %s); reinstall '
        'trove-image-builder' % (name, ', '.join(_candidates())))


def elements_dir(override=None):
    return find('elements', override)


def constraints_file(override=None):
    return find('upper-constraints.txt', override)
