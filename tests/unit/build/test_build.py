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

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import threading
import time
from unittest import mock

import fixtures

from tests.unit import base
from trove_image_builder import build
from trove_image_builder import errors
from trove_image_builder import manifest


@contextlib.contextmanager
def fake_layers(said=None):
    """Layers without mounts or qemu-img; converted or packed is a copy.

    said collects each step as (name, arguments).
    """
    said = [] if said is None else said

    def step(name, copy=False):
        def run(*args):
            said.append((name, args))
            if copy:
                shutil.copyfile(args[0], args[1])
        return run

    with mock.patch.object(build.layer, 'write_layer',
                           side_effect=step('write')), \
            mock.patch.object(build.layer, 'convert',
                              side_effect=step('convert', copy=True)), \
            mock.patch.object(build.layer, 'pack',
                              side_effect=step('pack', copy=True)), \
            mock.patch.object(build.layer, 'diff', side_effect=step('diff')), \
            mock.patch.object(build.layer, 'apply',
                              side_effect=step('apply')), \
            mock.patch.object(build.imagefile, 'info', side_effect=(
                lambda path, error: {'format': os.path.splitext(
                    path)[1][1:]})):
        yield said


class PlanTestBase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.elements = self.fake_elements()
        self.out = os.path.join(self.tmp, 'out')
        dic = base.write(os.path.join(self.tmp, 'bin', 'disk-image-create'),
                         '#!/bin/sh\n', mode=0o755)
        self.base_req = dict(
            datastore='mariadb', elements_dir=self.elements,
            output_dir=self.out, work_dir=os.path.join(self.tmp, 'work'),
            cache_dir=os.path.join(self.tmp, 'cache'),
            disk_image_create=dic, mirror_from_host=False,
            pip_from_host=False,
            debian_mirror='http://mirror.example/debian',
            debian_security_mirror='http://mirror.example/debian-security')

    def plan(self, **kw):
        return build.make_plan(build.Request(**dict(self.base_req, **kw)),
                               has_vfat=False)


