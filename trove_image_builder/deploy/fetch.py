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

"""Download a prebuilt guest image once, and keep it by its URL.

The file is streamed to disk (hashed on the way), checked with qemu-img,
renamed into place only when complete, and given a manifest like a built
image's, which records the URL. The next fetch of the same URL uses the
file without going to the network.
"""

import datetime
import hashlib
import os
import re
import urllib.parse

import requests

from trove_image_builder import catalog
from trove_image_builder import errors
from trove_image_builder import imagefile
from trove_image_builder import lock
from trove_image_builder import manifest
from trove_image_builder import redact

# What a URL's file name promises; an error page saved under that name
# is then caught (qemu-img would call any bytes "raw").
FORMATS = {'.qcow2': 'qcow2', '.raw': 'raw', '.vmdk': 'vmdk',
           '.vhd': 'vpc', '.vdi': 'vdi'}
# OpenSSL's reason inside requests' long SSLError text.
_TLS_REASON = re.compile(r'certificate verify failed: ([^(\')]+)')


def cache_path(url, download_dir):
    """<dir>/<16 hex of the URL's sha256>-<file name in the URL>."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    name = os.path.basename(urllib.parse.urlsplit(url).path) or 'image'
    name = ''.join(c if c.isalnum() or c in '._-' else '_' for c in name)
    if not os.path.splitext(name)[1]:
        name += '.img'
    return os.path.join(os.path.abspath(download_dir),
                        '%s-%s' % (key, name))


def parse_checksum(text):
    """(algorithm, hex digest) of "ALGO:HEX", or of a bare sha256."""
    algo, sep, value = (text or '').strip().rpartition(':')
    algo = (algo if sep else 'sha256').lower()
    value = value.lower()
    if algo not in hashlib.algorithms_available or not value or \
            any(c not in '0123456789abcdef' for c in value):
        raise errors.InputError('--image-checksum must be ALGORITHM:HEX '
                                '(e.g. sha256:...), got %r' % text)
    return algo, value


def cached(path, url, checksum=None):
    """True when path is a complete earlier download of url."""
    data = manifest.read(path)
    if not data or data.get('source_url') != redact.url(url):
        return False
    try:
        if os.path.getsize(path) != data.get('size'):
            return False
    except OSError:
        return False
    return checksum is None or _digest(path, checksum[0],
                                       data) == checksum[1]


def _digest(path, algo, data):
    if algo == 'sha256' and data.get('sha256'):
        return data['sha256']
    return manifest.hash_file(path, algo)


def _download(url, partial, say, verify, timeout):
    digest = hashlib.sha256()
    size = 0
    shown = redact.url(url)
    try:
        with requests.get(url, stream=True, timeout=timeout,
                          verify=verify) as resp:
            if resp.status_code != 200:
                raise errors.InputError('downloading %s: HTTP %d'
                                        % (shown, resp.status_code))
            total = int(resp.headers.get('Content-Length') or 0)
            with imagefile.open_private(partial, 'wb') as f:
                for block in resp.iter_content(imagefile.CHUNK):
                    f.write(block)
                    digest.update(block)
                    size += len(block)
                f.flush()
                os.fsync(f.fileno())
    except requests.exceptions.SSLError as exc:
        reason = _TLS_REASON.search(str(exc))
        raise errors.InputError(
            'downloading %s: TLS certificate verification failed (%s); '
            'give the server\'s CA bundle with --os-cacert, or --insecure '
            'with --image-checksum' % (shown, reason.group(1).strip()
                                       if reason else 'TLS error')) from None
    except requests.RequestException as exc:
        raise errors.InputError('downloading %s failed: %s'
                                % (shown, type(exc).__name__)) from None
    if total and size != total:
        raise errors.InputError('downloading %s: got %d of %d bytes'
                                % (shown, size, total))
    say('downloaded %s (%d MiB)' % (shown, size // 2 ** 20))
    return digest.hexdigest(), size


def fetch(url, download_dir, say=None, refresh=False, verify=True,
          timeout=60, checksum=None, cacert=None):
    """(path, was_cached) of url's image in download_dir.

    verify=False (--insecure) skips TLS verification and allows plain
    http; checksum ("ALGO:HEX") is then what vouches for the bytes.
    cacert: a CA bundle the server's certificate is verified with,
    instead of the system's.
    """
    say = say or (lambda msg: None)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ('http', 'https'):
        raise errors.InputError('image URL must be http(s): %s'
                                % redact.url(url))
    if scheme == 'http' and verify:
        # Anyone on the path could hand over another image.
        raise errors.InputError(
            'plain http image URL refused: %s; give an https URL, or '
            '--insecure (with --image-checksum) to download it anyway'
            % redact.url(url))
    if verify and cacert:
        if not os.path.isfile(cacert):
            raise errors.InputError('CA bundle not found: %s' % cacert)
        verify = os.path.abspath(cacert)
    checksum = parse_checksum(checksum) if checksum else None
    path = cache_path(url, download_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with lock.TargetLock(os.path.dirname(path), os.path.basename(path)):
        if not refresh and cached(path, url, checksum):
            say('%s: using the earlier download %s'
                % (redact.url(url), path))
            return path, True
        partial = path + '.partial'
        try:
            sha256, size = _download(url, partial, say, verify, timeout)
            if checksum and _digest(partial, checksum[0], {
                    'sha256': sha256}) != checksum[1]:
                raise errors.InputError(
                    'downloading %s: its %s is not the one --image-checksum '
                    'gives' % (redact.url(url), checksum[0]))
            try:
                fmt = imagefile.check_file(partial, FORMATS.get(
                    os.path.splitext(path)[1].lower()))
            except errors.InputError as exc:
                raise errors.InputError('%s gave no usable image: %s'
                                        % (redact.url(url), exc)) from None
            os.replace(partial, path)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
        manifest.write(path, {
            'name': os.path.splitext(os.path.basename(path))[0][17:],
            'format': fmt, 'size': size, 'sha256': sha256,
            # the password of a URL never lands on disk
            'datastore': catalog.GENERIC, 'source_url': redact.url(url),
            'downloaded_at': datetime.datetime.now(
                datetime.timezone.utc).isoformat(timespec='seconds')})
    return path, False
