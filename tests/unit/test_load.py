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

import datetime
import hashlib
import json
import os
import subprocess
from unittest import mock

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
import requests
from requests_mock.contrib import fixture as rm_fixture

from tests.unit import base
from trove_image_builder.cloud import glance as glance_mod
from trove_image_builder import errors
from trove_image_builder import load
from trove_image_builder import manifest
from trove_image_builder import register
from trove_image_builder.register import params
from trove_image_builder import rules as rules_mod

GLANCE = 'http://glance.test/v2'


def make_qcow2(directory, name='img', data_mib=3):
    """A real qcow2 with data_mib MiB of random content."""
    raw = os.path.join(directory, name + '.raw')
    with open(raw, 'wb') as f:
        f.write(os.urandom(data_mib * 2 ** 20))
    path = os.path.join(directory, name + '.qcow2')
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2',
                    raw, path], check=True)
    os.unlink(raw)
    return path


def write_manifest(path, **overrides):
    data = {
        'name': 'trove-debian-bookworm-mariadb-10.11', 'format': 'qcow2',
        'datastore': 'mariadb', 'datastore_version': '10.11',
        'version_number': '10.11.10', 'manager': 'mariadb',
        'container_image': 'mariadb:10.11',
        'validation_rules': 'trove:templates/mariadb/validation-rules.json',
        'os': 'debian', 'release': 'bookworm',
        'sha256': manifest.sha256_file(path),
        'size': os.path.getsize(path), 'builder_version': '1.2.3'}
    data.update(overrides)
    manifest.write(path, data)
    return data


class FakeGlanceServer:
    """Enough of Glance v2 over requests-mock to load images into."""

    def __init__(self, mocker):
        self.m = mocker
        self.images = {}
        self.created = 0
        self.uploads = 0
        self.deleted = []
        self.put_error = None
        # (status, body) the upload is answered with instead of 204.
        self.put_answer = None
        self.delete_errors = []
        self.hash_override = None
        m = mocker
        m.get(GLANCE + '/images', json=self._list)
        m.post(GLANCE + '/images', status_code=201, json=self._create)
        m.register_uri('PUT', rm_any(GLANCE + '/images/[^/]+/file'),
                       text=self._upload)
        m.register_uri('PUT', rm_any(GLANCE + '/images/[^/]+/tags/.+'),
                       text=self._tag)
        m.register_uri('GET', rm_any(GLANCE + '/images/[^/?]+$'),
                       text=self._show)
        m.register_uri('DELETE', rm_any(GLANCE + '/images/[^/]+$'),
                       text=self._delete)

    def _list(self, request, context):
        qs = request.qs
        found = []
        for image in self.images.values():
            sha = qs.get(glance_mod.SHA256_PROPERTY)
            if sha and image.get(glance_mod.SHA256_PROPERTY) != sha[0]:
                continue
            if 'tag' in qs and not set(qs['tag']) <= set(image['tags']):
                continue
            if 'status' in qs and image['status'] != qs['status'][0]:
                continue
            found.append(image)
        found.sort(key=lambda i: i['created_at'], reverse=True)
        return {'images': found}

    def _create(self, request, context):
        body = request.json()
        self.created += 1
        image = dict(body, id='img-%d' % self.created, status='queued',
                     owner='proj', created_at='2026-01-%02d' % self.created)
        self.images[image['id']] = image
        return image

    def _upload(self, request, context):
        image_id = request.path.split('/')[-2]
        if self.put_error:
            self.images[image_id]['status'] = 'saving'
            raise self.put_error
        if self.put_answer:
            context.status_code, text = self.put_answer
            return text
        data = b''.join(request.body)
        self.uploads += 1
        image = self.images[image_id]
        image.update(status='active', size=len(data),
                     os_hash_algo='sha512',
                     os_hash_value=self.hash_override or
                     hashlib.sha512(data).hexdigest())
        context.status_code = 204
        return ''

    def _tag(self, request, context):
        parts = request.path.split('/')
        self.images[parts[-3]]['tags'].append(parts[-1])
        context.status_code = 204
        return ''

    def _show(self, request, context):
        image = self.images.get(request.path.split('/')[-1])
        if image is None:
            context.status_code = 404
            return '<html><body><h1>404 Not Found</h1>No image</body></html>'
        return json.dumps(image)

    def _delete(self, request, context):
        if self.delete_errors:
            raise self.delete_errors.pop(0)
        image_id = request.path.split('/')[-1]
        self.deleted.append(image_id)
        self.images.pop(image_id, None)
        context.status_code = 204
        return ''


