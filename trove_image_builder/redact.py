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

"""Keep credentials out of anything printed or logged."""

import urllib.parse


def url(value):
    """Mask what authenticates in a URL-looking value; leave others alone.

    The password of user:password; a user name alone (how package
    indexes and Git hosts take tokens); every value of the query string
    (signed and token URLs). The rest stays readable.
    """
    if '://' not in value:
        return value
    try:
        parts = urllib.parse.urlsplit(value)
        has_password = parts.password is not None
    except ValueError:
        return value
    netloc = parts.netloc
    if '@' in netloc:
        userinfo, host = netloc.rsplit('@', 1)
        userinfo = '%s:***' % parts.username if has_password else '***'
        netloc = '%s@%s' % (userinfo, host)
    query = '&'.join(
        item.split('=', 1)[0] + '=***' if '=' in item else '***'
        for item in parts.query.split('&')) if parts.query else ''
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc,
                                                  query=query))
