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

"""The settings Trove (and its tempest plugin) need for our images.

Printed as "SECTION OPTION VALUE" lines that devstack's plugin hands to
iniset one by one; derived from the datastore elements' catalogue, so the
container image the guest agent runs is the one the image was built
(and its container archive embedded) for.
"""

from trove_image_builder.deploy import datastores
from trove_image_builder import errors

TARGETS = ('trove', 'guestagent', 'tempest')


def repository(container_image):
    """"registry:5000/x/mariadb:10.11.11" -> "registry:5000/x/mariadb".

    The guest agent appends ":<version number>" to Trove's docker_image
    itself, so Trove is told the repository without the tag.
    """
    head, _slash, last = container_image.rpartition('/')
    name = last.split('@')[0].split(':')[0]
    return '%s/%s' % (head, name) if head else name


def docker_images(versions):
    """{manager: repository}; one repository per datastore manager."""
    images = {}
    for ver in versions:
        repo = repository(ver.container_image)
        known = images.setdefault(ver.manager, repo)
        if known != repo:
            raise errors.InputError(
                'versions of %s come from different container '
                'repositories (%s, %s); Trove takes one docker_image per '
                'datastore' % (ver.datastore, known, repo))
    return images


def lines(versions, target, flavors=()):
    """(section, option, value) tuples for target's configuration file.

    trove: trove.conf; guestagent: the trove-guestagent.conf that Trove
    injects into every guest; tempest: tempest.conf for
    trove-tempest-plugin (flavors: the flavors it creates instances
    with, then resizes them to).
    """
    if target not in TARGETS:
        raise errors.InputError('unknown target %r (one of %s)'
                                % (target, ', '.join(TARGETS)))
    firsts = datastores.first_per_datastore(versions)
    out = []
    if target == 'trove':
        out.append(('DEFAULT', 'default_datastore', versions[0].datastore))
    if target in ('trove', 'guestagent'):
        out += [(manager, 'docker_image', repo)
                for manager, repo in docker_images(versions).items()]
        return out
    out.append(('service_available', 'trove', 'True'))
    out.append(('database', 'enabled_datastores', ','.join(firsts)))
    out.append(('database', 'default_datastore_versions', ','.join(
        '%s:%s' % (ds, ver.name) for ds, ver in firsts.items())))
    # Upgrade tests start from an older version: the second one listed.
    older = {}
    for ver in versions:
        if ver is not firsts[ver.datastore]:
            older.setdefault(ver.datastore, ver)
    if older:
        out.append(('database', 'pre_upgrade_datastore_versions', ','.join(
            '%s:%s' % (ds, ver.name) for ds, ver in older.items())))
    if flavors:
        out.append(('database', 'flavor_id', flavors[0].id))
        resize = flavors[1] if len(flavors) > 1 else flavors[0]
        out.append(('database', 'resize_flavor_id', resize.id))
    return out
