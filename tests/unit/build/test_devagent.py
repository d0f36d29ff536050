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
from unittest import mock

from tests.unit import base
from tests.unit.build import test_build
from trove_image_builder.build import devagent
from trove_image_builder import errors


class TestFrame(test_build.PlanTestBase):
    """Which dev-mode changes the fast path may take."""

    def setUp(self):
        super().setUp()
        self.src = os.path.join(self.tmp, 'trove-src')
        base.write(os.path.join(self.src, 'trove', '__init__.py'), '')
        base.write(os.path.join(self.src, 'trove', 'guestagent', 'x.py'),
                   'A = 1\n')
        base.write(os.path.join(self.src, 'setup.cfg'), '[metadata]\n')

    def base_facts(self):
        return self.plan(dev_mode=True,
                         guest_agent_source=self.src).base.facts

    def test_a_change_to_the_package_keeps_the_frame(self):
        before = self.base_facts()
        base.write(os.path.join(self.src, 'trove', 'guestagent', 'x.py'),
                   'A = 2\n')
        after = self.base_facts()
        self.assertNotEqual(before['inputs_hash'], after['inputs_hash'])
        self.assertTrue(devagent.applies(before, after))

    def test_packaging_or_elements_changes_need_dib(self):
        before = self.base_facts()
        base.write(os.path.join(self.src, 'setup.cfg'), '[metadata]\nx=1\n')
        self.assertFalse(devagent.applies(before, self.base_facts()))
        before = self.base_facts()
        base.write(os.path.join(self.elements, 'trove-guest', 'x'), 'new')
        self.assertFalse(devagent.applies(before, self.base_facts()))

    def test_nothing_changed_or_not_dev_mode(self):
        facts = self.base_facts()
        self.assertFalse(devagent.applies(facts, dict(facts)))
        self.assertIsNone(self.plan().base.facts['frame_hash'])
        self.assertFalse(devagent.applies(None, facts))


class TestReplaceAgent(base.TestCase):

    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, 'root')
        self.site = os.path.join(self.root, devagent.VENV, 'lib',
                                 'python3.11', 'site-packages')
        base.write(os.path.join(self.site, 'trove', 'old.py'), 'old\n')
        base.write(os.path.join(self.site, 'oslo_config', 'k.py'), 'k\n')
        self.src = os.path.join(self.tmp, 'src')
        base.write(os.path.join(self.src, 'trove', '__init__.py'), '')
        base.write(os.path.join(self.src, 'trove', 'guestagent', 'new.py'),
                   'new\n')
        base.write(os.path.join(self.src, 'trove', '__pycache__',
                                'x.cpython-311.pyc'), 'stale')

    def test_the_package_is_replaced_and_compiled_in_the_guest(self):
        with mock.patch('os.lchown') as chown, \
                mock.patch('subprocess.run', return_value=mock.Mock(
                    returncode=0, stdout='', stderr='')) as run:
            count = devagent.replace_agent(self.root, self.src)
        trove = os.path.join(self.site, 'trove')
        self.assertFalse(os.path.exists(os.path.join(trove, 'old.py')))
        with open(os.path.join(trove, 'guestagent', 'new.py')) as f:
            self.assertEqual('new\n', f.read())
        self.assertFalse(os.path.exists(os.path.join(trove, '__pycache__')))
        self.assertTrue(os.path.isfile(os.path.join(self.site,
                                                    'oslo_config', 'k.py')))
        self.assertEqual(['oslo_config', 'trove'],
                         sorted(os.listdir(self.site)))
        self.assertEqual(3, count)  # __init__.py, guestagent/, new.py
        self.assertTrue(all(c.args[1:] == (0, 0)
                            for c in chown.call_args_list))
        self.assertEqual(['chroot', self.root,
                          '/opt/guest-agent-venv/bin/python', '-m',
                          'compileall', '-q',
                          '/opt/guest-agent-venv/lib/python3.11/'
                          'site-packages/trove'], run.call_args[0][0])

    def test_code_the_guest_cannot_compile_fails_the_build(self):
        with mock.patch('os.lchown'), \
                mock.patch('subprocess.run', return_value=mock.Mock(
                    returncode=1, stdout='SyntaxError: bad', stderr='')):
            e = self.assertRaises(errors.BuildFailed,
                                  devagent.replace_agent, self.root,
                                  self.src)
        self.assertIn('SyntaxError: bad', str(e))

    def test_a_base_without_one_venv_is_refused(self):
        e = self.assertRaises(errors.BuildFailed, devagent.replace_agent,
                              self.tmp, self.src)
        self.assertIn('0 agent venvs', str(e))
