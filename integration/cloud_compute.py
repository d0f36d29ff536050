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

"""Opt-in compute API for the minicloud: nova-api, for flavors only.

Enabled with `minicloud.py --compute up` (or MiniCloud(compute=True), or
TIB_MINICLOUD_COMPUTE=1); once enabled in a workdir it stays enabled.
Only nova's API runs, over two databases on the private MariaDB (the
API database and one cell database, no cell mappings): flavors, their
extra specs and other API-database objects work; servers do not (no
scheduler, conductor, placement or compute).
"""

import os
import shutil

if __package__:
    from . import cloud_catalog
    from . import cloud_conf
else:  # run as a script: the sibling modules are on sys.path[0]
    import cloud_catalog
    import cloud_conf

NAME = 'nova'
DEFAULT_PORT = 18774
# The newest nova whose requirements the 2026.2 upper-constraints admit
# (nova 34.0.0 wants a newer keystoneauth1).
REQUIREMENT = ('nova', '33.0.2')
SECRET_NAMES = ('nova', 'db_nova_api', 'db_nova')
DATABASES = ('nova_api', 'nova')
GUNICORN = {'worker': 'gthread', 'threads': 4, 'timeout': 120}


def compute_url(lay):
    return 'http://127.0.0.1:%d/v2.1' % lay.ports[NAME]


def probe_url(lay):
    return 'http://127.0.0.1:%d/' % lay.ports[NAME]


def conf_path(lay):
    return lay.path('etc', NAME, 'nova.conf')


def nova_conf(lay, api_db_url, cell_db_url, password):
    authtoken = cloud_conf._authtoken(lay, NAME, password)
    return cloud_conf.ini({
        'DEFAULT': {
            'use_stderr': 'true',
            'host': 'minicloud',
            'my_ip': '127.0.0.1',
            'state_path': lay.path(NAME),
            'transport_url': 'fake:/',
        },
        'api': {'auth_strategy': 'keystone'},
        'wsgi': {'api_paste_config': lay.path('etc', NAME,
                                              'api-paste.ini')},
        'api_database': {'connection': api_db_url},
        'database': {'connection': cell_db_url},
        'keystone_authtoken': authtoken,
        'oslo_messaging_notifications': {'driver': 'noop'},
        'oslo_concurrency': {'lock_path': lay.path('run', 'lock')},
    })


def write_configs(lay, db, sec):
    os.makedirs(lay.path('etc', NAME), mode=0o700, exist_ok=True)
    os.makedirs(lay.path(NAME), mode=0o700, exist_ok=True)
    shutil.copyfile(os.path.join(lay.venv, 'etc', NAME, 'api-paste.ini'),
                    lay.path('etc', NAME, 'api-paste.ini'))
    cloud_conf.write_private(conf_path(lay), nova_conf(
        lay, db.url('nova_api', sec['db_nova_api']),
        db.url('nova', sec['db_nova']), sec['nova']))


def ensure_databases(db, sec):
    for name in DATABASES:
        db.ensure_database(name, sec['db_' + name])


def setup_commands(lay):
    """nova-manage steps, in order: API schema, then the cell's."""
    conf = ['nova-manage', '--config-file', conf_path(lay)]
    # --local_cell: there are no cell mappings to walk
    return [conf + ['api_db', 'sync'], conf + ['db', 'sync', '--local_cell']]


def populate(lay, secrets, region):
    """The nova service user and the compute endpoints."""
    ks = cloud_catalog.Keystone(lay.identity_url, secrets['admin'])
    service = ks.ensure_project('service')
    user = ks.ensure_user(NAME, secrets[NAME], service)
    ks.grant(service, user, ks.ensure_role('admin'))
    ks.grant(service, user, ks.ensure_role('service'))
    ks.ensure_endpoints('compute', NAME, compute_url(lay), region)
