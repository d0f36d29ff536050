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

"""In CI (TIB_NO_SKIP=1) a test that would skip fails (issue 10 item 11)."""

import os
import unittest

import fixtures

from tests import skips
from tests.unit import base

TOOL = 'tib-no-such-tool'


def outcome(name):
    """(skipped, failed, errors, last lines of failures) of one test."""
    # Made here, so the loader never finds it as a test of its own.
    class Needy(unittest.TestCase):

        def test_tool(self):
            skips.require_tools(self, TOOL)

        def test_root(self):
            skips.require_root(self, 'something only root does')

    result = unittest.TestResult()
    Needy(name).run(result)
    return (len(result.skipped), len(result.failures), len(result.errors),
            [text.splitlines()[-1] for _t, text in result.failures])


class TestSkips(base.TestCase):

    def with_env(self, value):
        self.useFixture(fixtures.EnvironmentVariable(skips.NO_SKIP, value))

    def test_skips_on_a_developer_machine(self):
        for value in (None, '', '0'):
            self.with_env(value)
            self.assertEqual((1, 0, 0, []), outcome('test_tool'))

    def test_fails_in_ci(self):
        self.with_env('1')
        self.assertEqual((0, 1, 0, [
            'AssertionError: TIB_NO_SKIP=1 forbids skipping: %s missing: '
            'run tools/setup-host.sh --tests' % TOOL]), outcome('test_tool'))

    def test_not_root_fails_in_ci(self):
        self.useFixture(fixtures.MockPatch('os.geteuid', return_value=1000))
        self.with_env('1')
        self.assertEqual((0, 1, 0, [
            'AssertionError: TIB_NO_SKIP=1 forbids skipping: needs root '
            '(something only root does)']), outcome('test_root'))

    def test_ci_sets_it(self):
        with open(os.path.join(base.TOP, '.ci', 'run')) as f:
            self.assertIn('\nexport TIB_NO_SKIP=1\n', f.read())
        with open(os.path.join(base.TOP, 'playbooks', 'tox-root',
                               'run.yaml')) as f:
            self.assertIn('TIB_NO_SKIP: "1"', f.read())
