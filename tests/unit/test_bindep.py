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

"""bindep.txt and tools/setup-host.sh name the same system packages."""

import os
import re

from tests.unit import base

SETUP_HOST = os.path.join(base.TOP, 'tools', 'setup-host.sh')
BINDEP = os.path.join(base.TOP, 'bindep.txt')


def setup_host_packages():
    """(always, with_tests): the packages of every PACKAGES= line.

    An indented assignment is inside the --tests branch.
    """
    with open(SETUP_HOST) as f:
        text = f.read().replace('\\\n', ' ')
    always, tests = set(), set()
    for line in text.splitlines():
        match = re.match(r'^(\s*)PACKAGES="([^"]*)"', line)
        if match:
            names = {w for w in match.group(2).split()
                     if not w.startswith('$')}
            (tests if match.group(1) else always).update(names)
    return always, tests


def bindep_packages():
    """{package: set of profiles other than platform ones}."""
    packages = {}
    with open(BINDEP) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            match = re.match(r'^(\S+)\s*(?:\[([^\]]*)\])?\s*$', line)
            assert match, 'bindep.txt: cannot read %r' % line
            profiles = (match.group(2) or '').split()
            packages[match.group(1)] = {
                p for p in profiles if not p.startswith(('platform:', '!'))}
    return packages


class TestBindep(base.TestCase):

    def test_setup_host_lists_are_found(self):
        always, tests = setup_host_packages()
        self.assertIn('qemu-utils', always)
        self.assertIn('mariadb-server', tests)

    def test_same_packages(self):
        always, tests = setup_host_packages()
        self.assertEqual(sorted(always | tests), sorted(bindep_packages()))

    def test_profiles_follow_setup_host(self):
        # What a plain setup-host installs has no profile (every profile
        # gets it); what only --tests installs has one.
        always, tests = setup_host_packages()
        bindep = bindep_packages()
        self.assertEqual([], [p for p in always if bindep[p]])
        self.assertEqual([], [p for p in tests - always if not bindep[p]])

    def test_no_recommends(self):
        # Recommends (qemu's GUI stack) would triple the install; what is
        # needed is listed instead.
        with open(SETUP_HOST) as f:
            text = f.read().replace('\\\n', ' ')
        installs = [line for line in text.splitlines()
                    if re.search(r'apt-get\s.*\binstall\b', line)]
        self.assertEqual(1, len(installs), installs)
        self.assertIn('--no-install-recommends', installs[0])

    def test_firmware_and_keyring_named(self):
        # Without Recommends nothing else guarantees them.
        always, _tests = setup_host_packages()
        for pkg in ('seabios', 'ipxe-qemu', 'debian-archive-keyring'):
            self.assertIn(pkg, always)

    def test_partmap_tests_get_their_tools(self):
        # tests/functional/test_partmap.py's tools, by Debian package: a
        # fresh `setup-host.sh --tests` must make none of them missing.
        from tests.functional import test_partmap
        packages = {'losetup': 'mount', 'mount': 'mount', 'umount': 'mount',
                    'partx': 'util-linux', 'blockdev': 'util-linux',
                    'fstrim': 'util-linux', 'parted': 'parted',
                    'sgdisk': 'gdisk', 'mkfs.ext4': 'e2fsprogs'}
        self.assertEqual(sorted(test_partmap.TOOLS), sorted(packages))
        always, tests = setup_host_packages()
        self.assertEqual([], sorted(set(packages.values()) - always - tests))
