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

"""Calls to cloud services, and one-line errors for what goes wrong.

Every call to a service goes through call() (a client library's
function) or rest() (a REST request on a keystoneauth Adapter), which
turn whatever the libraries raise into a CloudError (or the class the
caller names) with one line of text. Nothing here prints a secret:
messages are built from exception classes, URLs without userinfo and
the service's own error text.
"""

import re
import urllib.parse

from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc
import requests

from trove_image_builder import errors
from trove_image_builder import redact

_ERRNO = re.compile(r'\[Errno -?\d+\] ([^\'"\)]+)')
_URL = re.compile(r'https?://[^\s:/]+(:\d+)?')
_RAISE = object()


def call(service, func, *args, missing=_RAISE, **kwargs):
    """func(*args, **kwargs), a call to service through its client.

    A failure raises translate()'s one-line error; with missing given,
    an HTTP 404 returns missing instead.
    """
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        if missing is not _RAISE and http_status(exc) == 404:
            return missing
        raise translate(exc, service) from None


def rest(api, service, method, path, ok=(200,), missing=(), reason=None,
         **kwargs):
    """One REST request on the Adapter api; its response.

    A status in missing returns None; one neither ok nor missing raises
    CloudError, with reason(response) appended when given.
    """
    kwargs.setdefault('raise_exc', False)
    resp = call(service, api.request, path, method, **kwargs)
    if resp.status_code in missing:
        return None
    if resp.status_code not in ok:
        message = '%s answered HTTP %d to %s %s' % (
            service, resp.status_code, method, path.split('?')[0])
        if reason:
            message += ': %s' % reason(resp)
        error = errors.CloudError(message)
        # For callers that tell one refusal from another (http_status).
        error.http_status = resp.status_code
        raise error
    return resp


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
