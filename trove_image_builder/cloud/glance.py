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

"""The Glance v2 calls load needs: find, create, stream, tag, delete.

Plain REST on openstacksdk's image adapter: every request is visible
here, and the upload body is ours, so the file is read once, hashed on
the way out and never held in memory whole.
"""

import concurrent.futures
import datetime
import hashlib
import socket
import time
import urllib.parse

from trove_image_builder.cloud import calls
from trove_image_builder import errors
from trove_image_builder import imagefile

SHA256_PROPERTY = 'trove_image_builder_sha256'
VERSION_PROPERTY = 'trove_image_builder_version'
# trove_image_builder_verification / _conformance: pass or fail.
CHECK_PROPERTY = 'trove_image_builder_%s'
# Which host made the image (a hash of its machine id, nothing readable):
# a half-done upload is this host's to clean up at once.
UPLOADER_PROPERTY = 'trove_image_builder_uploader'
# Images in these states never became usable: leftovers of an upload
# that died, safe to delete.
UNFINISHED = ('queued', 'saving', 'killed', 'uploading', 'importing')


class Body:
    """A request body that reads a file once, hashing every block.

    requests sends an iterable with a length as a plain (not chunked)
    body with Content-Length, block by block: memory holds two blocks
    whatever the image size. Each hash runs in its own thread while the
    block goes out (hashlib drops the GIL on large buffers).
    """

    def __init__(self, path, size, algorithms, progress=None):
        self.path = path
        self.size = size
        self.hashes = {name: hashlib.new(name) for name in algorithms}
        self.progress = progress
        self.sent = 0

    def __len__(self):
        return self.size

    def __iter__(self):
        hashes = list(self.hashes.values())
        with open(self.path, 'rb') as f, \
                concurrent.futures.ThreadPoolExecutor(len(hashes)) as pool:
            pending = []
            while True:
                block = f.read(imagefile.CHUNK)
                for future in pending:
                    future.result()  # keep each hash's blocks in order
                if not block:
                    break
                pending = [pool.submit(h.update, block) for h in hashes]
                self.sent += len(block)
                if self.progress:
                    self.progress(self.sent, self.size)
                yield block

    def hexdigests(self):
        return {name: h.hexdigest() for name, h in self.hashes.items()}


class Glance:
    """Glance v2 through an openstacksdk image proxy (an Adapter)."""

    def __init__(self, adapter, project_id=None):
        self._api = adapter
        self.project_id = project_id

    def _call(self, method, path, ok=(200,), missing_ok=False, **kwargs):
        return calls.rest(self._api, 'Glance', method, path, ok=ok,
                          missing=(404,) if missing_ok else (),
                          reason=_reason, **kwargs)

    def _list(self, **filters):
        params = dict(filters, limit=100)
        images, path = [], '/images?' + urllib.parse.urlencode(
            params, doseq=True)
        while path:
            body = self._call('GET', path).json()
            images.extend(body.get('images', []))
            nxt = body.get('next')
            # 'next' is /v2/images?marker=...; the adapter adds /v2.
            path = nxt[len('/v2'):] if nxt and nxt.startswith('/v2/') \
                else nxt
        return images

    def by_sha256(self, sha256):
        """This project's images carrying the sha256 property.

        Without a project (an unscoped token) there are none: only an
        image of the target project is ever reused or deleted.
        """
        if not self.project_id:
            return []
        found = self._list(**{SHA256_PROPERTY: sha256,
                              'owner': self.project_id})
        # The filter is Glance's; an image of another owner never counts.
        return [i for i in found if i.get('owner') == self.project_id]

    def newest_with_tags(self, tags):
        """The image Trove picks for these tags, or None."""
        found = self._call('GET', '/images?' + urllib.parse.urlencode(
            {'tag': list(tags), 'status': 'active',
             'sort': 'created_at:desc', 'limit': 1}, doseq=True)).json()
        images = found.get('images', [])
        return images[0] if images else None

    def get(self, image_id):
        resp = self._call('GET', '/images/%s' % image_id, missing_ok=True)
        return resp.json() if resp is not None else None

    def create(self, name, disk_format, container_format, visibility,
               tags, properties):
        body = dict(properties, name=name, disk_format=disk_format,
                    container_format=container_format,
                    visibility=visibility, tags=sorted(tags))
        return self._call('POST', '/images', ok=(201,), json=body).json()

    def upload(self, image_id, body):
        # No retry: the body is a one-pass stream.
        try:
            self._call('PUT', '/images/%s/file' % image_id, ok=(204,),
                       data=body, connect_retries=0,
                       headers={'Content-Type': 'application/octet-stream'})
        except errors.CloudError as exc:
            if calls.http_status(exc) != 413:
                raise
            # Glance's own text (when a proxy did not answer instead)
            # names the limit; say what it means and what to change.
            raise errors.UploadFailed(
                'Glance refused the image as too large (%.1f MiB): it is '
                'over '
                'the project\'s image storage quota (image_size_total), '
                'Glance\'s image_size_cap or a proxy\'s body size limit; '
                'raise that limit (deploy raises the quota unless '
                '--no-glance-limit) [%s]' % (len(body) / 2.0 ** 20, exc)
            ) from None

    def add_tags(self, image_id, tags):
        for tag in tags:
            self._call('PUT', '/images/%s/tags/%s' % (
                image_id, urllib.parse.quote(tag, safe='')), ok=(204,))

    def delete(self, image_id):
        self._call('DELETE', '/images/%s' % image_id, ok=(204, 404))

    def delete_patiently(self, image_id, timeout):
        """Delete, retrying while Glance is unreachable; True if gone."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.delete(image_id)
                return True
            except errors.CloudError:
                if time.monotonic() >= deadline:
                    return False
            time.sleep(1)


def uploader_id():
    """This host, as UPLOADER_PROPERTY names it."""
    for path in ('/etc/machine-id', '/var/lib/dbus/machine-id'):
        try:
            with open(path, 'rb') as f:
                seed = f.read().strip()
        except OSError:
            continue
        if seed:
            break
    else:
        seed = socket.gethostname().encode()
    return hashlib.sha256(b'trove-image-builder:' + seed).hexdigest()[:16]


def age_seconds(image, now=None):
    """Seconds since Glance last changed image; None if unknown."""
    stamp = image.get('updated_at') or image.get('created_at')
    try:
        when = datetime.datetime.fromisoformat(
            str(stamp).replace('Z', '+00:00'))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (now - when).total_seconds()


def _reason(resp):
    """Glance's error text, one line, without its HTML wrapping."""
    try:
        text = resp.text
    except Exception:  # noqa: a body that cannot be decoded is no reason
        return 'no details'
    for marker in ('<br /><br />', '</h1>'):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = text.replace('<br />', ' ').split('</body>')[0]
    return ' '.join(text.split())[:300] or 'no details'
