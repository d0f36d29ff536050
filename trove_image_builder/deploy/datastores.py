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

"""The --datastores list: "mariadb:10.11 mysql postgresql:16".

deploy and trove-config take it; each entry is a catalogue version.
"""

from trove_image_builder import catalog
from trove_image_builder import errors


def parse_entries(text, cat):
    """Catalogue Versions for "mariadb:10.11 mysql postgresql:16".

    A datastore without ":VERSION" means its default version. Order is
    kept: the first version listed for a datastore becomes its default.
    """
    versions = []
    for token in (text or '').replace(',', ' ').split():
        name, version = catalog.split_spec(token)
        ver = cat.datastore(name).version(version)
        if ver in versions:
            raise errors.InputError('%s:%s is listed twice'
                                    % (ver.datastore, ver.name))
        versions.append(ver)
    if not versions:
        raise errors.InputError('no datastores given (e.g. '
                                '"mariadb:10.11 mysql:8.4")')
    return tuple(versions)


def first_per_datastore(versions):
    """{datastore: its first listed Version}, in listing order."""
    firsts = {}
    for ver in versions:
        firsts.setdefault(ver.datastore, ver)
    return firsts
