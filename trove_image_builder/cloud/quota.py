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

"""Room in Glance's image_size_total quota for the images to upload.

Glance enforces it through Keystone unified limits (devstack sets a
1000 MiB default, less than three guest images). Glance reports usage
and the effective limit at /v2/info/usage (empty when it enforces no
quota); raising it means raising the project's own limit in Keystone,
or creating one where only the registered (default) limit applies; the
default, which every project shares, is never changed. That takes a
system-scoped admin (devstack's cloud "devstack-system-admin"). Only
image_size_total counts here: images go up with a plain upload, not
through the staging area that image_stage_total covers.
"""

import dataclasses
import math

from trove_image_builder.cloud import calls
from trove_image_builder import errors

RESOURCE = 'image_size_total'
MIB = 2 ** 20


@dataclasses.dataclass(frozen=True)
class Change:
    # limit: the project's own, raised; project_limit: created for the
    # project (old is the default it had); registered_limit: the default
    # itself (only in state files of older releases, to restore them).
    kind: str
    id: str  # None until Keystone has created a project_limit
    old: int  # MiB
    new: int  # MiB
    project_id: str = None


def _json(adapter, path, service, method='GET', ok=(200,), body=None):
    resp = calls.rest(adapter, service, method, path, ok=ok, json=body)
    return resp.json() if resp.content else {}


def glance_usage(image_adapter):
    """(usage MiB, limit MiB) of image_size_total, or None: no quota."""
    # 404, 501: a Glance without the call
    resp = calls.rest(image_adapter, 'Glance', 'GET', '/info/usage',
                      missing=(404, 501))
    if resp is None:
        return None
    found = (resp.json().get('usage') or {}).get(RESOURCE)
    if not found:
        return None
    return int(found['usage']), int(found['limit'])


def needed_mib(usage_mib, new_bytes):
    return usage_mib + int(math.ceil(new_bytes / MIB))


def _glance_service_id(identity):
    found = _json(identity, '/services?type=image', 'Keystone')
    services = found.get('services') or []
    if not services:
        raise errors.CloudError('Keystone lists no image service')
    return services[0]['id']


def _limit_query(identity, project_id):
    service = _glance_service_id(identity)
    return service, 'service_id=%s&resource_name=%s&project_id=%s' % (
        service, RESOURCE, project_id)


def project_limit(identity, project_id):
    """The project's own image_size_total limit, or None."""
    _service, query = _limit_query(identity, project_id)
    own = _json(identity, '/limits?%s' % query, 'Keystone').get('limits')
    return own[0] if own else None


def raise_limit(identity, project_id, new_mib, record=None):
    """Give project_id (only) a limit of new_mib; a Change.

    record(change) is called before Keystone is changed (and again once
    a created limit has its id), so the change is on file whatever
    fails next.
    """
    record = record or (lambda change: None)
    service, query = _limit_query(identity, project_id)
    own = _json(identity, '/limits?%s' % query,
                'Keystone').get('limits') or []
    if own:
        change = Change('limit', own[0]['id'], own[0]['resource_limit'],
                        new_mib, project_id)
        record(change)
        set_limit(identity, change)
        return change
    registered = _json(identity, '/registered_limits?service_id=%s&'
                       'resource_name=%s' % (service, RESOURCE),
                       'Keystone').get('registered_limits') or []
    if not registered:
        raise errors.CloudError('Glance enforces %s but Keystone has '
                                'no limit for it' % RESOURCE)
    change = Change('project_limit', None,
                    registered[0]['default_limit'], new_mib, project_id)
    record(change)
    limit = {'service_id': service, 'project_id': project_id,
             'resource_name': RESOURCE, 'resource_limit': new_mib}
    if registered[0].get('region_id'):
        # Keystone pairs a project limit with the default of its region.
        limit['region_id'] = registered[0]['region_id']
    created = _json(identity, '/limits', 'Keystone', 'POST', ok=(201,),
                    body={'limits': [limit]})
    change = dataclasses.replace(change, id=created['limits'][0]['id'])
    record(change)
    return change


def remove_limit(identity, change):
    """Delete the project limit a project_limit change created."""
    calls.rest(identity, 'Keystone', 'DELETE', '/limits/%s' % change.id,
               ok=(204,), missing=(404,))


def set_limit(identity, change, value=None):
    """Write change.new (or value) into the limit change names."""
    value = change.new if value is None else value
    if change.kind in ('limit', 'project_limit'):
        path, body = '/limits/%s' % change.id, {
            'limit': {'resource_limit': value}}
    else:
        path, body = '/registered_limits/%s' % change.id, {
            'registered_limit': {'default_limit': value}}
    _json(identity, path, 'Keystone', 'PATCH', body=body)


def current(identity, change):
    """The value the limit named by change holds now (None: gone)."""
    if change.kind in ('limit', 'project_limit'):
        path, key, field = '/limits/%s' % change.id, 'limit', \
            'resource_limit'
    else:
        path, key, field = '/registered_limits/%s' % change.id, \
            'registered_limit', 'default_limit'
    resp = calls.rest(identity, 'Keystone', 'GET', path, missing=(404,))
    return None if resp is None else resp.json()[key][field]


def ensure_room(image_adapter, project_id, new_bytes, identity_factory,
                record=None):
    """Raise project_id's quota when new_bytes more would not fit.

    Returns a Change, or None. identity_factory() returns a system-scoped
    identity adapter, asked for only when a change is needed; record is
    raise_limit's.
    """
    found = glance_usage(image_adapter)
    if found is None or new_bytes <= 0:
        return None
    usage, limit = found
    need = needed_mib(usage, new_bytes)
    if limit < 0 or limit >= need:
        return None
    return raise_limit(identity_factory(), project_id, need, record)
