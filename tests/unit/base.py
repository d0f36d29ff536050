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

"""Helpers shared by the unit tests."""

import io
import os
import signal
import textwrap

import fixtures
import testtools

from tests import skips
from trove_image_builder.cli import app
from trove_image_builder import conf as conf_mod


TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ELEMENTS = os.path.join(TOP, 'elements')


# A unit test that needs a host tool (qemu-img, genisoimage) skips
# without it, and fails instead in CI (tests/skips.py).
require_tool = skips.require_tools


def write(path, text, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(textwrap.dedent(text))
    if mode:
        os.chmod(path, mode)
    return path


def running(pid):
    """pid exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (FileNotFoundError, ProcessLookupError):
        # Gone before the open, or between the open and the read.
        return False


def kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class TestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def capture(self):
        """stdout and stderr, as StringIOs, for the rest of the test."""
        out, err = io.StringIO(), io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        return out, err

    def main(self, conf_text, *argv):
        """The real command line, with conf_text as its config file.

        Returns (exit code, stdout, stderr).
        """
        out, err = self.capture()
        conf = write(os.path.join(self.tmp, 'cli.conf'), conf_text)
        rc = app.main(['--config-file', conf] + list(argv))
        return rc, out.getvalue(), err.getvalue()

    def fake_elements(self):
        """A minimal elements tree with one datastore and two systems."""
        root = os.path.join(self.tmp, 'elements')
        write(os.path.join(root, 'trove-guest', 'os-releases.yaml'), """
            default_os: debian
            os:
              debian:
                element: debian-minimal
                default_release: bookworm
                releases: [bookworm, trixie]
              ubuntu:
                element: ubuntu-minimal
                default_release: noble
                releases: [noble]
            """)
        write(os.path.join(root, 'trove-mariadb', 'datastore.yaml'), """
            datastore: mariadb
            manager: mariadb
            versions:
              - name: "10.11"
                version_number: "10.11.10"
                container_image: "mariadb:10.11"
                validation_rules: "trove:templates/mariadb/rules.json"
                default: true
              - name: "11.4"
                version_number: "11.4.4"
                container_image: "mariadb:11.4"
            """)
        return root

    def make_conf(self, **groups):
        conf = conf_mod.make_conf(config_files=[self._conf_file(groups)])
        return conf

    def _conf_file(self, groups):
        lines = []
        for group, values in groups.items():
            lines.append('[%s]' % group)
            lines += ['%s = %s' % kv for kv in values.items()]
        return write(os.path.join(self.tmp, 'test.conf'),
                     '\n'.join(lines) + '\n')