class TestPlan(PlanTestBase):

    def test_default_datastore_image(self):
        plan = self.plan()
        self.assertEqual('trove-debian-bookworm-mariadb-10.11', plan.name)
        self.assertEqual(os.path.join(self.out, plan.name + '.qcow2'),
                         plan.image_path)
        bases = os.path.join(self.tmp, 'cache', 'bases')
        self.assertEqual(os.path.join(bases, 'trove-debian-bookworm-base.raw'),
                         plan.base.image_path)
        # DIB builds the base, raw, without the datastore element.
        argv = list(plan.command.argv)
        self.assertEqual(['-t', 'raw', '-o', os.path.join(
            bases, '.trove-debian-bookworm-base.partial')], argv[1:5])
        self.assertEqual(['debian-minimal', 'vm', 'block-device-mbr',
                          'trove-guest', 'trove-guest-agent', 'trove-docker',
                          'trove-container-images'], argv[5:])
        env = plan.command.env
        self.assertEqual('bookworm', env['DIB_RELEASE'])
        for key in ('DIB_TROVE_DATASTORE', 'DIB_TROVE_DATASTORE_VERSION',
                    'DIB_TROVE_CONTAINER_IMAGE'):
            self.assertNotIn(key, env)
        self.assertEqual('26.0.0', env['DIB_TROVE_GUEST_AGENT_VERSION'])
        self.assertEqual('http://mirror.example/debian',
                         env['DIB_DISTRIBUTION_MIRROR'])
        self.assertEqual('http://mirror.example/debian-security',
                         env['DIB_DEBIAN_SECURITY_MIRROR'])
        self.assertEqual('1', env['DIB_DEBOOTSTRAP_CACHE'])
        self.assertEqual('1', env['DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE'])
        self.assertEqual(self.elements, env['ELEMENTS_PATH'])
        self.assertNotIn('DIB_TROVE_GUEST_AGENT_SOURCE', env)
        # The layer writes what the datastore element used to.
        self.assertEqual({'datastore': 'mariadb', 'manager': 'mariadb',
                          'version': '10.11', 'version_number': '10.11.10',
                          'container_image': 'mariadb:10.11',
                          'validation_rules':
                              'trove:templates/mariadb/rules.json',
                          'element': 'trove-mariadb'}, plan.record)
        self.assertEqual({'name': 'trove-debian-bookworm-base',
                          'inputs_hash': plan.base.inputs_hash},
                         plan.facts['base'])
        self.assertEqual('trove-mariadb', plan.facts['elements'][-1])

    def test_every_datastore_version_shares_one_base(self):
        plans = [self.plan(), self.plan(version='11.4'),
                 self.plan(datastore='generic')]
        self.assertEqual(1, len({(p.base.inputs_hash, p.base.image_path,
                                  p.base.command.argv) for p in plans}))
        self.assertEqual(3, len({p.inputs_hash for p in plans}))
        self.assertEqual(3, len({p.image_path for p in plans}))

    def test_base_dir_option(self):
        plan = self.plan(base_dir=os.path.join(self.tmp, 'b'))
        self.assertEqual(os.path.join(self.tmp, 'b'),
                         os.path.dirname(plan.base.image_path))
        self.assertEqual(self.plan().base.inputs_hash,
                         plan.base.inputs_hash)

    def test_environ_not_modified(self):
        before = dict(os.environ)
        self.plan()
        self.assertEqual(before, dict(os.environ))

    def test_generic_image_has_no_datastore_element(self):
        plan = self.plan(datastore='generic')
        self.assertEqual('trove-debian-bookworm-generic', plan.name)
        self.assertNotIn('trove-mariadb', plan.command.argv)
        self.assertNotIn('trove-mariadb', plan.facts['elements'])
        self.assertIsNone(plan.record)
        self.assertEqual('generic', plan.facts['datastore'])

    def test_version_os_release_size_format(self):
        plan = self.plan(version='11.4', os='ubuntu', release='noble',
                         fmt='raw', image_size=4, block_device='gpt',
                         ubuntu_mirror='http://mirror.example/ubuntu')
        self.assertEqual('trove-ubuntu-noble-mariadb-11.4', plan.name)
        self.assertIn('ubuntu-minimal', plan.command.argv)
        self.assertIn('block-device-gpt', plan.command.argv)
        self.assertEqual('4', plan.command.argv[
            plan.command.argv.index('--image-size') + 1])
        self.assertTrue(plan.image_path.endswith('.raw'))
        self.assertEqual('trove-ubuntu-noble-base', plan.base.name)
        self.assertEqual('http://mirror.example/ubuntu',
                         plan.command.env['DIB_DISTRIBUTION_MIRROR'])
        self.assertNotIn('DIB_DEBIAN_SECURITY_MIRROR', plan.command.env)

    def test_auto_layout_follows_vfat(self):
        req = build.Request(**self.base_req)
        self.assertIn('block-device-efi',
                      build.make_plan(req, has_vfat=True).command.argv)
        self.assertIn('block-device-mbr',
                      build.make_plan(req, has_vfat=False).command.argv)

    def test_dev_mode(self):
        src = os.path.join(self.tmp, 'trove')
        base.write(os.path.join(src, 'trove', '__init__.py'), '')
        plan = self.plan(dev_mode=True, guest_agent_source=src)
        self.assertEqual(src,
                         plan.command.env['DIB_TROVE_GUEST_AGENT_SOURCE'])
        self.assertNotIn('DIB_TROVE_GUEST_AGENT_VERSION', plan.command.env)
        self.assertTrue(plan.name.endswith('-dev'))
        self.assertTrue(plan.base.name.endswith('-base-dev'))
        self.assertEqual('dev', plan.facts['guest_agent']['mode'])

    def test_dev_mode_errors(self):
        e = self.assertRaises(errors.InputError, self.plan, dev_mode=True)
        self.assertIn('--guest-agent-source', str(e))
        e = self.assertRaises(errors.InputError, self.plan, dev_mode=True,
                              guest_agent_source=self.tmp)
        self.assertIn('not a Trove source tree', str(e))
        e = self.assertRaises(errors.InputError, self.plan,
                              guest_agent_source=self.tmp)
        self.assertIn('needs --dev-mode', str(e))

    def test_bad_inputs(self):
        self.assertRaises(errors.InputError, self.plan, datastore='nope')
        self.assertRaises(errors.InputError, self.plan, version='9')
        self.assertRaises(errors.InputError, self.plan, os='gentoo')
        self.assertRaises(errors.InputError, self.plan, release='buster')
        self.assertRaises(errors.InputError, self.plan,
                          datastore='generic', version='1')
        self.assertRaises(errors.InputError, self.plan,
                          extra_env=(('PATH', '/x'),))
        self.assertRaises(errors.InputError, self.plan,
                          extra_elements_path=('/nonexistent',))

    def test_unwritable_output_dir(self):
        ro = os.path.join(self.tmp, 'ro')
        os.mkdir(ro, 0o500)
        self.addCleanup(os.chmod, ro, 0o700)
        with mock.patch('os.access', return_value=False):
            e = self.assertRaises(errors.InputError, self.plan,
                                  output_dir=os.path.join(ro, 'x'))
        self.assertIn('not writable', str(e))
        afile = base.write(os.path.join(self.tmp, 'afile'), '')
        e = self.assertRaises(errors.InputError, self.plan,
                              output_dir=afile)
        self.assertIn('not a directory', str(e))

    def test_missing_disk_image_create(self):
        e = self.assertRaises(errors.HostError, self.plan,
                              disk_image_create='/nonexistent/dic')
        self.assertIn('disk-image-create', str(e))

    def test_inputs_hash_tracks_inputs_not_places(self):
        h = self.plan().inputs_hash
        self.assertEqual(h, self.plan().inputs_hash)
        self.assertNotEqual(h, self.plan(version='11.4').inputs_hash)
        self.assertNotEqual(h, self.plan(image_size=5).inputs_hash)
        self.assertNotEqual(
            h, self.plan(guest_agent_version='25.1.0').inputs_hash)
        self.assertNotEqual(
            h, self.plan(debian_mirror='http://other/debian').inputs_hash)
        # Scratch and cache locations do not change the image.
        self.assertEqual(h, self.plan(
            cache_dir=os.path.join(self.tmp, 'c2'),
            work_dir=os.path.join(self.tmp, 'w2')).inputs_hash)
        # Element content does.
        base.write(os.path.join(self.elements, 'trove-guest', 'x'), 'new')
        self.assertNotEqual(h, self.plan().inputs_hash)

    def test_a_datastore_change_rebuilds_only_its_layers(self):
        before = {v: self.plan(version=v) for v in ('10.11', '11.4')}
        generic = self.plan(datastore='generic')
        data_file = os.path.join(self.elements, 'trove-mariadb',
                                 'datastore.yaml')
        with open(data_file) as f:
            text = f.read()
        base.write(data_file, text.replace('11.4.4', '11.4.6'))
        after = {v: self.plan(version=v) for v in ('10.11', '11.4')}
        # One base for all, untouched; only 11.4's record changed.
        self.assertEqual(generic.base.inputs_hash,
                         after['11.4'].base.inputs_hash)
        self.assertEqual(before['10.11'].inputs_hash,
                         after['10.11'].inputs_hash)
        self.assertNotEqual(before['11.4'].inputs_hash,
                            after['11.4'].inputs_hash)
        self.assertEqual(generic.inputs_hash,
                         self.plan(datastore='generic').inputs_hash)

    def test_an_agent_pin_or_constraint_rebuilds_everything(self):
        plans = [self.plan(), self.plan(datastore='generic')]
        constraints = base.write(os.path.join(self.tmp, 'uc.txt'),
                                 'oslo.messaging===14.0.0\n')
        for kw in ({'guest_agent_version': '25.1.0'},
                   {'constraints': constraints}):
            for plan in plans:
                other = self.plan(datastore=plan.request.datastore, **kw)
                self.assertNotEqual(plan.base.inputs_hash,
                                    other.base.inputs_hash)
                self.assertNotEqual(plan.inputs_hash, other.inputs_hash)

    def test_wheel_cache_passed_but_not_hashed(self):
        on, off = self.plan(), self.plan(wheel_cache=False)
        self.assertEqual('1', on.command.env['DIB_TROVE_WHEEL_CACHE'])
        self.assertEqual('0', off.command.env['DIB_TROVE_WHEEL_CACHE'])
        # The same wheels either way: the image is the same.
        self.assertEqual(on.inputs_hash, off.inputs_hash)

    def test_pip_settings(self):
        ca = base.write(os.path.join(self.tmp, 'ca.pem'), 'x')
        env = self.plan(pip_index_url='https://pypi.example/simple',
                        pip_ca_bundle=ca).command.env
        self.assertEqual('https://pypi.example/simple',
                         env['DIB_TROVE_PIP_INDEX_URL'])
        self.assertEqual(ca, env['DIB_TROVE_PIP_CA_BUNDLE'])
        e = self.assertRaises(errors.InputError, self.plan,
                              pip_ca_bundle='/nonexistent.pem')
        self.assertIn('pip CA bundle not found', str(e))
        # Where packages come from does not change the image.
        self.assertEqual(self.plan().inputs_hash,
                         self.plan(pip_ca_bundle=ca).inputs_hash)

    def test_index_url_with_credentials_is_never_a_dib_variable(self):
        secret = 'https://deploy:s3cret@pypi.example/simple'
        for index in (secret, 'https://glpat-s3cret@pypi.example/simple',
                      'https://pypi.example/simple?token=s3cret'):
            plan = self.plan(pip_index_url=index)
            env = plan.command.env
            self.assertNotIn('s3cret', json.dumps(env))
            self.assertNotIn('s3cret', plan.command.shell())
            path = os.path.join(plan.base.tmp_dir, build.PIP_INDEX_FILE)
            self.assertEqual(path, env['DIB_TROVE_PIP_INDEX_FILE'])
            self.assertEqual(((path, index),), plan.base.secrets)
            self.assertNotIn('DIB_TROVE_PIP_INDEX_URL', env)

    def test_staged_index_file_is_private_and_removed(self):
        # A stand-in DIB reports what it was given, then fails.
        base.write(self.base_req['disk_image_create'], '''#!/bin/sh
            f=$DIB_TROVE_PIP_INDEX_FILE
            echo "mode $(stat -c %a "$f") owner $(stat -c %u "$f")"
            grep -q s3cret "$f" && echo "file has it"
            env | grep -c s3cret
            exit 3
            ''', mode=0o755)
        plan = self.plan(
            pip_index_url='https://deploy:s3cret@pypi.example/simple')
        self.useFixture(fixtures.MockPatchObject(build.host,
                                                 'require_root'))
        self.useFixture(fixtures.MockPatchObject(build.host,
                                                 'check_build_host'))
        self.useFixture(fixtures.MockPatchObject(build.sweep, 'release'))
        self.assertRaises(errors.BuildFailed, build.execute, plan)
        with open(plan.log_path) as f:
            log = f.read()
        self.assertIn('mode 600 owner %d\nfile has it\n0\n' % os.getuid(),
                      log)
        self.assertNotIn('s3cret', log)
        self.assertFalse(os.path.exists(plan.base.tmp_dir))
        self.assertFalse(os.path.exists(plan.tmp_dir))
        self.assertEqual(0o640, os.stat(plan.log_path).st_mode & 0o777)

    def test_pip_settings_from_host(self):
        ca = base.write(os.path.join(self.tmp, 'ca.pem'), 'x')
        with mock.patch.object(build.host, 'pip_ca_bundle',
                               return_value=ca), \
                mock.patch.object(build.host, 'pip_index_url',
                                  return_value=None):
            env = self.plan(pip_from_host=True).command.env
        self.assertEqual(ca, env['DIB_TROVE_PIP_CA_BUNDLE'])
        self.assertNotIn('DIB_TROVE_PIP_INDEX_URL', env)

    def test_request_from_conf_flags_win(self):
        conf = self.make_conf(build={'datastore': 'mysql', 'release': 'x',
                                     'output_dir': '/srv/images'},
                              guest_agent={'version': '25.0.0'})
        req = build.Request.from_conf(conf, release='trixie',
                                      datastore=None)
        self.assertEqual('mysql', req.datastore)
        self.assertEqual('trixie', req.release)
        self.assertEqual('/srv/images', req.output_dir)
        self.assertEqual('25.0.0', req.guest_agent_version)


