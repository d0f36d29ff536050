"""A connection to the cloud, and one-line errors for what goes wrong.

Credentials come from clouds.yaml (--os-cloud / $OS_CLOUD) or the OS_*
variables, read by openstacksdk. TLS certificates are verified unless
the user asks for --insecure. Nothing here prints a secret: messages
are built from exception classes, URLs without userinfo and the
service's own error text.
"""

import dataclasses
import re
import urllib.parse

from keystoneauth1 import adapter
from keystoneauth1 import exceptions as ksa_exc
import openstack
from openstack import exceptions as sdk_exc
import requests

from trove_image_builder import errors
from trove_image_builder import redact

_ERRNO = re.compile(r'\[Errno -?\d+\] ([^\'"\)]+)')
_URL = re.compile(r'https?://[^\s:/]+(:\d+)?')


@dataclasses.dataclass(frozen=True)
class Options:
    os_cloud: str = None
    region_name: str = None
    insecure: bool = False
    cacert: str = None
    api_timeout: int = 120

    @classmethod
    def from_conf(cls, conf, **flags):
        c = conf.cloud
        values = dict(os_cloud=c.os_cloud, region_name=c.region_name,
                      insecure=c.insecure, cacert=c.cacert,
                      api_timeout=c.api_timeout)
        values.update({k: v for k, v in flags.items() if v is not None})
        return cls(**values)


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
        conn.authorize()
    except Exception as exc:
        raise translate(exc, 'Keystone') from None
    return conn


def image_api(conn):
    """A keystoneauth Adapter on Glance's v2 API.

    The catalog's endpoint is used as it is: openstacksdk's version
    discovery would turn an unreachable Glance into "no supported
    versions" plus log noise instead of a connection error.
    """
    cfg = conn.config
    try:
        url = conn.session.get_endpoint(
            service_type='image', interface=cfg.get_interface('image'),
            region_name=cfg.region_name)
    except Exception as exc:
        raise translate(exc, 'Glance') from None
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
    try:
        return trove_v1.Client(
            session=conn.session, region_name=conn.config.region_name,
            endpoint_type=interface)
    except Exception as exc:
        raise translate(exc, 'Trove') from None


def http_status(exc):
    """The HTTP status an error carries (troveclient, sdk), or None."""
    for attr in ('http_status', 'status_code', 'code'):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    return None


def _body_message(exc):
    """The message in an OpenStack error body ({"kind": {"message"}})."""
    resp = getattr(exc, 'response', None)
    try:
        body = resp.json()
    except Exception:  # noqa: no response, or not JSON
        return None
    if isinstance(body, dict) and len(body) == 1:
        inner = next(iter(body.values()))
        if isinstance(inner, dict):
            return inner.get('message') or inner.get('faultstring')
    return None


def _where(text):
    match = _URL.search(text or '')
    return match.group(0) if match else None


def _short(text, limit=300):
    text = ' '.join(str(text).split())
    return redact.url(text)[:limit]


def translate(exc, service, error_class=errors.CloudError):
    """The one-line error for exc raised while talking to service."""
    if isinstance(exc, errors.Error):
        return exc
    inner = exc.__cause__ or exc.__context__
    if type(exc) is sdk_exc.SDKException and isinstance(
            inner, ksa_exc.ClientException):
        # openstacksdk re-raises keystoneauth's errors as bare text
        exc = inner
    text = str(exc)
    if isinstance(exc, ksa_exc.SSLError) or isinstance(
            exc, requests.exceptions.SSLError):
        return error_class(
            'TLS verification failed talking to %s%s; give the CA bundle '
            'with [cloud] cacert (or --insecure, for a test cloud only)'
            % (service, _at(text)))
    if isinstance(exc, (ksa_exc.ConnectFailure, ksa_exc.ConnectTimeout,
                        ksa_exc.RetriableConnectionFailure,
                        requests.exceptions.ConnectionError)):
        reason = _ERRNO.search(text)
        if reason:
            reason = reason.group(1).strip().lower()
        elif 'timed out' in text.lower():
            reason = 'timed out'
        else:
            reason = 'connection failed'
        return error_class('cannot reach %s%s: %s'
                           % (service, _at(text), reason))
    # A 401 from Keystone is about the credentials; from another service
    # (Trove's "not an admin") its own message says more.
    if (isinstance(exc, ksa_exc.Unauthorized) or http_status(exc) == 401) \
            and (service == 'Keystone' or not _body_message(exc)):
        return error_class('authentication failed: %s refused the '
                           'credentials (check clouds.yaml / OS_* '
                           'variables)' % service)
    if isinstance(exc, ksa_exc.EndpointNotFound) or \
            type(exc).__name__ == 'EndpointNotFound':
        return error_class('the cloud\'s catalog has no %s endpoint%s'
                           % (service, _region(exc)))
    if isinstance(exc, ksa_exc.MissingRequiredOptions):
        return error_class(
            'no cloud credentials: use --os-cloud NAME (clouds.yaml) or '
            'set the OS_* variables (missing: %s)'
            % ', '.join(o.dest for o in exc.options))
    if isinstance(exc, ksa_exc.HttpError):
        return error_class('%s answered HTTP %s: %s' % (
            service, exc.http_status, _short(exc.details or exc.message)))
    if isinstance(exc, sdk_exc.HttpException):
        return error_class('%s answered HTTP %s: %s' % (
            service, exc.status_code, _short(exc.details or text)))
    code = http_status(exc)
    if code and code >= 400:  # troveclient's errors
        return error_class('%s answered HTTP %d: %s' % (
            service, code, _short(_body_message(exc) or getattr(
                exc, 'message', None) or text)))
    if isinstance(exc, (sdk_exc.ConfigException, sdk_exc.SDKException,
                        ksa_exc.ClientException)):
        return error_class('cloud configuration: %s' % _short(text))
    return error_class('%s: %s: %s' % (service, type(exc).__name__,
                                       _short(text)))


def _at(text):
    where = _where(text)
    if not where:
        return ''
    parts = urllib.parse.urlsplit(where)
    return ' at %s://%s' % (parts.scheme, parts.netloc)


def _region(exc):
    region = getattr(exc, 'region_name', None)
    return ' in region %s' % region if region else ''
