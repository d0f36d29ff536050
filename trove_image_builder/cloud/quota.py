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
quota); raising it means changing the project's own limit, or else the
registered (default) limit, in Keystone, which takes a system-scoped
admin (devstack's cloud "devstack-system-admin"). Only image_size_total
counts here: images go up with a plain upload, not through the staging
area that image_stage_total covers.
"""

import dataclasses
import math

from trove_image_builder.cloud import calls
from trove_image_builder import errors

RESOURCE = 'image_size_total'
MIB = 2 ** 20


@dataclasses.dataclass(frozen=True)
class Change:
    kind: str  # limit (the project's own) | registered_limit (default)
    id: str
    old: int  # MiB
    new: int  # MiB


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


def raise_limit(identity, project_id, new_mib):
    """Set the limit that applies to project_id to new_mib; a Change."""
    service = _glance_service_id(identity)
    query = 'service_id=%s&resource_name=%s' % (service, RESOURCE)
    own = _json(identity, '/limits?%s&project_id=%s' % (query, project_id),
                'Keystone').get('limits') or []
    if own:
        change = Change('limit', own[0]['id'], own[0]['resource_limit'],
                        new_mib)
    else:
        registered = _json(identity, '/registered_limits?%s' % query,
                           'Keystone').get('registered_limits') or []
        if not registered:
            raise errors.CloudError('Glance enforces %s but Keystone has '
                                    'no limit for it' % RESOURCE)
        change = Change('registered_limit', registered[0]['id'],
                        registered[0]['default_limit'], new_mib)
    set_limit(identity, change)
    return change


def set_limit(identity, change, value=None):
    """Write change.new (or value) into the limit change names."""
    value = change.new if value is None else value
    if change.kind == 'limit':
        path, body = '/limits/%s' % change.id, {
            'limit': {'resource_limit': value}}
    else:
        path, body = '/registered_limits/%s' % change.id, {
            'registered_limit': {'default_limit': value}}
    _json(identity, path, 'Keystone', 'PATCH', body=body)


def current(identity, change):
    """The value the limit named by change holds now (None: gone)."""
    if change.kind == 'limit':
        path, key, field = '/limits/%s' % change.id, 'limit', \
            'resource_limit'
    else:
        path, key, field = '/registered_limits/%s' % change.id, \
            'registered_limit', 'default_limit'
    resp = calls.rest(identity, 'Keystone', 'GET', path, missing=(404,))
    return None if resp is None else resp.json()[key][field]


def ensure_room(image_adapter, project_id, new_bytes, identity_factory):
    """Raise the quota when new_bytes more would not fit.

    Returns a Change, or None. identity_factory() returns a system-scoped
    identity adapter, asked for only when a change is needed.
    """
    found = glance_usage(image_adapter)
    if found is None or new_bytes <= 0:
        return None
    usage, limit = found
    need = needed_mib(usage, new_bytes)
    if limit < 0 or limit >= need:
        return None
    return raise_limit(identity_factory(), project_id, need)