class TestCache(PlanTestBase):

    def _fake_built(self, plan, content=b'image-bytes', fingerprint=True):
        os.makedirs(self.out, exist_ok=True)
        with open(plan.image_path, 'wb') as f:
            f.write(content)
        data = dict(plan.facts, size=len(content),
                    sha256=manifest.sha256_file(plan.image_path))
        if fingerprint:
            data['fingerprint'] = build.settled_fingerprint(
                plan.image_path)
        manifest.write(plan.image_path, data)

    def test_unchanged_file_is_not_hashed_again(self):
        plan = self.plan()
        self._fake_built(plan)
        with mock.patch.object(build.manifest, 'sha256_file') as sha:
            self.assertTrue(build.cached_result(plan).cached)
        sha.assert_not_called()

    def test_without_fingerprint_the_file_is_hashed(self):
        plan = self.plan()
        self._fake_built(plan, fingerprint=False)
        with mock.patch.object(build.manifest, 'sha256_file',
                               wraps=manifest.sha256_file) as sha:
            self.assertTrue(build.cached_result(plan).cached)
        sha.assert_called_once_with(plan.image_path)

    def test_rewritten_with_same_bytes_is_still_a_hit(self):
        plan = self.plan()
        self._fake_built(plan)
        with open(plan.image_path, 'r+b') as f:
            f.write(b'i')  # same byte: ctime moves, content does not
        self.assertTrue(build.cached_result(plan).cached)

    def test_hit_when_inputs_and_image_match(self):
        plan = self.plan()
        self._fake_built(plan)
        with mock.patch.object(build.host, 'require_root') as root:
            result = build.execute(plan)
        self.assertTrue(result.cached)
        root.assert_not_called()

    def test_miss_on_changed_inputs(self):
        self._fake_built(self.plan())
        self.assertIsNone(build.cached_result(self.plan(image_size=3)))

    def test_miss_on_corrupted_image(self):
        plan = self.plan()
        self._fake_built(plan)
        with open(plan.image_path, 'r+b') as f:
            f.write(b'X')  # same size, different bytes
        self.assertIsNone(build.cached_result(plan))
        os.unlink(plan.image_path)
        self.assertIsNone(build.cached_result(plan))

    def test_force_skips_cache_and_needs_root(self):
        plan = self.plan()
        self._fake_built(plan)
        with mock.patch('os.geteuid', return_value=1000):
            e = self.assertRaises(errors.HostError, build.execute, plan,
                                  force=True)
        self.assertIn('needs root', str(e))