def rm_any(pattern):
    import re
    return re.compile(pattern)


class FakeConn:
    """What load uses of an openstacksdk Connection."""

    def __init__(self):
        self.session = ks_session.Session(auth=token_endpoint.Token(
            GLANCE[:-len('/v2')], 'token'))
        self.config = mock.Mock(region_name=None)
        self.config.get_interface.return_value = 'public'
        self.current_project_id = 'proj'


class LoadTestBase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.mocker = self.useFixture(rm_fixture.Fixture())
        self.server = FakeGlanceServer(self.mocker)
        self.image = make_qcow2(self.tmp)
        self.useFixture(_no_sleep())
        self.registrar = mock.Mock(spec=register.Registrar)
        self.registrar.register.return_value = register.Outcome(
            'created', register.Registered(
                'v-1', 'mariadb', '10.11', '10.11.10', 'mariadb', '',
                ('mariadb', 'mariadb-10.11', 'trove'), True))
        self.registrar.load_rules.return_value = params.Change(
            total=40, create=tuple('p%d' % i for i in range(40)))
        self.lines = []

    def req(self, **kw):
        values = dict(cleanup_timeout=5)
        values.update(kw)
        return load.Request(self.image, **values)

    def run_load(self, **kw):
        return load.run(self.req(**kw), FakeConn, say=self.lines.append,
                        builder_version='9.9',
                        make_registrar=lambda *a: self.registrar)


def _no_sleep():
    import fixtures
    return fixtures.MonkeyPatch('time.sleep', lambda s: None)


