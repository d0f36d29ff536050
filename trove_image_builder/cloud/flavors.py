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

"""The Nova flavors Trove's tests boot database instances with.

Created only when missing; an existing flavor with the same id or name
is left exactly as it is (it may be an operator's).
"""

import dataclasses

from trove_image_builder.cloud import calls
from trove_image_builder import errors

# trove-tempest-plugin creates instances with flavor d2 and resizes them
# to d3 ([database] flavor_id, resize_flavor_id); devstack's own flavors
# carry the same ids and names.
DEFAULTS = ('d2:ds1G:1024:10:1', 'd3:ds2G:2048:10:2')
# Our images ask for a virtio RNG (hw_rng_model); Nova adds the device
# only when the flavor allows it.
EXTRA_SPECS = {'hw_rng:allowed': 'True'}


@dataclasses.dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    ram: int  # MiB
    disk: int  # GiB
    vcpus: int

    def spec(self):
        return '%s:%s:%d:%d:%d' % (self.id, self.name, self.ram, self.disk,
                                   self.vcpus)


@dataclasses.dataclass(frozen=True)
class Outcome:
    flavor: Flavor
    action: str  # created | exists
    note: str = None


def parse(spec):
    """"ID:NAME:RAM_MIB:DISK_GIB:VCPUS" -> Flavor."""
    parts = spec.split(':')
    try:
        if len(parts) != 5 or not all(parts[:2]):
            raise ValueError
        ram, disk, vcpus = (int(p) for p in parts[2:])
        if ram < 1 or disk < 0 or vcpus < 1:
            raise ValueError
    except ValueError:
        raise errors.InputError('bad flavor %r: want ID:NAME:RAM_MIB:'
                                'DISK_GIB:VCPUS, e.g. d2:ds1G:1024:10:1'
                                % spec)
    return Flavor(parts[0], parts[1], ram, disk, vcpus)


def parse_all(specs):
    found = tuple(parse(s) for s in specs)
    ids = [f.id for f in found]
    if len(set(ids)) != len(ids):
        raise errors.InputError('flavor ids listed twice: %s'
                                % ', '.join(ids))
    return found


def has_compute(conn):
    try:
        return bool(conn.endpoint_for('compute'))
    except Exception:  # noqa: no catalog entry, whatever the SDK raises
        return False


def _nova(func, *args, **kwargs):
    return calls.call('Nova', func, *args, **kwargs)


def ensure(conn, wanted):
    """Create each wanted flavor unless its id or name exists."""
    outcomes = []
    compute = conn.compute
    for flavor in wanted:
        same_id = _nova(compute.find_flavor, flavor.id, ignore_missing=True)
        if same_id is not None and same_id.id == flavor.id:
            outcomes.append(Outcome(flavor, 'exists'))
            continue
        same_name = _nova(compute.find_flavor, flavor.name,
                          ignore_missing=True)
        if same_name is not None:
            outcomes.append(Outcome(flavor, 'exists', (
                'flavor %s exists with id %s, not %s: left alone'
                % (flavor.name, same_name.id, flavor.id))))
            continue
        made = _nova(compute.create_flavor, id=flavor.id, name=flavor.name,
                     ram=flavor.ram, disk=flavor.disk, vcpus=flavor.vcpus,
                     is_public=True)
        _nova(compute.create_flavor_extra_specs, made, dict(EXTRA_SPECS))
        outcomes.append(Outcome(flavor, 'created'))
    return outcomes


def delete(conn, flavor_id):
    """Delete a flavor; True if it was there."""
    compute = conn.compute
    if _nova(compute.find_flavor, flavor_id, ignore_missing=True) is None:
        return False
    _nova(compute.delete_flavor, flavor_id, ignore_missing=True)
    return True