class TestKeepRules(PlanTestBase):
    """The validation rules of the image's trove, kept beside it."""

    RULES = '{"configuration-parameters": [{"name": "max_connections"}]}'

    def _fake_dib(self, plan, exported):
        def run(command, log_path, **kwargs):
            with open(plan.base.partial_image, 'wb') as f:
                f.write(b'image-bytes')
            # What the element's cleanup.d step leaves for the build.
            out = command.env['DIB_TROVE_VALIDATION_RULES_DIR']
            for manager, text in exported.items():
                base.write(os.path.join(out, manager + '.json'), text)
            base.write(os.path.join(out, 'trove-version'), '26.0.0\n')
        return run

    def execute(self, plan, exported):
        with mock.patch.object(build.host, 'require_root'), \
                mock.patch.object(build.host, 'check_build_host'), \
                mock.patch.object(build.sweep, 'release'), \
                fake_layers(), \
                mock.patch.object(build.dib.Command, 'run', autospec=True,
                                  side_effect=self._fake_dib(plan,
                                                             exported)):
            return build.execute(plan)

    def test_manifest_records_the_managers_rules(self):
        plan = self.plan()
        self.assertEqual(('mariadb',), plan.rules_managers)
        result = self.execute(plan, {'mariadb': self.RULES,
                                     'mysql': self.RULES})
        kept = os.path.join(
            self.out, 'trove-debian-bookworm-mariadb-10.11'
                      '.mariadb.validation-rules.json')
        with open(kept) as f:
            self.assertEqual(self.RULES, f.read())
        self.assertEqual({'trove_version': '26.0.0', 'files': {'mariadb': {
            'file': os.path.basename(kept), 'from': 'image',
            'sha256': manifest.sha256_file(kept)}}},
            manifest.read(result.image_path)['validation_rules_files'])
        # the export directory went with the other partial files
        self.assertEqual([], [n for n in os.listdir(self.out)
                              if '.partial' in n])

    def test_generic_keeps_every_catalogue_manager(self):
        plan = self.plan(datastore='generic')
        self.assertEqual(('mariadb',), plan.rules_managers)

    def test_dev_mode_falls_back_to_the_local_tree(self):
        src = os.path.join(self.tmp, 'trove')
        base.write(os.path.join(src, 'trove', '__init__.py'), '')
        base.write(os.path.join(src, 'trove', 'templates', 'mariadb',
                                'validation-rules.json'), self.RULES)
        plan = self.plan(dev_mode=True, guest_agent_source=src)
        record = self.execute(plan, {}).manifest['validation_rules_files']
        self.assertEqual('source tree', record['files']['mariadb']['from'])
        # The base keeps the rules of every manager, the image its own.
        base_record = manifest.read(plan.base.image_path)[
            'validation_rules_files']
        self.assertEqual(['mariadb'], sorted(base_record['files']))

    def test_no_rules_is_said_not_fatal(self):
        plan = self.plan()
        said = []
        with mock.patch.object(build.rules_mod, 'exported',
                               return_value=({}, '26.0.0')):
            record = build.keep_rules(plan.base, said.append)
        self.assertEqual({}, record['files'])
        self.assertIn('no validation rules for mariadb', said[0])