class TestDescribe(base.TestCase):

    def setUp(self):
        super().setUp()
        self.image = make_qcow2(self.tmp, data_mib=1)

    def test_manifest_facts_tags_and_properties(self):
        write_manifest(self.image)
        img = load.describe(load.Request(self.image))
        self.assertEqual('trove-debian-bookworm-mariadb-10.11', img.name)
        self.assertEqual('qcow2', img.disk_format)
        self.assertEqual(('trove', 'mariadb', 'mariadb-10.11'), img.tags)
        self.assertEqual(('mariadb', '10.11', '10.11.10', 'mariadb'),
                         (img.datastore, img.datastore_version,
                          img.version_number, img.manager))
        self.assertEqual({'hw_rng_model': 'virtio', 'os_distro': 'debian',
                          'os_version': 'bookworm',
                          'trove_datastore': 'mariadb',
                          'trove_datastore_version': '10.11',
                          glance_mod.VERSION_PROPERTY: '1.2.3'},
                         img.properties)
        self.assertEqual(manifest.sha256_file(self.image), img.sha256)

    def test_recorded_checks_become_properties(self):
        write_manifest(self.image, verification={'result': 'pass'},
                       conformance={'result': 'fail',
                                    'image_sha256': 'other-file'})
        img = load.describe(load.Request(self.image))
        self.assertEqual('pass',
                         img.properties['trove_image_builder_verification'])
        # The conformance record names another file: not carried over.
        self.assertNotIn('trove_image_builder_conformance', img.properties)

    def test_flags_override_and_drop_manifest_version_facts(self):
        write_manifest(self.image)
        img = load.describe(load.Request(
            self.image, datastore='mysql', datastore_version='8.0',
            name='custom'))
        self.assertEqual('custom', img.name)
        self.assertEqual(('mysql', '8.0', '8.0', 'mysql', None),
                         (img.datastore, img.datastore_version,
                          img.version_number, img.manager,
                          img.validation_rules))

    def test_generic_registers_only_with_flags(self):
        write_manifest(self.image, datastore='generic',
                       datastore_version=None, version_number=None,
                       manager=None, validation_rules=None)
        img = load.describe(load.Request(self.image))
        self.assertIsNone(img.datastore)
        self.assertEqual(('trove',), img.tags)
        img = load.describe(load.Request(
            self.image, datastore='mariadb', datastore_version='11.4',
            version_number='11.4.4'))
        self.assertEqual(('trove', 'mariadb', 'mariadb-11.4'), img.tags)
        self.assertEqual('11.4.4', img.version_number)

    def _keep(self, **managers):
        sources = {m: (base.write(os.path.join(self.tmp, m + '.src'), text),
                       rules_mod.FROM_IMAGE)
                   for m, text in managers.items()}
        return rules_mod.keep(self.image, sources, '26.0.0')

    def test_kept_rules_win_over_the_trove_spec(self):
        record = self._keep(mariadb='{"configuration-parameters": []}')
        write_manifest(self.image, **{rules_mod.MANIFEST_KEY: record})
        kept = rules_mod.kept_path(self.image, 'mariadb')
        self.assertEqual(kept, load.describe(
            load.Request(self.image)).validation_rules)
        # deploy passes the catalogue's spec: the image's copy still wins
        self.assertEqual(kept, load.describe(load.Request(
            self.image, validation_rules='trove:templates/x.json'))
            .validation_rules)
        self.assertEqual('/my/rules.json', load.describe(load.Request(
            self.image, validation_rules='/my/rules.json')).validation_rules)
        with open(kept, 'a') as f:
            f.write(' ')
        self.assertRaisesRegex(errors.InputError, 'changed since the build',
                               load.describe, load.Request(self.image))
        os.unlink(kept)
        self.assertRaisesRegex(errors.InputError, 'are missing',
                               load.describe, load.Request(self.image))

    def test_generic_image_kept_rules_follow_the_manager(self):
        record = self._keep(mariadb='{"configuration-parameters": []}',
                            postgresql='{"configuration-parameters": []}')
        write_manifest(self.image, datastore='generic',
                       datastore_version=None, version_number=None,
                       manager=None, validation_rules=None,
                       **{rules_mod.MANIFEST_KEY: record})
        img = load.describe(load.Request(
            self.image, datastore='postgresql', datastore_version='15'))
        self.assertEqual(rules_mod.kept_path(self.image, 'postgresql'),
                         img.validation_rules)
        img = load.describe(load.Request(
            self.image, datastore='mysql', datastore_version='8.0'))
        self.assertIsNone(img.validation_rules)

    def test_file_problems(self):
        self.assertRaisesRegex(errors.InputError, 'image not found',
                               load.describe,
                               load.Request(self.image + '.nope'))
        self.assertRaisesRegex(errors.InputError, 'not a regular file',
                               load.describe, load.Request(self.tmp))
        write_manifest(self.image, format='raw')
        self.assertRaisesRegex(errors.InputError,
                               'format mismatch: .* is qcow2, .* says raw',
                               load.describe, load.Request(self.image))
        write_manifest(self.image, size=1)
        self.assertRaisesRegex(errors.InputError, 'truncated',
                               load.describe, load.Request(self.image))

    def test_corrupt_qcow2_header(self):
        write_manifest(self.image)
        with open(self.image, 'r+b') as f:
            f.seek(0)
            f.write(b'\0' * 512)
        # No longer qcow2 at all: qemu-img calls it raw.
        self.assertRaisesRegex(errors.InputError, 'format mismatch',
                               load.describe, load.Request(self.image))

    def test_corrupt_qcow2_tables(self):
        write_manifest(self.image)
        with open(self.image, 'r+b') as f:
            f.seek(48)  # refcount table offset -> far beyond the file
            f.write((2 ** 40).to_bytes(8, 'big'))
        self.assertRaises(errors.InputError, load.describe,
                          load.Request(self.image))

    def test_no_manifest(self):
        self.assertRaisesRegex(errors.InputError, 'no manifest beside',
                               load.describe, load.Request(self.image))
        img = load.describe(load.Request(self.image, register=False))
        self.assertIsNone(img.sha256)
        self.assertEqual('img', img.name)
        img = load.describe(load.Request(
            self.image, datastore='mariadb', datastore_version='10.6',
            disk_format='qcow2'))
        self.assertEqual('mariadb', img.manager)
        self.assertRaisesRegex(errors.InputError, 'both a datastore',
                               load.describe,
                               load.Request(self.image, datastore='x'))


