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

import os

from tests.unit import base
from trove_image_builder.build import inputs
from trove_image_builder.build import sweep
from trove_image_builder import errors
from trove_image_builder import manifest
from trove_image_builder import redact


class TestManifest(base.TestCase):

    def test_round_trip_and_update(self):
        image = os.path.join(self.tmp, 'img.qcow2')
        path = manifest.write(image, {'sha256': 'abc'})
        self.assertEqual(os.path.join(self.tmp, 'img.json'), path)
        manifest.update(image, verified=True)
        data = manifest.read(image)
        self.assertEqual({'sha256': 'abc', 'verified': True,
                          'schema': manifest.SCHEMA}, data)
        self.assertFalse(os.path.exists(path + '.tmp'))

    def test_missing_and_broken(self):
        image = os.path.join(self.tmp, 'img.qcow2')
        self.assertIsNone(manifest.read(image))
        self.assertRaises(errors.InputError, manifest.update, image, x=1)
        base.write(manifest.path_for(image), '{not json')
        self.assertRaises(errors.InputError, manifest.read, image)

    def test_dpkg_manifest_json(self):
        # The shape DIB 3.43's dpkg element writes.
        text = ('{"packages": [\n'
                '{"package": "adduser","arch": "all","version": "3.134",'
                '"status": "ii "    },\n'
                '{"package": "gone","arch": "all","version": "1",'
                '"status": "rc "    },\n'
                '{"package": "docker.io","arch": "amd64","version": '
                '"20.10.24","status": "ii "    }\n]}\n')
        self.assertEqual({'adduser': '3.134', 'docker.io': '20.10.24'},
                         manifest.parse_dpkg_manifest(text))

    def test_dpkg_manifest(self):
        self.assertEqual({'bash': '5.2.15-2+b7', 'docker.io': '20.10'},
                         manifest.parse_dpkg_manifest(
                             'bash 5.2.15-2+b7\ndocker.io 20.10\n\n'))


class TestInputs(base.TestCase):

    def test_tree_hash_content_mode_and_skips(self):
        root = os.path.join(self.tmp, 't')
        base.write(os.path.join(root, 'a', 'x.sh'), 'echo\n')
        h1 = inputs.tree_hash(root)
        base.write(os.path.join(root, '.git', 'HEAD'), 'ref')
        base.write(os.path.join(root, 'a', '__pycache__', 'x.pyc'), 'b')
        self.assertEqual(h1, inputs.tree_hash(root))
        os.chmod(os.path.join(root, 'a', 'x.sh'), 0o755)
        h2 = inputs.tree_hash(root)
        self.assertNotEqual(h1, h2)
        base.write(os.path.join(root, 'a', 'x.sh'), 'echo hi\n')
        self.assertNotEqual(h2, inputs.tree_hash(root))

    def test_inputs_hash_order_independent_env(self):
        a = inputs.inputs_hash(['vm'], {'A': '1', 'B': '2'}, {}, '3.43')
        b = inputs.inputs_hash(['vm'], {'B': '2', 'A': '1'}, {}, '3.43')
        self.assertEqual(a, b)
        self.assertNotEqual(a, inputs.inputs_hash(['vm'], {'A': '1'}, {},
                                                  '3.43'))
        self.assertNotEqual(a, inputs.inputs_hash(
            ['vm'], {'A': '1', 'B': '2'}, {}, '3.44'))


class TestRedact(base.TestCase):

    def test_url(self):
        self.assertEqual('https://u:***@h:8080/p',
                         redact.url('https://u:pw@h:8080/p'))
        self.assertEqual('https://h/p', redact.url('https://h/p'))
        self.assertEqual('plain', redact.url('plain'))


class TestSweep(base.TestCase):

    def test_mounts_under_deepest_first(self):
        info = base.write(os.path.join(self.tmp, 'mountinfo'), (
            '1 0 8:1 / / rw - ext4 /dev/vda rw\n'
            '2 1 0:5 / /w/b rw - tmpfs tmpfs rw\n'
            '3 2 7:1 / /w/b/mnt rw - ext4 /dev/loop1 rw\n'
            '4 3 0:6 / /w/b/mnt/with\\040space rw - proc proc rw\n'
            '5 1 0:7 / /w/bb rw - tmpfs tmpfs rw\n'))
        self.assertEqual(['/w/b/mnt/with space', '/w/b/mnt', '/w/b'],
                         sweep.mounts_under('/w/b', mountinfo=info))
