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

"""What a built image must hold for Trove's guest agent to serve a database.

Each fact is read from the image itself and, where Trove decides it, from
the Trove code installed in the image's agent venv (run in a chroot of
the image's root filesystem), so a Trove release that moves a path is
followed by the test as it is by the build.
"""

import hashlib
import json
import os
import re
import subprocess

import yaml

from tests.functional import base

VENV_PYTHON = '/opt/guest-agent-venv/bin/python'
# Where the build bind-mounts its caches (trove-guest-agent's wheel
# cache, DIB's apt archive cache) and stages the agent's install.
WHEEL_CACHE = 'var/cache/trove-wheels'
AGENT_STAGE = 'opt/trove-guest-agent-build'
# python3-pip-whl and python3-setuptools-whl: what `python3 -m venv` uses.
DEBIAN_WHEELS = 'usr/share/python-wheels'


def _entries(path):
    """name -> fields of a passwd- or group-style file."""
    with open(path) as f:
        return {line.split(':')[0]: line.rstrip('\n').split(':')
                for line in f if line.strip()}


class TestImageContents(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        ws = self.workspace('contents')
        # The same image test_build made (a cache hit when it ran first).
        conf = self.config(ws, build={'output_dir': base.TEST_IMAGES})
        proc, _t = self.run_cli(conf, 'build', 'mariadb', '-f', 'value',
                                '-c', 'image')
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        self.image = proc.stdout.strip()
        self.ws = ws

    def _in_image(self, root, code):
        return subprocess.run(
            ['chroot', root, VENV_PYTHON, '-c', code], capture_output=True,
            text=True, check=True, timeout=300).stdout.strip()

    def test_agent_can_prepare_and_docker_can_confine(self):
        with base.mounted_root(self.image, self.ws) as root:
            unit = open(os.path.join(
                root, 'etc/systemd/system/guest-agent.service')).read()
            agent = re.search(r'^User=(\S+)$', unit, re.M).group(1)
            users = _entries(os.path.join(root, 'etc/passwd'))
            groups = _entries(os.path.join(root, 'etc/group'))
            agent_uid = int(users[agent][2])

            # begin_install() writes its markers here as the agent's
            # user, with no sudo: owned by it and writable by it.
            state_dir = self._in_image(
                root, 'from trove.guestagent.datastore import service; '
                'print(service.BaseDbStatus.GUESTAGENT_DIR)')
            st = os.stat(os.path.join(root, state_dir.lstrip('/')))
            self.assertEqual(agent_uid, st.st_uid, state_dir)
            self.assertTrue(st.st_mode & 0o200, oct(st.st_mode))
            # The injected config dir: the agent rewrites guest_info.conf.
            conf_dir = self._in_image(
                root, 'from trove.common import cfg; '
                'print(cfg.CONF.injected_config_location)')
            self.assertEqual(agent_uid, os.stat(os.path.join(
                root, conf_dir.lstrip('/'))).st_uid, conf_dir)

            # docker.sock is group docker; containers run as the
            # database_service_uid the agent expects (1001 by default).
            self.assertIn(agent, groups['docker'][3].split(','))
            self.assertEqual('1001', users['database'][2])

            # Unprivileged containers (MySQL, PostgreSQL) need dockerd to
            # load its AppArmor profile: the guest kernel has AppArmor on.
            parser = os.path.join(root, 'usr/sbin/apparmor_parser')
            self.assertTrue(os.access(parser, os.X_OK), parser)
        self.assertEqual([], base.mounts_under(self.ws))
        self.assertEqual([], base.loops_over(self.ws))

    def test_no_build_cache_in_image(self):
        with base.mounted_root(self.image, self.ws) as root:
            self.assertFalse(os.path.lexists(os.path.join(root,
                                                          WHEEL_CACHE)))
            self.assertFalse(os.path.lexists(os.path.join(root,
                                                          AGENT_STAGE)))
            # No wheel, .deb or wheelhouse manifest anywhere but in
            # Debian's python3-venv (its bundled pip and setuptools);
            # the apt archive cache (DIB's mount point) stays, no .debs.
            found = []
            for dirpath, dirnames, filenames in os.walk(root):
                if dirpath == root:
                    dirnames[:] = [d for d in dirnames
                                   if d not in ('proc', 'sys', 'dev')]
                if dirpath == os.path.join(root, DEBIAN_WHEELS):
                    continue
                found += [os.path.join(dirpath, n)[len(root):]
                          for n in filenames
                          if n.endswith(('.whl', '.deb'))
                          or n == 'SHA256SUMS']
            self.assertEqual([], found)
            self.assertTrue(os.path.isdir(os.path.join(
                root, 'var/cache/apt/archives')))

    def test_no_packagekit(self):
        """trove-guest purges what DIB's base installs for itself."""
        with base.mounted_root(self.image, self.ws) as root:
            with open(os.path.join(root, 'var/lib/dpkg/status')) as f:
                installed = {
                    re.search(r'^Package: (\S+)$', stanza, re.M).group(1)
                    for stanza in f.read().split('\n\n')
                    if re.search(r'^Status: install ok installed$',
                                 stanza, re.M)}
        self.assertTrue({'cloud-init', 'docker.io', 'sudo'} <= installed)
        self.assertEqual(set(), installed & {
            'software-properties-common', 'packagekit', 'python3-apt',
            'libgstreamer1.0-0'})
        self.assertEqual([], base.mounts_under(self.ws))

    def test_initramfs_made_once_per_kernel(self):
        """trove-guest defers update-initramfs to one run per kernel."""
        with open(os.path.splitext(self.image)[0] + '.json') as f:
            name = json.load(f)['base']['name']
        bases = base.BASE_DIR or os.path.join(base.CACHE_DIR, 'bases')
        with open(os.path.join(bases, name + '.log'),
                  errors='replace') as f:
            made = re.findall(r'update-initramfs: Generating '
                              r'/boot/initrd\.img-(\S+)', f.read())
        self.assertTrue(made)
        self.assertEqual(sorted(set(made)), sorted(made))

    def test_kernel_modules_trimmed_and_index_consistent(self):
        """trove-guest's trim-modules.yaml: gone, and gone from the index.

        What a guest needs stays; modules.dep (rebuilt by depmod) names no
        removed module, and the initramfs was rebuilt after the removal.
        """
        lib = os.path.join(base.TOP, 'elements', 'trove-guest',
                           'trove-guest-lib')
        with open(os.path.join(lib, 'trim-modules.yaml')) as f:
            removed = yaml.safe_load(f)['remove']
        with base.mounted_root(self.image, self.ws) as root:
            top = os.path.join(root, 'lib/modules')
            versions = sorted(os.listdir(top))
            self.assertTrue(versions)
            for version in versions:
                moddir = os.path.join(top, version)
                for path in removed:
                    self.assertFalse(os.path.lexists(
                        os.path.join(moddir, path)), path)
                with open(os.path.join(moddir, 'modules.dep')) as f:
                    deps = {}
                    for line in f:
                        mod, _sep, rest = line.partition(':')
                        deps[mod] = rest.split()
                for mod, needs in deps.items():
                    for path in [mod] + needs:
                        self.assertFalse(any(
                            path.startswith(p + '/') or path == p
                            for p in removed), path)
                        self.assertTrue(os.path.exists(
                            os.path.join(moddir, path)), path)
                names = {re.sub(r'\.ko(\.\w+)?$', '', os.path.basename(m))
                         .replace('-', '_') for m in deps}
                for needed in ('virtio_net', 'virtio_blk', 'overlay',
                               'br_netfilter', 'ahci', 'isofs', 'drm',
                               'bochs'):
                    self.assertIn(needed, names, version)
                initrd = os.path.join(root, 'boot', 'initrd.img-' + version)
                self.assertGreaterEqual(
                    os.stat(initrd).st_mtime,
                    os.stat(os.path.join(moddir, 'modules.dep')).st_mtime,
                    'the initramfs is older than the module index')
                # zstd (the element installs it), not the gzip fallback.
                with open(initrd, 'rb') as f:
                    self.assertEqual(b'\x28\xb5\x2f\xfd', f.read(4))
            # The deferral is undone: the real update-initramfs is back
            # (the file dpkg installed) and nothing is diverted.
            rel = 'usr/sbin/update-initramfs'
            info = os.path.join(root, 'var/lib/dpkg/info')
            want = []
            for name in os.listdir(info):
                if name.endswith('.md5sums'):
                    with open(os.path.join(info, name)) as f:
                        want += [line.split()[0] for line in f
                                 if line.rstrip('\n').endswith('  ' + rel)]
            with open(os.path.join(root, rel), 'rb') as f:
                self.assertEqual(want, [hashlib.md5(f.read()).hexdigest()])
            with open(os.path.join(root, 'var/lib/dpkg/diversions')) as f:
                self.assertNotIn('update-initramfs', f.read())
        self.assertEqual([], base.mounts_under(self.ws))
        self.assertEqual([], base.loops_over(self.ws))
