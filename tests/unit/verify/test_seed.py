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

import base64
import configparser
import json
import os
import subprocess

from tests.unit import base
from trove_image_builder.verify import seed


def cfg(**kw):
    values = dict(manager='mariadb', datastore_version='10.11.11',
                  docker_image='mariadb', service_wait=120)
    values.update(kw)
    return seed.GuestConfig(**values)


def cloud_config(text):
    first, _nl, rest = text.partition('\n')
    assert first == '#cloud-config', first
    return json.loads(rest)


class TestInjectedFiles(base.TestCase):

    def test_guest_info_like_trove(self):
        c = cfg()
        parser = configparser.ConfigParser()
        parser.read_string(seed.guest_info(c))
        d = parser['DEFAULT']
        self.assertEqual(c.guest_id, d['guest_id'])
        self.assertEqual('mariadb', d['datastore_manager'])
        self.assertEqual('10.11.11', d['datastore_version'])
        self.assertEqual(c.tenant_id, d['tenant_id'])
        self.assertEqual('mariadb:trove.guestagent.datastore.mariadb.'
                         'manager.Manager', d['datastore_registry_ext'])
        self.assertEqual('False', d['network_isolation'])

    def test_unknown_manager_has_no_registry_ext(self):
        self.assertNotIn('datastore_registry_ext',
                         seed.guest_info(cfg(manager='redis')))

    def test_guestagent_conf_talks_to_nothing_outside(self):
        parser = configparser.ConfigParser()
        parser.read_string(seed.guestagent_conf(cfg(), 'S3CRET'))
        d = parser['DEFAULT']
        self.assertEqual('True', d['debug'])
        self.assertEqual(seed.AGENT_LOG,
                         os.path.join(d['log_dir'], d['log_file']))
        self.assertEqual('rabbit://verify:S3CRET@127.0.0.1:5672/',
                         d['transport_url'])
        self.assertEqual('mariadb', parser['mariadb']['docker_image'])

    def test_fresh_ids_per_instance(self):
        a, b = cfg(), cfg()
        self.assertNotEqual(a.guest_id, b.guest_id)
        self.assertNotEqual(a.nonce, b.nonce)
        self.assertRegex(a.mac, r'^fa:16:3e(:[0-9a-f]{2}){3}$')


class TestUserData(base.TestCase):

    def test_write_files_as_trove_does_plus_the_check(self):
        c = cfg()
        doc = cloud_config(seed.user_data(c))
        files = {f['path']: f for f in doc['write_files']}
        info = files['/etc/trove/conf.d/guest_info.conf']
        self.assertEqual(('b64', 'ubuntu:root'),
                         (info['encoding'], info['owner']))
        self.assertEqual(seed.guest_info(c),
                         base64.b64decode(info['content']).decode())
        agent = files['/etc/trove/conf.d/trove-guestagent.conf']
        self.assertIn('transport_url = rabbit://verify:',
                      base64.b64decode(agent['content']).decode())
        with open(seed.CHECK_SCRIPT, encoding='utf-8') as f:
            self.assertEqual(f.read(),
                             files['/run/tib-verify/check']['content'])
        params = files['/run/tib-verify/params']['content']
        self.assertIn('nonce=%s\n' % c.nonce, params)
        self.assertIn('guest_id=%s\n' % c.guest_id, params)
        self.assertIn('wait_s=120\n', params)
        self.assertEqual([['systemd-run', '--unit=tib-verify', '--no-block',
                           '/bin/bash', '/run/tib-verify/check']],
                         doc['runcmd'])

    def test_owner_follows_injected_config_owner(self):
        doc = cloud_config(seed.user_data(cfg(owner='trove')))
        self.assertEqual({'trove:root'}, {f['owner'] for f in
                                          doc['write_files']
                                          if 'owner' in f})

    def test_broker_secret_is_random(self):
        def secret(c):
            doc = cloud_config(seed.user_data(c))
            conf = [f for f in doc['write_files']
                    if f['path'].endswith('trove-guestagent.conf')][0]
            text = base64.b64decode(conf['content']).decode()
            return text.split('rabbit://verify:')[1].split('@')[0]
        c = cfg()
        self.assertNotEqual(secret(c), secret(c))

    def test_check_script_is_valid_bash(self):
        out = subprocess.run(['bash', '-n', seed.CHECK_SCRIPT],
                             capture_output=True, text=True)
        self.assertEqual(0, out.returncode, out.stderr)
        # The markers' check names are the ones verify expects.
        for name in ('cloud-init', 'agent-config', 'images-end', 'done',
                     'wait_unit docker', 'wait_unit guest-agent'):
            self.assertIn(name, seed.check_script())


class TestTree(base.TestCase):

    def test_config_drive_layout(self):
        c = cfg()
        root = seed.write_tree(os.path.join(self.tmp, 'cd'), c,
                               seed.CONFIG_DRIVE)
        latest = os.path.join(root, 'openstack', 'latest')
        self.assertEqual(['meta_data.json', 'network_data.json',
                          'user_data'], sorted(os.listdir(latest)))
        with open(os.path.join(latest, 'meta_data.json')) as f:
            meta = json.load(f)
        self.assertEqual(c.guest_id, meta['uuid'])
        with open(os.path.join(latest, 'network_data.json')) as f:
            net = json.load(f)
        self.assertEqual(c.mac, net['links'][0]['ethernet_mac_address'])
        self.assertEqual('ipv4_dhcp', net['networks'][0]['type'])

    def test_nocloud_layout(self):
        c = cfg()
        root = seed.write_tree(os.path.join(self.tmp, 'nc'), c,
                               seed.NOCLOUD)
        self.assertEqual(['meta-data', 'user-data'],
                         sorted(os.listdir(root)))
        with open(os.path.join(root, 'meta-data')) as f:
            self.assertIn('instance-id: %s' % c.guest_id, f.read())

    def test_iso_command(self):
        argv = seed.iso_command('/src', 'config-2', '/out.iso')
        self.assertIn('-volid', argv)
        self.assertEqual('config-2', argv[argv.index('-volid') + 1])
        self.assertEqual('/src', argv[-1])

    def test_build_makes_a_labelled_iso(self):
        base.require_tool(self, 'genisoimage')
        for kind, label in seed.LABELS.items():
            out_dir = os.path.join(self.tmp, kind)
            os.makedirs(out_dir)
            iso = seed.build(out_dir, cfg(), kind)
            with open(iso, 'rb') as f:
                f.seek(16 * 2048 + 40)  # primary volume descriptor's id
                self.assertEqual(label, f.read(32).decode().strip())
