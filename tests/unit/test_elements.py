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
import importlib.util
import os
import re
import subprocess

import fixtures

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


TRIM_LIB = os.path.join(base.ELEMENTS, 'trove-guest', 'trove-guest-lib')
TRIM_SCRIPT = os.path.join(base.ELEMENTS, 'trove-guest', 'post-install.d',
                           '80-trove-guest-trim-modules')


def _trim_modules():
    spec = importlib.util.spec_from_file_location(
        'tib_trim_modules', os.path.join(TRIM_LIB, 'trim_modules.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


trim_modules = _trim_modules()

# A small kernel: what stays, what is listed, a module outside the list
# that needs a listed one, and one whose name must be kept.
FAKE_DEP = {
    'kernel/drivers/net/virtio_net.ko': [],
    'kernel/drivers/ata/ahci.ko': ['kernel/drivers/ata/libahci.ko'],
    'kernel/drivers/ata/libahci.ko': [],
    'kernel/drivers/gpu/drm/drm.ko': [],
    'kernel/drivers/gpu/drm/tiny/bochs.ko': ['kernel/drivers/gpu/drm/drm.ko'],
    'kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko': [
        'kernel/drivers/gpu/drm/drm.ko'],
    'kernel/sound/core/snd.ko': [],
    'kernel/sound/pci/hda/snd-hda-intel.ko': ['kernel/sound/core/snd.ko'],
    'kernel/drivers/platform/x86/thinkpad_acpi.ko': [
        'kernel/sound/core/snd.ko'],
}


class TestTrimModules(base.TestCase):

    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, 'root')
        self.calls = []
        self.useFixture(fixtures.MonkeyPatch(
            'tests.unit.test_elements.trim_modules.run', self.fake_run))

    def fake_run(self, cmd):
        """depmod rewrites modules.dep from what is on disk."""
        self.calls.append(cmd)
        if cmd[0] == 'depmod':
            moddir = os.path.join(cmd[2], 'lib/modules', cmd[4])
            deps = trim_modules.read_deps(moddir)
            self.write_dep(moddir, {m: d for m, d in deps.items()
                                    if os.path.exists(
                                        os.path.join(moddir, m))})

    def write_dep(self, moddir, deps):
        base.write(os.path.join(moddir, 'modules.dep'), ''.join(
            '%s: %s\n' % (m, ' '.join(d)) for m, d in sorted(deps.items())))

    def kernel(self, version, modules=FAKE_DEP, size=1024 * 1024):
        moddir = os.path.join(self.root, 'lib/modules', version)
        for mod in modules:
            base.write(os.path.join(moddir, mod), 'x' * size)
        self.write_dep(moddir, modules)
        return moddir

    def listing(self, remove=('kernel/sound', 'kernel/drivers/gpu/drm/amd',
                              'kernel/drivers/net/wireless'),
                keep=('virtio_net', 'ahci', 'bochs', 'drm')):
        return list(remove), list(keep)

    def test_shipped_list_loads_and_keeps_what_a_guest_needs(self):
        remove, keep = trim_modules.load_list(
            os.path.join(TRIM_LIB, 'trim-modules.yaml'))
        for path in ('kernel/sound', 'kernel/drivers/media',
                     'kernel/drivers/net/wireless', 'kernel/net/bluetooth',
                     'kernel/drivers/infiniband', 'kernel/drivers/gpu/drm/amd',
                     'kernel/drivers/gpu/drm/i915'):
            self.assertIn(path, remove)
        for name in ('virtio_net', 'virtio_blk', 'overlay', 'br_netfilter',
                     'ahci', 'ata_piix', 'isofs', 'drm', 'bochs', 'qxl',
                     'virtio_gpu', 'nvme_tcp'):
            self.assertIn(name, keep)
        # No listed path holds the drm core or a VM display driver.
        for path in remove:
            self.assertNotIn(path, ('kernel/drivers/gpu',
                                    'kernel/drivers/gpu/drm',
                                    'kernel/drivers/gpu/drm/tiny'))

    def test_list_rejects_anything_but_plain_kernel_paths(self):
        for bad in ('/lib/modules', '../x', 'kernel/../../etc',
                    'kernel', 'modules.dep', 'kernel/sound/*',
                    'kernel//sound'):
            path = base.write(os.path.join(self.tmp, 'l.yaml'),
                              'remove: [%r]\n' % bad)
            self.assertRaises(trim_modules.TrimError,
                              trim_modules.load_list, path)
        for text in ('- kernel/sound\n', 'remove: [1]\n',
                     'remove: []\nextra: []\n'):
            path = base.write(os.path.join(self.tmp, 'l.yaml'), text)
            self.assertRaises(trim_modules.TrimError,
                              trim_modules.load_list, path)

    def test_module_names_as_modprobe_sees_them(self):
        for path, name in (('kernel/a/virtio-rng.ko', 'virtio_rng'),
                           ('kernel/a/nvme-tcp.ko.xz', 'nvme_tcp'),
                           ('kernel/a/ext4.ko.zst', 'ext4')):
            self.assertEqual(name, trim_modules.module_name(path))

    def test_removes_listed_paths_and_their_dependents(self):
        moddir = self.kernel('6.1.0-1-amd64')
        line = trim_modules.trim(self.root, *self.listing())
        for gone in ('kernel/sound', 'kernel/drivers/gpu/drm/amd',
                     'kernel/drivers/platform/x86/thinkpad_acpi.ko'):
            self.assertFalse(os.path.exists(os.path.join(moddir, gone)))
        for kept in ('kernel/drivers/gpu/drm/drm.ko',
                     'kernel/drivers/gpu/drm/tiny/bochs.ko',
                     'kernel/drivers/ata/ahci.ko'):
            self.assertTrue(os.path.exists(os.path.join(moddir, kept)))
        self.assertEqual(
            [['depmod', '-b', self.root, '-a', '6.1.0-1-amd64'],
             ['chroot', self.root, 'update-initramfs', '-u', '-k', 'all']],
            self.calls)
        self.assertEqual('trove-guest: removed 4 kernel modules (4.0 MiB) '
                         'from 1 of 1 kernels; needing a removed one: '
                         'thinkpad_acpi', line)
        deps = open(os.path.join(moddir, 'modules.dep')).read()
        self.assertNotIn('sound', deps)
        self.assertNotIn('amd', deps)

    def test_every_kernel_and_absent_paths_are_fine(self):
        self.kernel('6.1.0-1-amd64')
        # A kernel without sound or amdgpu (a cloud flavour).
        cloud = {m: d for m, d in FAKE_DEP.items()
                 if 'sound' not in m and 'amd' not in m
                 and 'thinkpad' not in m}
        self.kernel('6.1.0-1-cloud-amd64', cloud)
        line = trim_modules.trim(self.root, *self.listing())
        self.assertIn('removed 4 kernel modules (4.0 MiB) from 1 of 2 '
                      'kernels', line)
        self.assertEqual(['depmod', 'update-initramfs'],
                         [c[0] if c[0] != 'chroot' else c[2]
                          for c in self.calls])

    def test_second_run_does_nothing(self):
        self.kernel('6.1.0-1-amd64')
        trim_modules.trim(self.root, *self.listing())
        self.calls[:] = []
        line = trim_modules.trim(self.root, *self.listing())
        self.assertEqual([], self.calls)
        self.assertEqual('trove-guest: removed 0 kernel modules (0.0 MiB) '
                         'from 0 of 1 kernels', line)

    def test_interrupted_run_is_finished_by_the_next(self):
        moddir = self.kernel('6.1.0-1-amd64')
        # Removed, but the index and initramfs were never rebuilt.
        trim_modules.shutil.rmtree(os.path.join(moddir, 'kernel/sound'))
        trim_modules.trim(self.root, *self.listing())
        self.assertEqual(['depmod', 'chroot'], [c[0] for c in self.calls])

    def test_keep_module_that_would_go_fails_before_removing(self):
        moddir = self.kernel('6.1.0-1-amd64')
        self.kernel('6.1.0-2-amd64')
        remove, keep = self.listing(keep=('virtio_net', 'thinkpad_acpi'))
        err = self.assertRaises(trim_modules.TrimError, trim_modules.trim,
                                self.root, remove, keep)
        self.assertIn('thinkpad_acpi.ko', str(err))
        self.assertTrue(os.path.exists(os.path.join(moddir, 'kernel/sound')))
        self.assertEqual([], self.calls)

    def test_dry_run_changes_nothing(self):
        moddir = self.kernel('6.1.0-1-amd64')
        line = trim_modules.trim(self.root, *self.listing(), dry_run=True)
        self.assertIn('would remove 4 kernel modules (4.0 MiB)', line)
        self.assertTrue(os.path.exists(os.path.join(moddir, 'kernel/sound')))
        self.assertEqual([], self.calls)

    def test_no_kernel_is_nothing_to_do(self):
        self.assertEqual('trove-guest: removed 0 kernel modules (0.0 MiB) '
                         'from 0 of 0 kernels',
                         trim_modules.trim(self.root, *self.listing()))
        self.assertEqual([], self.calls)

    def test_main_reports_errors_in_one_line(self):
        out, err = self.capture()
        path = base.write(os.path.join(self.tmp, 'l.yaml'),
                          'remove: [/etc]\n')
        self.assertEqual(1, trim_modules.main(['--root', self.root, path]))
        self.assertIn('trove-guest: trimming kernel modules: ', err.getvalue())
        self.kernel('6.1.0-1-amd64')
        path = base.write(os.path.join(self.tmp, 'l.yaml'),
                          'remove: [kernel/sound]\nkeep: [ahci]\n')
        self.assertEqual(0, trim_modules.main(['--root', self.root, path]))
        self.assertIn('removed 3 kernel modules', out.getvalue())

    def test_script_switch(self):
        env = dict(os.environ, DIB_TROVE_GUEST_TRIM_MODULES='0')
        proc = subprocess.run(['bash', TRIM_SCRIPT], env=env, text=True,
                              capture_output=True)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('kernel modules kept', proc.stdout)
        env['DIB_TROVE_GUEST_TRIM_MODULES'] = 'yes'
        proc = subprocess.run(['bash', TRIM_SCRIPT], env=env, text=True,
                              capture_output=True)
        self.assertEqual(1, proc.returncode)
        self.assertIn('is 0 or 1, not yes', proc.stderr)

    def test_switch_defaults_on(self):
        with open(os.path.join(base.ELEMENTS, 'trove-guest', 'environment.d',
                               '10-trove-guest.bash')) as f:
            self.assertIn('DIB_TROVE_GUEST_TRIM_MODULES='
                          '${DIB_TROVE_GUEST_TRIM_MODULES:-1}', f.read())