class TestPackedBase(PlanTestBase):
    """qcow2 layers patch one compressed copy of the base."""

    def setUp(self):
        super().setUp()
        for name, target in (('require_root', build.host),
                             ('check_build_host', build.host),
                             ('release', build.sweep)):
            self.useFixture(fixtures.MockPatchObject(target, name))
        self.useFixture(fixtures.MockPatchObject(
            build, 'keep_rules', return_value={}))
        self.useFixture(fixtures.MockPatchObject(
            build.dib.Command, 'run', autospec=True,
            side_effect=self.fake_dib))

    def fake_dib(self, command, log_path, **kwargs):
        out = command.argv[command.argv.index('-o') + 1]
        base.write(out + '.raw', 'base-bytes')

    def build(self, plan, said=None):
        with fake_layers(said):
            return build.execute(plan).manifest

    def steps(self, said):
        return [name for name, _args in said]

    def test_packed_once_then_every_layer_patches_a_copy(self):
        said = []
        first = self.build(self.plan(), said)
        second = self.build(self.plan(version='11.4'), said)
        self.assertEqual(['pack', 'write', 'diff', 'apply',
                          'write', 'diff', 'apply'], self.steps(said))
        base_plan = self.plan().base
        packed = manifest.read(base_plan.image_path)[build.PACKED_KEY]
        self.assertEqual(manifest.sha256_file(base_plan.image_path),
                         packed['base_sha256'])
        self.assertEqual(manifest.sha256_file(base_plan.packed_path),
                         packed['sha256'])
        for facts in (first, second):
            self.assertEqual('patched', facts['layer_method'])
        # the diff is against the base, then into the image's own copy
        diff_args = [args for name, args in said if name == 'diff'][0]
        self.assertEqual(base_plan.image_path, diff_args[0])
        apply_args = [args for name, args in said if name == 'apply'][0]
        self.assertEqual(self.plan().partial_image, apply_args[1])

    def test_a_packed_copy_of_an_older_base_is_made_again(self):
        self.build(self.plan())
        base_plan = self.plan().base
        data = manifest.read(base_plan.image_path)
        data[build.PACKED_KEY]['base_sha256'] = 'other'
        manifest.write(base_plan.image_path, data)
        said = []
        self.build(self.plan(version='11.4'), said)
        self.assertEqual('pack', self.steps(said)[0])

    def test_a_corrupt_packed_base_is_made_again_once(self):
        self.build(self.plan())
        packed_path = self.plan().base.packed_path
        with open(packed_path, 'r+b') as f:
            f.write(b'X')
        said, msgs = [], []
        with fake_layers(said):
            build.execute(self.plan(version='11.4'),
                          progress=msgs.append)
        self.assertEqual('pack', self.steps(said)[0])
        self.assertTrue(any('does not match' in m for m in msgs), msgs)
        with open(packed_path, 'rb') as f:
            self.assertEqual(b'base-bytes', f.read())

    def test_a_base_copy_that_does_not_match_rebuilds_it_once(self):
        self.build(self.plan())
        msgs, outcomes, copies = [], iter([False]), []
        real = build.layer.copy_checked

        def checked(src, dest, sha256):
            copies.append(src)
            if next(outcomes, True):
                return real(src, dest, sha256)
            open(dest, 'wb').close()  # the first copy came out wrong
            return False

        with fake_layers(), mock.patch.object(
                build.layer, 'copy_checked', side_effect=checked):
            build.execute(self.plan(version='11.4'), progress=msgs.append)
        self.assertEqual(2, build.dib.Command.run.call_count)
        self.assertTrue(any(m.endswith('does not match the sha256 in its '
                                       'manifest; rebuilding it')
                            for m in msgs), msgs)
        # The rebuilt base was copied by the read that hashed it.
        base_path = self.plan().base.image_path
        self.assertEqual(1, copies.count(base_path))

    def test_a_base_built_now_is_read_once(self):
        hashed = []
        real = build.manifest.sha256_file

        def sha256_file(path):
            hashed.append(path)
            return real(path)

        with mock.patch.object(build.layer, 'copy_checked',
                               wraps=build.layer.copy_checked) as checked, \
                mock.patch.object(build.manifest, 'sha256_file',
                                  side_effect=sha256_file):
            facts = self.build(self.plan())
        base_plan = self.plan().base
        self.assertNotIn(base_plan.image_path,
                         [c.args[0] for c in checked.call_args_list])
        self.assertNotIn(base_plan.partial_image, hashed)
        with open(base_plan.image_path, 'rb') as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                             facts['base']['sha256'])

    def test_a_packed_base_that_never_matches_is_a_build_failure(self):
        self.build(self.plan())
        real = build.layer.copy_checked

        def wrong(src, dest, sha256):
            if not src.endswith('.qcow2'):
                return real(src, dest, sha256)
            open(dest, 'wb').close()
            return False

        with fake_layers(), mock.patch.object(
                build.layer, 'copy_checked', side_effect=wrong):
            e = self.assertRaises(errors.BuildFailed, build.execute,
                                  self.plan(version='11.4'))
        self.assertIn('is the disk failing?', str(e))
        self.assertEqual(1, build.dib.Command.run.call_count)

    def test_archives_and_raw_are_not_patched(self):
        said = []
        facts = self.build(self.plan(fmt='raw'), said)
        self.assertEqual(['write'], self.steps(said))
        self.assertEqual('converted', facts['layer_method'])
        self.assertFalse(os.path.exists(self.plan().base.packed_path))
        # archives are compressed with the rest: converted whole
        said = []
        with mock.patch.object(build.containers, 'load_library'):
            facts = self.build(dataclasses.replace(
                self.plan(), archives=('archive',)), said)
        self.assertEqual(['write', 'convert'], self.steps(said))
        self.assertEqual('converted', facts['layer_method'])


