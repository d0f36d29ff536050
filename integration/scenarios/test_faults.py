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

"""Every fault of issue 3, against the real services.

Each case: a one-line error, a non-zero exit, no traceback, and the
cloud left as the issue says (nothing half-made in Glance, nothing
registered, or the image kept for a re-run).
"""

import os
import re
import subprocess
import threading
import time

from integration.scenarios import base
from trove_image_builder import errors

DS = base.TEST_DATASTORE


class FaultTestCase(base.ScenarioTestCase):

    def image(self, mib=8, version='1.0', **extra):
        name = 'tib-fault-%s' % self.unique
        path = base.make_qcow2(os.path.join(self.tmp, name + '.qcow2'), mib)
        version = '%s-%s' % (version, self.unique) if version else None
        base.write_manifest(path, DS if version else 'generic', version,
                            **extra)
        if version:
            self.delete_version_later(DS, version)
        return path, name, version

    def nothing_in_glance(self, name):
        images = self.images_named(name)
        self.assertEqual([], images, 'left in Glance: %s' % images)


class TestGlanceFaults(FaultTestCase):

    def test_glance_down_before_upload(self):
        path, name, version = self.image()
        self.ensure_running('glance')
        self.cloud.stop('glance')
        res = self.load(path)
        self.assertOneLineError(res, errors.CloudError.exit_code,
                                'cannot reach Glance')
        self.cloud.start('glance')
        self.nothing_in_glance(name)
        self.assertIsNone(self.version_row(DS, version))

    def test_glance_killed_mid_upload(self):
        # Big enough that the upload is still running when Glance dies.
        path, name, version = self.image(mib=400)
        self.ensure_running('glance')
        store = self.cloud.lay.path('glance', 'images')
        before = set(os.listdir(store))
        proc = subprocess.Popen(
            self.tool_argv('load', path, '--os-cloud', base.ADMIN),
            env=self.tool_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        outcome = {}
        reader = threading.Thread(target=lambda: outcome.update(
            zip(('out', 'err'), proc.communicate())))
        reader.start()
        killed = False
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            growing = [f for f in set(os.listdir(store)) - before
                       if _size(os.path.join(store, f)) > 20 * 2 ** 20]
            if growing:
                self.kill_service('glance')
                killed = True
                break
            time.sleep(0.05)
        self.assertTrue(killed, 'the upload ended before Glance was killed')
        # Glance comes back while the tool still tries to clean up.
        time.sleep(1)
        self.cloud.start('glance')
        reader.join(timeout=180)
        self.assertFalse(reader.is_alive())
        res = base.Result(subprocess.CompletedProcess(
            proc.args, proc.returncode, outcome['out'], outcome['err']))
        self.assertOneLineError(res, errors.UploadFailed.exit_code,
                                'upload of %s failed' % name,
                                'nothing left in Glance')
        self.nothing_in_glance(name)
        self.assertIsNone(self.version_row(DS, version))

    def test_corrupt_file(self):
        path, name, _version = self.image()
        # Flip bytes in the data area: still a valid qcow2, wrong content.
        with open(path, 'r+b') as f:
            f.seek(os.path.getsize(path) - 4096)
            f.write(os.urandom(64))
        res = self.load(path)
        self.assertOneLineError(res, errors.InputError.exit_code,
                                'corrupt image', 'nothing left in Glance')
        self.nothing_in_glance(name)

    def test_format_mismatch(self):
        path, name, _version = self.image(format='raw')
        res = self.load(path)
        self.assertOneLineError(res, errors.InputError.exit_code,
                                'format mismatch', 'is qcow2')
        raw = os.path.join(self.tmp, 'plain.img')
        subprocess.run(['qemu-img', 'convert', '-q', '-O', 'raw', path, raw],
                       check=True)
        res = self.load(raw, '--disk-format', 'qcow2', '--no-register')
        self.assertOneLineError(res, errors.InputError.exit_code,
                                'format mismatch', 'is raw')
        self.nothing_in_glance(name)
        self.nothing_in_glance('plain')

    def test_bad_credentials(self):
        path, name, _version = self.image()
        with open(self.cloud.clouds_yaml) as f:
            text = f.read()
        bad = os.path.join(self.tmp, 'clouds.yaml')
        secret = 'not-the-password-%s' % self.unique
        with open(bad, 'w') as f:
            f.write('\n'.join(
                '      password: "%s"' % secret
                if line.strip().startswith('password:') else line
                for line in text.splitlines()) + '\n')
        res = self.load(path, clouds_yaml=bad)
        self.assertOneLineError(res, errors.CloudError.exit_code,
                                'authentication failed')
        self.assertNotIn(secret, res.err)
        self.nothing_in_glance(name)


class TestTroveFaults(FaultTestCase):

    def test_trove_down_keeps_image_and_rerun_finishes(self):
        path, name, version = self.image()
        self.ensure_running('trove')
        self.cloud.stop('trove')
        res = self.load(path)
        self.assertOneLineError(res, errors.RegisterFailed.exit_code,
                                'is in Glance and stays there',
                                'cannot reach Trove')
        images = self.images_named(name)
        self.assertEqual(['active'], [i['Status'] for i in images])
        self.delete_image_later(images[0]['ID'])
        self.cloud.start('trove')
        res = self.load(path)
        self.assertEqual(0, res.rc, res)
        data = res.json()
        self.assertFalse(data['uploaded'])
        self.assertEqual(images[0]['ID'], data['image_id'])
        self.assertIn('not uploaded again', res.err)
        self.assertIsNotNone(self.version_row(DS, version))

    def test_trove_refuses_non_admin_then_bad_manager(self):
        path, name, version = self.image()
        # The demo user may upload but not register: Trove says why.
        res = self.load(path, cloud=base.DEMO)
        self.assertOneLineError(res, errors.RegisterFailed.exit_code,
                                'is in Glance and stays there',
                                'admin privileges')
        demo_images = self.openstack('image', 'list', '--name', name,
                                     cloud=base.DEMO)
        self.assertEqual(1, len(demo_images))
        self.addCleanup(self.openstack, 'image', 'delete',
                        demo_images[0]['ID'], cloud=base.DEMO, parse=False,
                        check=False)
        # Trove fails on a manager it does not know (HTTP 500).
        res = self.load(path, '--manager', 'no-such-manager')
        line = self.assertOneLineError(res, errors.RegisterFailed.exit_code,
                                       'is in Glance and stays there',
                                       'Trove answered HTTP')
        kept = re.search(r'image (\S+) is in Glance', line).group(1)
        self.delete_image_later(kept)
        self.assertEqual('active', self.openstack('image', 'show',
                                                  kept)['status'])
        self.assertIsNone(self.version_row(DS, version))
        res = self.load(path)
        self.assertEqual(0, res.rc, res)
        self.assertFalse(res.json()['uploaded'])
        self.assertEqual(kept, res.json()['image_id'])
        self.assertIsNotNone(self.version_row(DS, version))

    def test_version_registered_with_another_image_is_updated(self):
        path, name, version = self.image()
        res = self.load(path, '--register-by', 'id')
        self.assertEqual(0, res.rc, res)
        first = res.json()['image_id']
        self.delete_image_later(first)
        other = base.make_qcow2(os.path.join(self.tmp, 'other.qcow2'), 4)
        base.write_manifest(other, DS, version)
        res = self.load(other, '--register-by', 'id')
        self.assertEqual(0, res.rc, res)
        second = res.json()['image_id']
        self.delete_image_later(second)
        self.assertNotEqual(first, second)
        self.assertTrue(res.json()['registration'].startswith('updated'))
        self.assertIn('was already registered (image %s); updated: image '
                      '%s -> image %s' % (first, first, second), res.err)
        row = self.version_row(DS, version)
        shown = self.openstack('datastore', 'version', 'show', row['ID'])
        self.assertEqual(second, shown['image'])
        self.assertEqual(1, len([v for v in self.openstack(
            'datastore', 'version', 'list', DS) if v['Name'] == version]))


class TestActivateFaults(FaultTestCase):

    def test_unknown_version_and_missing_image_keep_default(self):
        path, _name, version = self.image()
        res = self.load(path, '--register-by', 'id')
        self.assertEqual(0, res.rc, res)
        image_id = res.json()['image_id']
        self.delete_image_later(image_id)
        res = self.activate(DS, version)
        self.assertEqual(0, res.rc, res)
        self.assertEqual(version, self.openstack(
            'datastore', 'show', DS)['default_version'])

        res = self.activate(DS, 'no-such-version')
        self.assertOneLineError(res, errors.Refused.exit_code,
                                'no-such-version is not registered')
        res = self.activate(DS, 'no-such-version', '--registrar', 'manage')
        self.assertOneLineError(res, errors.Refused.exit_code,
                                'no-such-version is not registered')

        # A second version whose image then disappears from Glance.
        other, _n, version2 = self.image(version='2.0')
        res = self.load(other, '--register-by', 'id')
        self.assertEqual(0, res.rc, res)
        self.openstack('image', 'delete', res.json()['image_id'],
                       parse=False)
        for registrar in ('api', 'manage'):
            res = self.activate(DS, version2, '--registrar', registrar)
            self.assertOneLineError(res, errors.Refused.exit_code,
                                    'missing from Glance')
        self.assertEqual(version, self.openstack(
            'datastore', 'show', DS)['default_version'])


class TestManageRegistrar(FaultTestCase):

    def test_load_and_activate_with_trove_manage(self):
        path, name, version = self.image()
        res = self.load(path, '--registrar', 'manage', '--validation-rules',
                        self.rules_file('mariadb'))
        self.assertEqual(0, res.rc, res)
        data = res.json()
        self.delete_image_later(data['image_id'])
        self.assertEqual('created 40, modified 0, deleted 0, unchanged 0, '
                         'skipped 0 of 40', data['config_parameters'])
        row = self.version_row(DS, version)
        shown = self.openstack('datastore', 'version', 'show', row['ID'])
        self.assertEqual(['trove', DS, '%s-%s' % (DS, version)],
                         shown['image_tags'])
        res = self.activate(DS, version, '--registrar', 'manage')
        self.assertEqual(0, res.rc, res)
        self.assertEqual(version, self.openstack(
            'datastore', 'show', DS)['default_version'])
        res = self.load(path, '--registrar', 'manage')
        self.assertEqual(0, res.rc, res)
        self.assertTrue(res.json()['registration'].startswith('unchanged'))


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
