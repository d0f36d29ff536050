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

"""Print what Trove's database holds for one datastore, as JSON.

Run by the Python interpreter of trove-manage (it needs trove, not this
tool): trove-manage writes but cannot show, so the manage registrar
reads through this. Usage: manage_query.py --config-file FILE DATASTORE
"""

import json
import os
import sys

MARKER = 'TROVE-IMAGE-BUILDER-QUERY '


def main(argv):
    if len(argv) != 4 or argv[1] != '--config-file':
        sys.stderr.write('usage: manage_query.py --config-file FILE '
                         'DATASTORE\n')
        return 2
    config_file, name = argv[2], argv[3]
    import trove
    from trove.common import cfg
    from trove.common import exception
    from trove.configuration import models as config_models
    from trove.datastore import models
    from trove.db import get_db_api

    cfg.parse_args(['trove-image-builder-query', '--config-file',
                    config_file])
    get_db_api().configure_db()
    out = {'trove_dir': os.path.dirname(os.path.abspath(trove.__file__)),
           'datastore': None, 'versions': []}
    try:
        datastore = models.Datastore.load(name)
    except exception.DatastoreNotFound:
        datastore = None
    if datastore is not None:
        out['datastore'] = {'id': datastore.id, 'name': datastore.name,
                            'default_version_id':
                                datastore.default_version_id}
        for v in models.DatastoreVersions.load(datastore.id,
                                               only_active=False):
            out['versions'].append({
                'id': v.id, 'name': v.name, 'version': v.version,
                'manager': v.manager, 'image_id': v.image_id or '',
                'image_tags': v.image_tags or '',
                'active': bool(v.active),
                'parameters': [{
                    'name': p.name, 'restart_required':
                        bool(p.restart_required), 'type': p.data_type,
                    'max': p.max_size, 'min': p.min_size}
                    for p in config_models.DatastoreConfigurationParameters
                    .load_parameters(v.id)]})
    sys.stdout.write(MARKER + json.dumps(out) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
