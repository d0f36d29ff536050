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

"""WSGI application factories for gunicorn, one per service.

gunicorn loads e.g. 'cloud_wsgi:trove("/path/trove.conf")' in each
worker.  Keystone and Trove hand sys.argv to oslo.config when their WSGI
modules are imported, and gunicorn's own options there make them fail,
so each factory sets sys.argv (and the config location) before the
import.  Runs inside the cloud venv, not the caller's Python.
"""

import os
import sys


def keystone(config_file):
    os.environ['OS_KEYSTONE_CONFIG_DIR'] = os.path.dirname(config_file)
    os.environ['OS_KEYSTONE_CONFIG_FILES'] = os.path.basename(config_file)
    sys.argv = ['keystone-wsgi-public']
    from keystone.wsgi import api
    return api.application


def glance(config_file):
    # Glance reads <dir>/glance-api.conf from OS_GLANCE_CONFIG_DIR.
    os.environ['OS_GLANCE_CONFIG_DIR'] = os.path.dirname(config_file)
    sys.argv = ['glance-api']
    from glance.wsgi import api
    return api.application


def trove(config_file):
    sys.argv = ['trove-api', '--config-file', config_file]
    from trove.cmd import app_wsgi
    return app_wsgi.application


def nova(config_file):
    # Nova reads api-paste.ini and nova.conf from OS_NOVA_CONFIG_DIR and
    # parses sys.argv itself.
    os.environ['OS_NOVA_CONFIG_DIR'] = os.path.dirname(config_file)
    sys.argv = ['nova-api-os-compute']
    from nova.wsgi import osapi_compute
    return osapi_compute.application
