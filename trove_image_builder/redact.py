"""Keep credentials out of anything printed or logged."""

import urllib.parse


def url(value):
    """Mask the password in a URL-looking value; leave others alone."""
    if '://' not in value or '@' not in value:
        return value
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return value
    if parts.password is None:
        return value
    netloc = '%s:***@%s' % (parts.username or '',
                            parts.hostname or '')
    if parts.port:
        netloc += ':%d' % parts.port
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
