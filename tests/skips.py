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

"""The one way a test skips, for every suite (unit, functional,
integration, devstack, package).

On a developer's machine a missing tool or privilege skips the test. In
CI (.ci/run sets TIB_NO_SKIP=1) the same test FAILS: a run that did not
test something must not be green.
"""

import os
import shutil

NO_SKIP = 'TIB_NO_SKIP'


def strict():
    return os.environ.get(NO_SKIP, '') not in ('', '0')


def skip(test, reason):
    """test.skipTest(reason), or test.fail(...) when TIB_NO_SKIP is set."""
    if strict():
        test.fail('%s=1 forbids skipping: %s' % (NO_SKIP, reason))
    test.skipTest(reason)


def require_tools(test, *tools, hint='run tools/setup-host.sh --tests'):
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        skip(test, '%s missing: %s' % (' '.join(missing), hint))


def require_root(test, why):
    if os.geteuid() != 0:
        skip(test, 'needs root (%s)' % why)
