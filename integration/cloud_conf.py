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

"""Configuration files of the minicloud services, rendered from a Layout.

Only what differs from each service's defaults is written.  Services log
to stderr, which gunicorn captures into the service's own log file.
"""

import json
import os

REGION = 'RegionOne'


def ini(sections):
    """INI text from {section: {key: value}} (values already strings)."""
    out = []
    for name, options in sections.items():
        out.append('[%s]' % name)
        out.extend('%s = %s' % item for item in options.items())
        out.append('')
    return '\n'.join(out)


def write_private(path, text):
    """Write a file that holds secrets: 0600 from the first byte."""
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _authtoken(lay, user, password):
    return {
        'www_authenticate_uri': lay.identity_url,
        'auth_url': lay.identity_url,
        'auth_type': 'password',
        'user_domain_name': 'Default',
        'project_domain_name': 'Default',
        'project_name': 'service',
        'username': user,
        'password': password,
        'region_name': REGION,
    }


def keystone_conf(lay, db_url):
    return ini({
        'DEFAULT': {'use_stderr': 'true'},
        'database': {'connection': db_url},
        'token': {'provider': 'fernet'},
        'fernet_tokens': {'key_repository': lay.path('keystone',
                                                     'fernet-keys')},
        'fernet_receipts': {'key_repository': lay.path('keystone',
                                                       'fernet-keys')},
        'credential': {'key_repository': lay.path('keystone',
                                                  'credential-keys')},
        # The default bcrypt cost makes every password login slow.
        # bcrypt's own limit; a larger one only logs a warning per login
        'identity': {'password_hash_rounds': '4',
                     'max_password_length': '72'},
    })


def glance_conf(lay, db_url, password):
    return ini({
        'DEFAULT': {
            'use_stderr': 'true',
            'bind_host': '127.0.0.1',
            'bind_port': str(lay.ports['glance']),
            'enabled_backends': 'fs:file',
            'worker_self_reference_url': lay.image_url,
        },
        'database': {'connection': db_url},
        'glance_store': {'default_backend': 'fs'},
        'fs': {'filesystem_store_datadir': lay.path('glance', 'images')},
        'os_glance_staging_store': {
            'filesystem_store_datadir': lay.path('glance', 'staging')},
        'os_glance_tasks_store': {
            'filesystem_store_datadir': lay.path('glance', 'tasks')},
        'keystone_authtoken': _authtoken(lay, 'glance', password),
        'paste_deploy': {
            'flavor': 'keystone',
            'config_file': lay.path('etc', 'glance', 'glance-api-paste.ini'),
        },
        'oslo_concurrency': {'lock_path': lay.path('run', 'lock')},
    })


def trove_conf(lay, db_url, password):
    rate = '100000'   # tests call the API in bursts; no rate limiting
    return ini({
        'DEFAULT': {
            'use_stderr': 'true',
            'bind_host': '127.0.0.1',
            'bind_port': str(lay.ports['trove']),
            'transport_url': 'fake:/',
            'api_paste_config': lay.path('etc', 'trove', 'api-paste.ini'),
            'region': REGION,
            'http_get_rate': rate,
            'http_post_rate': rate,
            'http_put_rate': rate,
            'http_delete_rate': rate,
            'http_mgmt_post_rate': rate,
        },
        'database': {'connection': db_url},
        'keystone_authtoken': _authtoken(lay, 'trove', password),
        'service_credentials': {
            'auth_url': lay.identity_url,
            'username': 'trove',
            'password': password,
            'project_name': 'service',
            'user_domain_name': 'Default',
            'project_domain_name': 'Default',
            'region_name': REGION,
        },
        'oslo_messaging_notifications': {'driver': 'noop'},
        'oslo_concurrency': {'lock_path': lay.path('run', 'lock')},
    })


def clouds_yaml(lay, secrets):
    """clouds.yaml text; JSON strings are valid YAML scalars."""
    q = json.dumps
    lines = ['clouds:']
    for cloud, user in (('minicloud-admin', 'admin'),
                        ('minicloud-demo', 'demo')):
        lines += [
            '  %s:' % cloud,
            '    auth:',
            '      auth_url: %s' % q(lay.identity_url),
            '      username: %s' % q(user),
            '      password: %s' % q(secrets[user]),
            '      project_name: %s' % q(user),
            '      user_domain_name: Default',
            '      project_domain_name: Default',
            '    region_name: %s' % REGION,
            '    identity_api_version: 3',
            '    interface: public',
        ]
    return '\n'.join(lines) + '\n'
