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

"""The api registrar: Trove's management API through python-troveclient.

Works against any cloud where the credentials carry Trove's admin role.
Trove itself checks with Glance that the image (or tags) exists.
"""

import importlib.util
import os

from troveclient.v1 import management

from trove_image_builder.cloud import calls
from trove_image_builder.cloud import connection
from trove_image_builder import register
from trove_image_builder.register import params


# The management API's schema for configuration parameters allows these
# data types only; trove-manage writes the others straight to the DB.
API_TYPES = ('integer', 'string')


def _tags(value):
    if isinstance(value, str):
        value = value.split(',')
    return tuple(t for t in value or () if t)


def _bool_text(value):
    return 'true' if value else 'false'


class ApiRegistrar(register.Registrar):

    name = 'api'
    param_types = API_TYPES
    param_bounded = True

    def __init__(self, conn, client=None):
        self._conn = conn
        self._client = client

    @property
    def client(self):
        if self._client is None:
            self._client = connection.trove_client(self._conn)
        return self._client

    def _trove(self, func, *args, **kwargs):
        return calls.call('Trove', func, *args, **kwargs)

    def versions(self, datastore):
        listed = self._trove(self.client.mgmt_ds_versions.list)
        mine = [v for v in listed
                if getattr(v, 'datastore_name', None) == datastore]
        if not mine and not self._datastore_exists(datastore):
            return None
        return [register.Registered(
            id=v.id, datastore=v.datastore_name, name=v.name,
            version_number=getattr(v, 'version', None) or v.name,
            manager=v.datastore_manager, image_id=v.image or '',
            image_tags=_tags(v.image_tags), active=bool(v.active),
            default=bool(getattr(v, 'default', False))) for v in mine]

    def _datastore_exists(self, datastore):
        return self._trove(self.client.datastores.get, datastore,
                           missing=False) is not False

    def _create(self, want, datastore_exists):
        # Trove creates the datastore along with its first version.
        self._trove(self.client.mgmt_ds_versions.create,
                    want.name, want.datastore, want.manager,
                    want.image_id or None, active=_bool_text(want.active),
                    default='false', image_tags=list(want.image_tags),
                    version=want.version_number)

    def _update(self, prev, want):
        self._trove(self.client.mgmt_ds_versions.edit, prev.id,
                    datastore_manager=want.manager,
                    image=want.image_id or None,
                    image_tags=list(want.image_tags),
                    active=_bool_text(want.active))

    def rules_path(self, spec):
        if spec and spec.startswith('trove:'):
            # A trove package installed beside this tool has the file.
            found = importlib.util.find_spec('trove')
            if found and found.submodule_search_locations:
                path = os.path.join(list(found.submodule_search_locations)[0],
                                    spec[len('trove:'):])
                return path if os.path.isfile(path) else None
            return None
        return super().rules_path(spec)

    def _params_api(self):
        return management.MgmtConfigurationParameters(self.client)

    def _parameters(self, version):
        listed = self._trove(self._params_api().list_all_parameter_by_version,
                             version.id)
        return {p.name: params.normal(
            p.name, getattr(p, 'restart_required', False),
            getattr(p, 'type', None), getattr(p, 'max_size', None),
            getattr(p, 'min_size', None)) for p in listed}

    def _apply_rules(self, version, rules_path, change):
        api = self._params_api()
        rules = {r['name']: r for r in register.read_rules(rules_path)}
        for names, func in ((change.create, api.create),
                            (change.modify, api.modify)):
            for name in names:
                rule = rules[name]
                self._trove(func, version.id, name,
                            bool(rule.get('restart_required')),
                            rule['type'], rule.get('max'), rule.get('min'))
        for name in change.delete:
            self._trove(api.delete, version.id, name)

    def _set_default(self, version):
        self._trove(self.client.mgmt_ds_versions.edit, version.id,
                    default='true')
