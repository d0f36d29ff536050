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

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

from tests import archives
from tests.unit import base
from tests.unit.build import test_build
from trove_image_builder import build
from trove_image_builder.build import containers
from trove_image_builder import errors

LIB = os.path.join(base.ELEMENTS, containers._LIB)
FILES = {'bin/hello': (b'#!/bin/sh\necho hello\n', 0o755)}


def run_lib(*args):
    return subprocess.run([sys.executable, LIB] + list(args),
                          capture_output=True)


class TestArchives(base.TestCase):

    def setUp(self):
        super().setUp()
        self.lib = containers.load_library(base.ELEMENTS)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_docker_archive(self):
        image_id = archives.docker_archive(self.path('a.tar'), FILES,
                                           ['docker.io/library/hello:1'])
        archive = containers.inspect(self.path('a.tar'), self.lib)
        self.assertEqual('docker-archive', archive.kind)
        self.assertEqual(((image_id, ('hello:1',)),), archive.images)
        self.assertEqual({'archive': 'a.tar', 'sha256': archive.sha256,
                          'kind': 'docker-archive',
                          'images': [{'id': image_id,
                                      'tags': ['hello:1']}]},
                         archive.record())

    def test_compressed_docker_archive(self):
        archives.docker_archive(self.path('a.tar'), FILES, ['hello:1'])
        with open(self.path('a.tar'), 'rb') as src, \
                gzip.open(self.path('a.tar.gz'), 'wb') as dst:
            shutil.copyfileobj(src, dst)
        archive = containers.inspect(self.path('a.tar.gz'), self.lib)
        self.assertEqual('docker-archive', archive.kind)

    def test_oci_archive_names(self):
        for ref, tags in (('localhost/tib/hello:2',
                           ('localhost/tib/hello:2',)),
                          ('docker.io/library/hello', ('hello:latest',)),
                          ('2.0', ())):
            image_id = archives.oci_archive(self.path('o.tar'), FILES, ref)
            archive = containers.inspect(self.path('o.tar'), self.lib)
            self.assertEqual(('oci-archive', ((image_id, tags),)),
                             (archive.kind, archive.images), ref)

    def test_oci_archive_becomes_loadable(self):
        image_id = archives.oci_archive(self.path('o.tar'), FILES,
                                        'tib/hello:2')
        out = run_lib('docker-archive', self.path('o.tar'))
        self.assertEqual(0, out.returncode, out.stderr)
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
            manifest = json.load(tar.extractfile('manifest.json'))
            names = tar.getnames()
        self.assertEqual(['tib/hello:2'], manifest[0]['RepoTags'])
        self.assertEqual('blobs/sha256/' + image_id.split(':')[1],
                         manifest[0]['Config'])
        for member in [manifest[0]['Config']] + manifest[0]['Layers']:
            self.assertIn(member, names)
        self.assertIn('oci-layout', names)

    def test_docker_archive_copied_unchanged(self):
        archives.docker_archive(self.path('a.tar'), FILES, ['hello:1'])
        out = run_lib('docker-archive', self.path('a.tar'))
        with open(self.path('a.tar'), 'rb') as f:
            self.assertEqual(f.read(), out.stdout)

    def test_bad_archives_fail_with_one_line(self):
        base.write(self.path('text.tar'), 'hello')
        with tarfile.open(self.path('empty.tar'), 'w') as tar:
            info = tarfile.TarInfo('etc/hostname')
            tar.addfile(info, io.BytesIO(b''))
        archives.docker_archive(self.path('broken.tar'), FILES, ['h:1'])
        with tarfile.open(self.path('broken.tar')) as src, \
                tarfile.open(self.path('nolayer.tar'), 'w') as dst:
            for m in src.getmembers():
                if not m.name.endswith('layer.tar'):
                    dst.addfile(m, src.extractfile(m))
        cases = {'missing.tar': 'not found',
                 'text.tar': 'not a tar archive',
                 'empty.tar': 'neither a docker-archive',
                 'nolayer.tar': 'missing layer'}
        for name, expected in cases.items():
            exc = self.assertRaises(errors.InputError, containers.inspect,
                                    self.path(name), self.lib)
            self.assertIn(expected, str(exc))
            self.assertEqual(1, len(str(exc).splitlines()), str(exc))
        out = run_lib('inspect', self.path('text.tar'))
        self.assertEqual(1, out.returncode)
        self.assertEqual(1, len(out.stderr.splitlines()))

    def test_linked_layers_inspect_and_load(self):
        ids = archives.docker_archive_shared_layer(
            self.path('a.tar'), FILES, ['hello:1', 'hello:2', 'hello:3'])
        archive = containers.inspect(self.path('a.tar'), self.lib)
        self.assertEqual(((ids[0], ('hello:1',)), (ids[1], ('hello:2',)),
                          (ids[2], ('hello:3',))), archive.images)
        out = run_lib('docker-archive', self.path('a.tar'))
        self.assertEqual(0, out.returncode, out.stderr)
        with open(self.path('a.tar'), 'rb') as f:
            self.assertEqual(f.read(), out.stdout)

    def test_hard_linked_layer(self):
        # A hard link names its target from the archive's top.
        archives.docker_archive(self.path('one.tar'), FILES, ['h:1'])
        with tarfile.open(self.path('one.tar')) as src:
            manifest = json.load(src.extractfile('manifest.json'))
            layer = manifest[0]['Layers'][0]
            with tarfile.open(self.path('a.tar'), 'w') as dst:
                for m in src.getmembers():
                    if m.name == 'manifest.json':
                        continue
                    dst.addfile(m, src.extractfile(m))
                info = tarfile.TarInfo('again/layer.tar')
                info.type, info.linkname = tarfile.LNKTYPE, layer
                dst.addfile(info)
                manifest[0]['Layers'] = ['again/layer.tar']
                blob = json.dumps(manifest).encode()
                info = tarfile.TarInfo('manifest.json')
                info.size = len(blob)
                dst.addfile(info, io.BytesIO(blob))
        archive = containers.inspect(self.path('a.tar'), self.lib)
        self.assertEqual(('h:1',), archive.images[0][1])

    def test_links_out_of_the_archive_or_in_a_loop_refused(self):
        layer_dir = hashlib.sha256(
            b'1' + archives.layer_tar(FILES)).hexdigest()
        cases = {
            'out.tar': ({1: '../../../etc/passwd'},
                        'links outside the archive (../../../etc/passwd)'),
            'abs.tar': ({1: '/etc/passwd'},
                        'links outside the archive (/etc/passwd)'),
            'loop.tar': ({1: 'layer.tar'}, 'is a link loop'),
            'loop2.tar': ({1: '../x/layer.tar', 2: '../%s/layer.tar'
                           % layer_dir}, 'is a link loop'),
            'dangling.tar': ({1: '../nothing/layer.tar'}, 'missing layer'),
        }
        for name, (links, expected) in cases.items():
            archives.docker_archive_shared_layer(
                self.path(name), FILES, ['h:1', 'h:2', 'h:3'], links)
            if name == 'loop2.tar':
                # x/layer.tar -> the second image's link, closing a loop.
                with tarfile.open(self.path(name), 'a') as tar:
                    info = tarfile.TarInfo('x/layer.tar')
                    info.type = tarfile.SYMTYPE
                    info.linkname = '../%s/layer.tar' % layer_dir
                    tar.addfile(info)
            exc = self.assertRaises(errors.InputError, containers.inspect,
                                    self.path(name), self.lib)
            self.assertIn(expected, str(exc))
            self.assertEqual(2, exc.exit_code)
            self.assertEqual(1, len(str(exc).splitlines()), str(exc))
            out = run_lib('docker-archive', self.path(name))
            self.assertEqual(1, out.returncode, name)
            self.assertEqual(b'', out.stdout, name)
            self.assertIn(expected, out.stderr.decode())

    def test_colon_in_path_refused(self):
        exc = self.assertRaises(errors.InputError, containers.inspect,
                                self.path('a:b.tar'), self.lib)
        self.assertIn('may not contain ":"', str(exc))

    def test_archive_dir_lookup(self):
        self.assertEqual('mariadb_10.11.11',
                         containers.archive_file_name('mariadb:10.11.11'))
        self.assertEqual('quay.io_db_pg_16',
                         containers.archive_file_name('quay.io/db/pg:16'))
        d = os.path.join(self.tmp, 'dir')
        os.makedirs(d)
        self.assertIsNone(containers.find_in_dir(d, 'mariadb:10.11.11'))
        archives.docker_archive(os.path.join(d, 'mariadb_10.11.11.tgz'),
                                FILES, ['mariadb:10.11.11'])
        self.assertEqual(os.path.join(d, 'mariadb_10.11.11.tgz'),
                         containers.find_in_dir(d, 'mariadb:10.11.11'))