class TestExecuteAll(PlanTestBase):
    """Several images: each base once, then layers up to jobs at a time."""

    def setUp(self):
        super().setUp()
        self.bases = []
        self.useFixture(fixtures.MockPatchObject(
            build, 'ensure_base', side_effect=lambda plan, *a: (
                self.bases.append(plan.base.image_path))))
        self.running = self.peak = 0
        self.lock = threading.Lock()

    def fake_execute(self, fail=None):
        def execute(plan, force, rebuild_base, progress, builder_version,
                    cancel):
            self.assertFalse(rebuild_base)  # the base was made just before
            with self.lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                progress('layer')
                if plan.name == fail:
                    raise errors.BuildFailed('broken layer')
                if fail:
                    # The others run until cancelled.
                    self.assertTrue(cancel.wait(10))
                    raise errors.Interrupted('cancelled')
                time.sleep(0.2)
                return plan.name
            finally:
                with self.lock:
                    self.running -= 1
        return execute

    def plans(self):
        return [self.plan(), self.plan(version='11.4'),
                self.plan(datastore='generic')]

    def test_one_base_then_layers_within_the_limit(self):
        said = []
        with mock.patch.object(build, 'execute',
                               side_effect=self.fake_execute()):
            results = build.execute_all(self.plans(), jobs=2,
                                        progress=said.append)
        self.assertEqual(['trove-debian-bookworm-mariadb-10.11',
                          'trove-debian-bookworm-mariadb-11.4',
                          'trove-debian-bookworm-generic'], results)
        self.assertEqual([self.plans()[0].base.image_path], self.bases)
        self.assertEqual(2, self.peak)
        self.assertIn('[trove-debian-bookworm-generic] layer', said)

    def test_a_failed_layer_cancels_the_others(self):
        with mock.patch.object(build, 'execute', side_effect=self.fake_execute(
                fail='trove-debian-bookworm-mariadb-11.4')):
            e = self.assertRaises(errors.BuildFailed, build.execute_all,
                                  self.plans(), jobs=3)
        self.assertEqual('broken layer', str(e))
        self.assertEqual(0, self.running)

    def test_up_to_date_images_need_no_base(self):
        plans = self.plans()
        with mock.patch.object(build, 'cached_result',
                               side_effect=lambda plan: 'hit'), \
                mock.patch.object(build, 'execute') as execute:
            self.assertEqual(['hit'] * 3, build.execute_all(plans))
        execute.assert_not_called()
        self.assertEqual([], self.bases)
