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

"""A connection to the cloud, and the service clients made from it.

Credentials come from clouds.yaml (--os-cloud / $OS_CLOUD) or the OS_*
variables, read by openstacksdk. TLS certificates are verified unless
the user asks for --insecure.
"""

import dataclasses

from keystoneauth1 import adapter
import openstack
from openstack import exceptions as sdk_exc

from trove_image_builder.cloud import calls
from trove_image_builder import conf as conf_mod
from trove_image_builder import errors


@dataclasses.dataclass(frozen=True)
class Options(conf_mod.FromConf):
    os_cloud: str = conf_mod.option('cloud.os_cloud')
    region_name: str = conf_mod.option('cloud.region_name')
    insecure: bool = conf_mod.option('cloud.insecure')
    cacert: str = conf_mod.option('cloud.cacert')
    api_timeout: int = conf_mod.option('cloud.api_timeout')


def connect(opts):
    """An authenticated openstacksdk Connection.

    The token is fetched here, so wrong credentials or an unreachable
    Keystone fail before anything else happens.
    """
    kwargs = {'api_timeout': opts.api_timeout}
    if opts.region_name:
        kwargs['region_name'] = opts.region_name
    if opts.insecure:
        kwargs['verify'] = False
    elif opts.cacert:
        kwargs['cacert'] = opts.cacert
    try:
        conn = openstack.connect(cloud=opts.os_cloud, **kwargs)
    except sdk_exc.ConfigException as exc:
        # An unknown cloud name or incomplete credentials: the user's
        # input, not the cloud's answer.
        raise errors.InputError('cloud configuration: %s' % exc) from None
    except Exception as exc:
        raise calls.translate(exc, 'Keystone') from None
    calls.call('Keystone', conn.authorize)
    return conn


def image_api(conn):
    """A keystoneauth Adapter on Glance's v2 API.

    The catalog's endpoint is used as it is: openstacksdk's version
    discovery would turn an unreachable Glance into "no supported
    versions" plus log noise instead of a connection error.
    """
    cfg = conn.config
    url = calls.call('Glance', conn.session.get_endpoint,
                     service_type='image',
                     interface=cfg.get_interface('image'),
                     region_name=cfg.region_name)
    if not url:
        raise errors.CloudError('the cloud\'s catalog has no Glance '
                                'endpoint')
    url = url.rstrip('/')
    if not url.endswith('/v2'):
        url += '/v2'
    return adapter.Adapter(conn.session, endpoint_override=url)


def trove_client(conn):
    """python-troveclient on the connection's session (same token)."""
    from troveclient.v1 import client as trove_v1

    interface = conn.config.get_interface('database') or 'public'
    return calls.call('Trove', trove_v1.Client, session=conn.session,
                      region_name=conn.config.region_name,
                      endpoint_type=interface)