class TestPlanWithArchives(test_build.PlanTestBase):

    def setUp(self):
        super().setUp()
        # The fake elements tree gets the real archive library.
        shutil.copytree(os.path.join(base.ELEMENTS, containers.ELEMENT),
                        os.path.join(self.elements, containers.ELEMENT))
        self.archive = os.path.join(self.tmp, 'hello.tar')
        self.image_id = archives.docker_archive(self.archive, FILES,
                                                ['tib/hello:1'])

    def test_no_archives(self):
        plan = self.plan()
        # The base always has the loader; the layer adds archives to it.
        self.assertEqual(containers.ELEMENT, plan.command.argv[-1])
        self.assertNotIn('DIB_TROVE_CONTAINER_ARCHIVES', plan.command.env)
        self.assertEqual((), plan.archives)
        self.assertEqual([], plan.facts['container_images'])

    def test_explicit_archive(self):
        plan = self.plan(container_archives=(self.archive,))
        self.assertEqual([self.archive], [a.path for a in plan.archives])
        # One base with or without archives.
        self.assertEqual(self.plan().base.inputs_hash,
                         plan.base.inputs_hash)
        self.assertNotIn('DIB_TROVE_CONTAINER_ARCHIVES', plan.command.env)
        record = plan.facts['container_images']
        self.assertEqual([{'id': self.image_id, 'tags': ['tib/hello:1']}],
                         record[0]['images'])

    def test_archive_content_is_in_the_inputs_hash(self):
        first = self.plan(container_archives=(self.archive,)).inputs_hash
        moved = os.path.join(self.tmp, 'moved.tar')
        shutil.copy(self.archive, moved)
        # Same content elsewhere: same hash.
        self.assertEqual(first, self.plan(
            container_archives=(moved,)).inputs_hash)
        archives.docker_archive(moved, FILES, ['tib/hello:2'])
        self.assertNotEqual(first, self.plan(
            container_archives=(moved,)).inputs_hash)
        self.assertNotEqual(first, self.plan().inputs_hash)

    def test_missing_archive_fails_before_anything_runs(self):
        exc = self.assertRaises(
            errors.InputError, self.plan,
            container_archives=(os.path.join(self.tmp, 'nope.tar'),))
        self.assertIn('container image archive not found', str(exc))

    def test_archive_dir_supplies_the_datastore_image(self):
        d = os.path.join(self.tmp, 'dir')
        os.makedirs(d)
        found = os.path.join(d, 'mariadb_10.11.tar')
        image_id = archives.docker_archive(found, FILES, ['mariadb:10.11'])
        plan = self.plan(container_archive_dir=d,
                         container_archives=(self.archive, found))
        # Named twice (flag and directory): embedded once.
        self.assertEqual([self.archive, found],
                         [a.path for a in plan.archives])
        self.assertEqual(image_id, plan.facts['container_images'][1][
            'images'][0]['id'])
        # The other version has no archive there: nothing embedded.
        plan = self.plan(container_archive_dir=d, version='11.4')
        self.assertEqual([], plan.facts['container_images'])

    def test_archive_dir_archive_must_hold_the_image(self):
        d = os.path.join(self.tmp, 'dir')
        os.makedirs(d)
        archives.docker_archive(os.path.join(d, 'mariadb_10.11.tar'),
                                FILES, ['mariadb:10.6'])
        exc = self.assertRaises(errors.InputError, self.plan,
                                container_archive_dir=d)
        self.assertIn('does not contain mariadb:10.11', str(exc))

    def test_request_from_conf_and_flag(self):
        conf = self.make_conf(container_images={'archive_dir': '/srv/a'})
        req = build.Request.from_conf(conf, datastore='mariadb',
                                      container_archives=('/x.tar',))
        self.assertEqual(('/srv/a', ('/x.tar',)),
                         (req.container_archive_dir, req.container_archives))
