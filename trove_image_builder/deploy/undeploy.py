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

"""undeploy: take away what deploy made, as its state file records it.

Only what deploy created goes: datastore versions and datastores it
registered first, images it uploaded, flavors it created; a Glance quota
it raised goes back to the old value unless someone changed it since.
Images, builds and downloads on disk stay (they are the cache). Every
removal tolerates "already gone", so it can run again; what could not
be removed stays in the state file for the next run.
"""

import dataclasses

from trove_image_builder.cloud import calls
from trove_image_builder.cloud import connection
from trove_image_builder.cloud import flavors as flavors_mod
from trove_image_builder.cloud import glance as glance_mod
from trove_image_builder.cloud import quota
from trove_image_builder.deploy import state as state_mod
from trove_image_builder import register


@dataclasses.dataclass(frozen=True)
class Removed:
    kind: str
    name: str
    action: str  # removed | gone | kept | restored


def _trove(func, *args):
    gone = object()
    found = calls.call('Trove', func, *args, missing=gone)
    return 'gone' if found is gone else 'removed'


def _registrations(state, registrar, say):
    out = []
    versions = state.made('versions')
    datastores = state.made('datastores')
    if not versions and not datastores:
        return out
    if registrar.name != 'api':
        # trove-manage has no delete command; devstack recreates Trove's
        # database on the next stack anyway.
        say('Trove\'s API is not reachable: datastore registrations are '
            'left in place')
        return out + [Removed('version', k, 'kept') for k in versions]
    client = registrar.client
    for key, facts in versions.items():
        action = _trove(client.mgmt_ds_versions.delete, facts['id'])
        state.forget('versions', key)
        out.append(Removed('version', key, action))
    for name in datastores:
        left = registrar.versions(name)
        if left:
            out.append(Removed('datastore', name, 'kept'))
            say('datastore %s keeps %d version(s) deploy did not make: not '
                'removed' % (name, len(left)))
            state.forget('datastores', name)
            continue
        action = 'gone' if left is None else _trove(client.datastores.delete,
                                                    name)
        state.forget('datastores', name)
        out.append(Removed('datastore', name, action))
    return out


def _restored(state, registrar):
    """Versions deploy only updated get their earlier image back."""
    out = []
    for key, facts in list(state.data['versions'].items()):
        prev = facts.get('previous')
        if facts.get('made') or not prev:
            continue
        registrar.register(register.Wanted(
            datastore=facts['datastore'], name=facts['name'],
            version_number=prev['version_number'], manager=prev['manager'],
            image_id=prev['image_id'] or '',
            image_tags=tuple(prev['image_tags']), active=prev['active']))
        state.forget('versions', key)
        out.append(Removed('version', key, 'restored'))
    return out


def _images(state, glance):
    out = []
    for image_id, facts in state.made('images').items():
        action = 'removed' if glance.get(image_id) else 'gone'
        if action == 'removed':
            glance.delete(image_id)
        state.forget('images', image_id)
        out.append(Removed('image', '%s (%s)' % (image_id, facts.get('name')),
                           action))
    return out


def _flavors(state, conn, say):
    made = state.made('flavors')
    if not made:
        return []
    if not flavors_mod.has_compute(conn):
        say('no compute endpoint in the catalog: flavors left in place')
        return [Removed('flavor', k, 'kept') for k in made]
    out = []
    for flavor_id in made:
        gone = not flavors_mod.delete(conn, flavor_id)
        state.forget('flavors', flavor_id)
        out.append(Removed('flavor', flavor_id, 'gone' if gone else
                           'removed'))
    return out


def _limit(state, identity_factory, say):
    record = state.glance_limit
    if not record:
        return []
    change = quota.Change(record['kind'], record['id'], record['old'],
                          record['new'], record.get('project_id'))
    identity = identity_factory()
    if change.kind == 'project_limit' and not change.id:
        # Deploy died between recording and learning the new limit's id.
        found = quota.project_limit(identity, change.project_id)
        change = dataclasses.replace(change, id=found and found['id'])
    now = quota.current(identity, change) if change.id else None
    name = '%s %s' % (quota.RESOURCE, change.kind.replace('_', ' '))
    state.data.pop('glance_limit', None)
    if now is None:
        return [Removed('glance limit', name, 'gone')]
    if now != change.new:
        say('Glance\'s %s is %d MiB, not the %d deploy set: left alone'
            % (name, now, change.new))
        return [Removed('glance limit', name, 'kept')]
    if change.kind == 'project_limit':
        # The project had only the default: it gets only that back.
        quota.remove_limit(identity, change)
        return [Removed('glance limit', '%s of project %s' % (
            name, change.project_id), 'removed')]
    quota.set_limit(identity, change, change.old)
    return [Removed('glance limit', '%s back to %d MiB' % (name, change.old),
                    'removed')]


def run(state_file, conn_factory, registrar_kind=register.AUTO,
        trove_manage=None, trove_config_file=None, say=None,
        connect_limits=None):
    """Remove what the state file records; Removed rows.

    trove_manage and trove_config_file: the [trove] settings (or their
    flags), for the manage registrar.
    """
    say = say or (lambda msg: None)
    state = state_mod.State.load(state_file)
    if state.empty():
        return ()
    conn = conn_factory()
    kind = register.choose(conn, registrar_kind, say)
    registrar = register.make(kind, conn, trove_manage, trove_config_file)
    glance = glance_mod.Glance(connection.image_api(conn),
                               conn.current_project_id)
    out = []
    try:
        # Versions first: Trove must not point at a deleted image.
        out += _restored(state, registrar)
        out += _registrations(state, registrar, say)
        out += _images(state, glance)
        out += _flavors(state, conn, say)
        out += _limit(state, lambda: (connect_limits or conn_factory)()
                      .identity, say)
    finally:
        state.forget_unmade()
        state.save()
    return tuple(out)