class TestUpload(LoadTestBase):

    def test_fresh_upload_tags_properties_and_register(self):
        data = write_manifest(self.image)
        with mock.patch.object(manifest, 'sha256_file',
                               side_effect=AssertionError('read twice')):
            result = self.run_load(visibility='public')
        self.assertTrue(result.uploaded)
        self.assertEqual(1, self.server.uploads)
        stored = self.server.images['img-1']
        self.assertEqual('active', stored['status'])
        self.assertEqual(os.path.getsize(self.image), stored['size'])
        self.assertEqual(['mariadb', 'mariadb-10.11', 'trove'],
                         sorted(stored['tags']))
        self.assertEqual('public', stored['visibility'])
        self.assertEqual(('qcow2', 'bare'), (stored['disk_format'],
                                             stored['container_format']))
        self.assertEqual(data['sha256'],
                         stored[glance_mod.SHA256_PROPERTY])
        self.assertEqual('virtio', stored['hw_rng_model'])
        want = self.registrar.register.call_args[0][0]
        self.assertEqual(register.Wanted(
            'mariadb', '10.11', '10.11.10', 'mariadb', '',
            ('trove', 'mariadb', 'mariadb-10.11')), want)
        self.registrar.load_rules.assert_called_once_with(
            self.registrar.register.return_value.version,
            'trove:templates/mariadb/validation-rules.json')
        self.assertEqual('created 40, modified 0, deleted 0, unchanged 0, '
                         'skipped 0 of 40', result.parameters)

    def test_register_by_id(self):
        write_manifest(self.image)
        self.run_load(register_by='id')
        want = self.registrar.register.call_args[0][0]
        self.assertEqual(('img-1', ()), (want.image_id, want.image_tags))

    def test_second_load_reuses_and_adds_missing_tags(self):
        write_manifest(self.image, datastore='generic',
                       datastore_version=None, validation_rules=None)
        first = self.run_load()
        self.assertEqual(['trove'], self.server.images['img-1']['tags'])
        self.assertFalse(self.registrar.register.called)
        self.assertIn('generic image: not registered', first.notes[0])
        second = self.run_load(datastore='mariadb', datastore_version='10.11')
        self.assertFalse(second.uploaded)
        self.assertEqual(1, self.server.uploads)
        self.assertEqual({'trove', 'mariadb', 'mariadb-10.11'},
                         set(self.server.images['img-1']['tags']))
        self.assertIn('not uploaded again', self.lines[-1])
        self.assertTrue(self.registrar.register.called)

    def test_no_manifest_hashes_first_then_reuses(self):
        self.run_load(register=False)
        self.run_load(register=False)
        self.assertEqual(1, self.server.uploads)
        self.assertIn('hashing', self.lines[0])

    def leftover(self, image_id, sha256, status='saving', **props):
        self.server.images[image_id] = dict({
            'id': image_id, 'status': status, 'tags': [], 'owner': 'proj',
            'created_at': '2026-01-01T00:00:00Z',
            glance_mod.SHA256_PROPERTY: sha256}, **props)

    def test_leftovers_deleted_only_when_ours_and_stale(self):
        data = write_manifest(self.image)
        ours = {glance_mod.VERSION_PROPERTY: '9.9'}
        now = datetime.datetime.now(datetime.timezone.utc)
        fresh = (now - datetime.timedelta(minutes=5)).isoformat()
        # This host's: no load of the file runs here (we hold the lock).
        self.leftover('here', data['sha256'], **dict(
            ours, updated_at=fresh, **{
                glance_mod.UPLOADER_PROPERTY: glance_mod.uploader_id()}))
        # Another host's: stale only when Glance has not touched it for
        # [cloud] leftover_age.
        elsewhere = dict(ours, **{glance_mod.UPLOADER_PROPERTY: 'other'})
        self.leftover('old', data['sha256'], **elsewhere)
        self.leftover('busy', data['sha256'], updated_at=fresh,
                      **elsewhere)
        # Made by hand, or another project's: never deleted.
        self.leftover('by-hand', data['sha256'])
        self.leftover('foreign', data['sha256'], owner='other-project',
                      **ours)
        result = self.run_load()
        self.assertEqual(['here', 'old'], sorted(self.server.deleted))
        self.assertTrue(result.uploaded)
        self.assertIn('deleted image here (saving), left by an interrupted '
                      'load', self.lines)
        self.assertIn('image busy (saving) is not ours to delete, or '
                      'another host may still be uploading it: left alone',
                      self.lines)
        self.assertFalse([line for line in self.lines if 'foreign' in line])

    def test_reuse_needs_same_size_and_glance_hash(self):
        data = write_manifest(self.image)
        size = os.path.getsize(self.image)
        with open(self.image, 'rb') as f:
            sha512 = hashlib.sha512(f.read()).hexdigest()
        active = {'status': 'active', 'os_hash_algo': 'sha512'}
        # Anyone in the project can set the sha256 property.
        self.leftover('tiny', data['sha256'], size=5,
                      os_hash_value=sha512, **active)
        self.leftover('forged', data['sha256'], size=size,
                      os_hash_value='0' * 128, **active)
        self.leftover('nohash', data['sha256'], size=size)
        self.server.images['nohash']['status'] = 'active'
        self.leftover('foreign', data['sha256'], size=size,
                      os_hash_value=sha512, owner='other-project', **active)
        result = self.run_load()
        self.assertTrue(result.uploaded)
        self.assertEqual('img-1', result.glance_image['id'])
        self.assertEqual(
            ['image forged carries the sha256 of %s but its sha512 differs '
             'from the file\'s: not reused' % self.image,
             'image nohash carries the sha256 of %s but Glance recorded no '
             'hash of it: not reused' % self.image,
             'image tiny carries the sha256 of %s but its size is 5, the '
             'file has %d: not reused' % (self.image, size)],
            sorted(line for line in self.lines if 'not reused' in line))
        self.assertEqual([], self.server.deleted)
        # The real one is: same size, same sha512, this project's.
        again = self.run_load()
        self.assertFalse(again.uploaded)
        self.assertEqual('img-1', again.glance_image['id'])
        self.assertIn('image img-1 is already in Glance (same size and '
                      'sha512): not uploaded again', self.lines)

    def test_loading_one_file_again_hashes_it_no_more(self):
        # deploy keeps hashes for the versions that share a file: the
        # upload's sha512 serves the next load's reuse check.
        data = write_manifest(self.image)
        hashes = {}
        first = load.run(self.req(), FakeConn, say=self.lines.append,
                         make_registrar=lambda *a: self.registrar,
                         hashes=hashes)
        self.assertTrue(first.uploaded)
        with open(self.image, 'rb') as f:
            sha512 = hashlib.sha512(f.read()).hexdigest()
        self.assertEqual(sha512, hashes[data['sha256']]['sha512'])
        with mock.patch.object(load.manifest, 'hash_file') as hash_file:
            again = load.run(self.req(), FakeConn, say=self.lines.append,
                             make_registrar=lambda *a: self.registrar,
                             hashes=hashes)
        self.assertFalse(again.uploaded)
        hash_file.assert_not_called()
        # Without them, the reuse check hashes the file itself.
        with mock.patch.object(load.manifest, 'hash_file',
                               return_value=sha512) as hash_file:
            self.assertFalse(self.run_load().uploaded)
        hash_file.assert_called_once_with(self.image, 'sha512')

    def test_corrupt_file_deletes_image(self):
        write_manifest(self.image, sha256='0' * 64)
        exc = self.assertRaises(errors.InputError, self.run_load)
        self.assertIn('corrupt image', str(exc))
        self.assertIn('nothing left in Glance', str(exc))
        self.assertEqual({}, self.server.images)
        self.assertFalse(self.registrar.register.called)

    def test_glance_hash_mismatch(self):
        write_manifest(self.image)
        self.server.hash_override = 'f' * 128
        exc = self.assertRaises(errors.UploadFailed, self.run_load)
        self.assertIn('sha512 differs', str(exc))
        self.assertEqual({}, self.server.images)

    def test_glance_answers_413(self):
        # Glance's answer when the project's storage quota is too small
        # (webob's HTML page); the image record stays "queued".
        write_manifest(self.image)
        self.server.put_answer = (413, (
            '<html>\n <head>\n  <title>413 Request Entity Too Large</title>'
            '\n </head>\n <body>\n  <h1>413 Request Entity Too Large</h1>'
            '\n  The body of your request was too large for this server.'
            '<br /><br />\nImage exceeds the storage quota: The size of the '
            'data 1 will exceed the limit. 0 bytes remaining.\n\n\n'
            ' </body>\n</html>'))
        exc = self.assertRaises(errors.UploadFailed, self.run_load)
        size = os.path.getsize(self.image) / 2.0 ** 20
        self.assertEqual(
            'Glance refused the image as too large (%.1f MiB): it is over '
            'the project\'s image storage quota (image_size_total), '
            'Glance\'s image_size_cap or a proxy\'s body size limit; raise '
            'that limit (deploy raises the quota unless --no-glance-limit) '
            '[Glance answered HTTP 413 to PUT /images/img-1/file: Image '
            'exceeds the storage quota: The size of the data 1 will exceed '
            'the limit. 0 bytes remaining.]; nothing left in Glance' % size,
            str(exc))
        self.assertEqual(7, exc.exit_code)
        # The half-made image record was deleted; nothing was registered.
        self.assertEqual(['img-1'], self.server.deleted)
        self.assertEqual({}, self.server.images)
        self.assertFalse(self.registrar.register.called)

    def test_glance_dies_mid_upload_then_returns(self):
        write_manifest(self.image)
        self.server.put_error = requests.exceptions.ConnectionError(
            "('Connection aborted.', BrokenPipeError(32, 'Broken pipe'))")
        self.server.delete_errors = [
            requests.exceptions.ConnectionError('[Errno 111] Connection '
                                                'refused')] * 3
        exc = self.assertRaises(errors.UploadFailed, self.run_load)
        self.assertEqual(1, len(str(exc).splitlines()))
        self.assertIn('nothing left in Glance', str(exc))
        self.assertEqual({}, self.server.images)
        self.assertFalse(self.registrar.register.called)

    def test_glance_stays_down_after_failure(self):
        write_manifest(self.image)
        self.server.put_error = requests.exceptions.ConnectionError('reset')
        self.server.delete_errors = [
            requests.exceptions.ConnectionError('refused')] * 1000
        clock = iter(range(0, 10000, 2))
        with mock.patch('time.monotonic', lambda: next(clock)):
            exc = self.assertRaises(errors.UploadFailed, self.run_load)
        self.assertIn('img-1 could not be deleted yet', str(exc))
        # The next load (Glance back) clears the leftover and uploads.
        self.server.put_error = None
        self.server.delete_errors = []
        result = self.run_load()
        self.assertEqual(['img-1'], self.server.deleted)
        self.assertEqual('img-2', result.glance_image['id'])

    def test_glance_down_before_upload(self):
        write_manifest(self.image)
        self.mocker.get(GLANCE + '/images',
                        exc=requests.exceptions.ConnectionError(
                            'HTTPConnectionPool(host=\'glance.test\'): '
                            '[Errno 111] Connection refused'))
        exc = self.assertRaises(errors.CloudError, self.run_load)
        self.assertEqual('cannot reach Glance at http://glance.test: '
                         'connection refused', str(exc))
        self.assertEqual({}, self.server.images)

    def test_trove_failure_keeps_image_and_rerun_only_registers(self):
        write_manifest(self.image)
        self.registrar.register.side_effect = errors.CloudError(
            'cannot reach Trove at http://trove.test: connection refused')
        exc = self.assertRaises(errors.RegisterFailed, self.run_load)
        self.assertIn('image img-1 is in Glance and stays there', str(exc))
        self.assertIn('cannot reach Trove', str(exc))
        self.assertEqual('active', self.server.images['img-1']['status'])
        self.registrar.register.side_effect = None
        result = self.run_load()
        self.assertFalse(result.uploaded)
        self.assertEqual(1, self.server.uploads)
        self.assertEqual('created', result.registration.action)

    def test_long_tag_refused_before_upload(self):
        write_manifest(self.image, datastore='postgresql',
                       datastore_version='16-very-long-name')
        self.assertRaisesRegex(errors.InputError, 'longer than',
                               self.run_load)
        self.assertEqual(0, len(self.mocker.request_history))

    def test_newer_image_with_same_tags_refuses(self):
        write_manifest(self.image)
        self.server.images['newer'] = {
            'id': 'newer', 'name': 'other', 'status': 'active',
            'tags': ['trove', 'mariadb', 'mariadb-10.11'],
            'created_at': '2027-01-01'}
        exc = self.assertRaises(errors.Refused, self.run_load)
        self.assertEqual(9, exc.exit_code)
        self.assertEqual(
            'image img-1 is in Glance, but the tags trove,mariadb,'
            'mariadb-10.11 pick the newer image newer (other): Trove would '
            'boot that one; nothing was registered. Give --register-by id '
            'to register this image, or delete or untag image newer',
            str(exc))
        self.assertFalse(self.registrar.register.called)
        # The way out works.
        result = self.run_load(register_by='id')
        self.assertEqual('img-1', self.registrar.register.call_args[0][0]
                         .image_id)
        self.assertEqual([], list(result.notes))
