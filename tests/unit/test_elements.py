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

"""Checks on the real elements shipped in elements/."""

import collections
import os
import re

from tests.unit import base
from trove_image_builder import catalog

PHASES = ('root.d', 'extra-data.d', 'pre-install.d', 'install.d',
          'post-install.d', 'post-root.d', 'block-device.d',
          'pre-finalise.d', 'finalise.d', 'cleanup.d', 'environment.d')


def elements():
    return sorted(d for d in os.listdir(base.ELEMENTS)
                  if os.path.isdir(os.path.join(base.ELEMENTS, d)))


def phase_scripts():
    for element in elements():
        for phase in PHASES:
            d = os.path.join(base.ELEMENTS, element, phase)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    yield element, phase, os.path.join(d, name)


class TestElements(base.TestCase):

    def test_every_element_has_a_readme(self):
        missing = [e for e in elements() if not os.path.isfile(
            os.path.join(base.ELEMENTS, e, 'README.rst'))]
        self.assertEqual([], missing)

    def test_expected_elements_exist(self):
        for name in ('trove-guest', 'trove-guest-agent', 'trove-docker',
                     'trove-mysql', 'trove-mariadb', 'trove-postgresql'):
            self.assertIn(name, elements())

    def test_phase_script_names_unique_across_elements(self):
        seen = collections.defaultdict(list)
        for element, phase, path in phase_scripts():
            seen[(phase, os.path.basename(path))].append(element)
        dupes = {k: v for k, v in seen.items() if len(v) > 1}
        self.assertEqual({}, dupes)

    def test_phase_scripts_are_strict(self):
        for _element, phase, path in phase_scripts():
            if phase == 'environment.d':
                continue
            self.assertTrue(re.match(r'^\d\d-', os.path.basename(path)),
                            '%s: name must start with NN-' % path)
            self.assertTrue(os.access(path, os.X_OK),
                            '%s is not executable' % path)
            with open(path) as f:
                text = f.read()
            self.assertIn('set -eu', text, path)
            self.assertIn('pipefail', text, path)
            self.assertIn('DIB_DEBUG_TRACE', text, path)

    def test_guest_sshd_refuses_root_and_passwords(self):
        path = os.path.join(base.ELEMENTS, 'trove-guest', 'static', 'etc',
                            'ssh', 'sshd_config.d', '10-trove-guest.conf')
        with open(path) as f:
            settings = dict(line.split(None, 1) for line in f.read()
                            .splitlines() if line and line[0] != '#')
        self.assertEqual({'PasswordAuthentication': 'no',
                          'KbdInteractiveAuthentication': 'no',
                          'PermitRootLogin': 'no'}, settings)

    def test_datastore_files_valid(self):
        cat = catalog.Catalog.load(base.ELEMENTS)
        self.assertEqual({'mariadb', 'mysql', 'postgresql'},
                         set(cat.datastores))
        for ds in cat.datastores.values():
            self.assertEqual('trove-%s' % ds.name, ds.element)
            for ver in ds.versions:
                self.assertTrue(ver.container_image)
                self.assertRegex(ver.version_number, r'^\d+(\.\d+)+$')
                self.assertTrue(ver.version_number.startswith(ver.name))

    def test_datastore_elements_depend_on_agent_and_docker(self):
        cat = catalog.Catalog.load(base.ELEMENTS)
        for ds in cat.datastores.values():
            with open(os.path.join(base.ELEMENTS, ds.element,
                                   'element-deps')) as f:
                deps = f.read().split()
            self.assertIn('trove-guest-agent', deps)
            self.assertIn('trove-docker', deps)
