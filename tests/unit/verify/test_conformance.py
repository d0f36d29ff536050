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

import configparser
import io
import json
import os
import queue
import tarfile
import tempfile
import time
from unittest import mock

from tests.unit import base
from trove_image_builder.build import containerimage
from trove_image_builder.build.containerimage import archive
from trove_image_builder import catalog
from trove_image_builder import errors
from trove_image_builder.verify import broker
from trove_image_builder.verify import conformance
from trove_image_builder.verify import conformance_driver as driver
from trove_image_builder.verify import qemu
from trove_image_builder.verify import seed

ELEMENTS = base.ELEMENTS


def manifest_data(**kw):
    data = {'datastore': 'mariadb', 'datastore_version': '10.11',
            'guest_agent': {'mode': 'pypi', 'version': '26.0.0',
                            'source': 'trove==26.0.0'},
            'container_images': [{'images': [
                {'id': 'sha256:1', 'tags': ['mariadb:10.11.11']}]}],
            'sha256': 'abc'}
    data.update(kw)
    return data


class TestTarget(base.TestCase):

    def setUp(self):
        super().setUp()
        self.cat = catalog.Catalog.load(ELEMENTS)

    def test_spec(self):
        self.assertEqual(('mariadb', '10.11'),
                         catalog.split_spec('mariadb:10.11'))
        self.assertEqual(('postgresql', None),
                         catalog.split_spec('postgresql'))
        self.assertRaises(errors.InputError, catalog.split_spec, '')
        self.assertRaises(errors.InputError, catalog.split_spec, ':10')

    def test_version_from_manifest_then_catalogue(self):
        t = conformance.resolve_target(self.cat, 'mariadb', manifest_data(
            datastore_version='11.4'))
        self.assertEqual(('11.4', '11.4.5', 'mariadb'),
                         (t.version, t.version_number, t.docker_image))
        t = conformance.resolve_target(self.cat, 'postgresql',
                                       manifest_data())
        self.assertEqual('16', t.version)  # the declared default
        self.assertEqual('postgres:16.8', t.container_ref)
        t = conformance.resolve_target(self.cat, 'mariadb:10.11',
                                       manifest_data(), 'tib/other')
        self.assertEqual('tib/other:10.11.11', t.container_ref)
        self.assertRaises(errors.InputError, conformance.resolve_target,
                          self.cat, 'mariadb:9', manifest_data())

    def test_missing_container_image_fails_before_boot(self):
        t = conformance.resolve_target(self.cat, 'mariadb:11.4', None)
        exc = self.assertRaises(errors.VerifyFailed,
                                conformance.check_container_image, t,
                                manifest_data())
        self.assertEqual(10, exc.exit_code)
        self.assertIn('mariadb:11.4.5 is not embedded', str(exc))
        self.assertIn('it has: mariadb:10.11.11', str(exc))
        ok = conformance.resolve_target(self.cat, 'mariadb:10.11', None)
        conformance.check_container_image(ok, manifest_data())

    def test_agent_source(self):
        self.assertEqual(('trove==26.0.0', 'trove-26.0.0'),
                         conformance.agent_source(manifest_data()))
        self.assertRaises(errors.InputError, conformance.agent_source,
                          manifest_data(guest_agent={'mode': 'pypi'}))
        tree = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, tree)
        req, name = conformance.agent_source(manifest_data(guest_agent={
            'mode': 'dev', 'source': tree, 'version': 'abc'}))
        self.assertEqual(tree, req)
        self.assertTrue(name.startswith('trove-dev-'))
        self.assertRaises(errors.InputError, conformance.agent_source,
                          manifest_data(guest_agent={
                              'mode': 'dev', 'source': tree + '-gone'}))


class TestGuestSide(base.TestCase):

    def opts(self, **kw):
        return conformance.Options(**kw)

    def test_defaults_are_the_options(self):
        opts = self.opts()
        self.assertEqual(600, opts.state_wait)
        self.assertEqual('trove', opts.control_exchange)
        self.assertEqual('/var/cache/trove-image-builder/conformance',
                         opts.client_venvs)
        self.assertEqual('/v', self.opts(venv_dir='/v').client_venvs)

    def target(self, manager='mariadb'):
        return conformance.Target('mariadb', '10.11', '10.11.11', manager,
                                  'mariadb')

    def test_guest_url_keeps_credentials_changes_address(self):
        self.assertEqual(
            'rabbit://u:p%2Fw@10.0.2.100:5672/',
            conformance._guest_url('rabbit://u:p%2Fw@127.0.0.1:40001/'))
        self.assertEqual(('127.0.0.1', 40001), conformance._broker_address(
            'rabbit://u:p@127.0.0.1:40001/'))

    def test_injected_config_carries_key_broker_and_waits(self):
        key = conformance.random_key()
        self.assertEqual(32, len(key))
        self.assertTrue(key.isalnum())
        cfg = conformance.guest_config(self.target(), self.opts(),
                                       'rabbit://u:p@10.0.2.100:5672/', key)
        info = configparser.ConfigParser()
        info.read_string(seed.guest_info(cfg))
        self.assertEqual(key, info['DEFAULT']['instance_rpc_encr_key'])
        self.assertEqual('10.11.11', info['DEFAULT']['datastore_version'])
        agent = configparser.ConfigParser()
        agent.read_string(seed.guestagent_conf(cfg, 'unused'))
        self.assertEqual('rabbit://u:p@10.0.2.100:5672/',
                         agent['DEFAULT']['transport_url'])
        self.assertEqual('600', agent['DEFAULT']['state_change_wait_time'])
        self.assertEqual('mariadb', agent['mariadb']['docker_image'])
        # No readiness script (the RPC steps are the check); the agent's
        # log goes to the console instead.
        doc = json.loads(seed.user_data(cfg).split('\n', 1)[1])
        self.assertNotIn(seed.CHECK_DIR + '/check',
                         [f['path'] for f in doc['write_files']])
        self.assertEqual(['systemd-run', '--unit=tib-agent-log'],
                         doc['runcmd'][0][:2])

    def test_postgresql_has_no_root_step(self):
        self.assertIn('root', conformance.steps_for('mariadb'))
        self.assertNotIn('root', conformance.steps_for('postgresql'))
        self.assertEqual('client', conformance._pending(
            [{'step': s} for s in conformance.steps_for('postgresql')
             if s != 'client'], conformance.steps_for('postgresql')))

    def test_driver_params_are_the_taskmanagers(self):
        cfg = conformance.guest_config(self.target('postgresql'),
                                       self.opts(), 'url', 'k' * 32)
        p = conformance.driver_params(self.target('postgresql'),
                                      self.opts(), cfg, 'rabbit://host/',
                                      15432)
        self.assertEqual('/var/lib/postgresql', p['mount_point'])
        self.assertEqual('/dev/vdb', p['device_path'])
        self.assertEqual(cfg.guest_id, p['guest_id'])
        self.assertEqual('k' * 32, p['key'])
        self.assertEqual('10.11.11', p['version_number'])
        self.assertEqual(15432, p['db_port'])

    def test_qemu_forwards_only_loopback_and_the_broker_command(self):
        spec = qemu.Spec(
            root='r.qcow2', seed='s.iso', serial_log='c.log', accel='tcg',
            host_forwards=((13306, 3306),),
            guest_forwards=(('10.0.2.100', 5672,
                             'socat STDIO TCP:127.0.0.1:4000'),))
        argv = qemu.argv(spec)
        netdev = argv[argv.index('-netdev') + 1]
        self.assertIn('restrict=on', netdev)
        self.assertIn('hostfwd=tcp:127.0.0.1:13306-:3306', netdev)
        self.assertIn('guestfwd=tcp:10.0.2.100:5672-cmd:socat STDIO '
                      'TCP:127.0.0.1:4000', netdev)


class FakeDriver:
    def __init__(self, lines, code=0):
        self.lines = queue.Queue()
        for line in lines:
            self.lines.put(line)
        self.proc = mock.Mock(wait=mock.Mock(return_value=code))


class TestFollow(base.TestCase):

    opts = mock.Mock(boot_timeout=5, prepare_timeout=5, call_timeout=1)

    def vm(self, code=None):
        return mock.Mock(poll=mock.Mock(return_value=code))

    def test_pass(self):
        said = []
        steps, failed = conformance._follow(FakeDriver([
            {'step': 'listener', 'ok': True, 't': 0.1},
            {'event': 'heartbeat', 'status': 'healthy'},
            {'step': 'rpc_ping', 'ok': True, 'detail': 'x'},
            {'result': 'pass'}]), self.vm(), time.monotonic(), self.opts,
            said.append)
        self.assertIsNone(failed)
        self.assertEqual(['listener', 'rpc_ping'],
                         [s['step'] for s in steps])
        self.assertTrue(any('heartbeat healthy' in m for m in said))

    def test_failed_step_is_the_verdict(self):
        steps, failed = conformance._follow(FakeDriver([
            {'step': 'listener', 'ok': True},
            {'step': 'prepare', 'ok': False, 'detail': 'the agent reported:'
             ' Failed to start'}]), self.vm(), time.monotonic(), self.opts,
            lambda m: None)
        self.assertEqual('prepare', failed['step'])

    def test_driver_death_names_the_pending_step(self):
        steps, failed = conformance._follow(FakeDriver([
            {'step': 'listener', 'ok': True}, None], code=3), self.vm(),
            time.monotonic(), self.opts, lambda m: None)
        self.assertEqual('rpc_ping', failed['step'])
        self.assertIn('exit 3', failed['detail'])

    def test_qemu_exit(self):
        steps, failed = conformance._follow(FakeDriver([]), self.vm(1),
                                            time.monotonic(),
                                            self.opts, lambda m: None)
        self.assertEqual('listener', failed['step'])
        self.assertIn('qemu exited', failed['detail'])


class TestDriverPureParts(base.TestCase):

    def test_names_of_list_answers(self):
        self.assertEqual(['a', 'b'], driver.names(
            ([{'_name': 'b'}, {'_name': 'a'}], None)))
        self.assertEqual(['a'], driver.names([{'name': 'a'}]))

    def test_host_config_is_private(self):
        d = tempfile.mkdtemp()
        self.addCleanup(__import__('shutil').rmtree, d)
        path = os.path.join(d, 'host.conf')
        driver.host_config({'transport_url': 'rabbit://u:p@h:1/',
                            'control_exchange': 'trove',
                            'call_timeout': 77}, path)
        self.assertEqual(0o600, os.stat(path).st_mode & 0o777)
        parsed = configparser.ConfigParser()
        parsed.read(path)
        self.assertEqual('77', parsed['DEFAULT']['agent_call_low_timeout'])

    def test_conductor_records_what_the_guest_casts(self):
        om = mock.Mock()
        c = driver.Conductor(om)
        out = io.StringIO()
        with mock.patch('sys.stdout', out):
            c.heartbeat(None, 'id', {'service_status': 'building'})
            c.heartbeat(None, 'id', {'service_status': 'healthy'})
            c.notify_end(None, {'notification_classname': 'trove.common.'
                                'notification.DBaaSInstanceCreate'}, {})
            c.notify_exc_info(None, {'notification_classname': 'x.'
                                     'DBaaSUserCreate'}, 'boom', ['tb'])
        self.assertEqual('healthy', c.last_status())
        self.assertEqual(['DBaaSInstanceCreate'], c.ends)
        self.assertEqual([('DBaaSUserCreate', 'boom')], c.errors)
        events = [json.loads(line) for line in
                  out.getvalue().splitlines()]
        self.assertEqual('notify_exc_info', events[-1]['event'])
        self.assertRaises(driver.StepFailed, driver._ended, c,
                          'DBaaSUserCreate', 'create_user')
        self.assertFalse(driver._ended(c, 'DBaaSDatabaseCreate', 'x'))


class TestBroker(base.TestCase):

    def test_missing_server_is_a_host_error_with_the_hint(self):
        exc = self.assertRaises(errors.HostError, broker.find_server,
                                '/nonexistent/rabbitmq-server')
        self.assertEqual(3, exc.exit_code)
        self.assertIn('setup-host.sh --tests', str(exc))

    def test_url_quotes_and_never_uses_defaults(self):
        b = broker.Broker('/w')
        b.port = 4000
        self.assertNotIn('guest', b.url())
        self.assertTrue(b.url().startswith('rabbit://tib-'))
        self.assertIn('@10.0.2.100:5672/', b.url('10.0.2.100', 5672))
        self.assertNotEqual(broker.Broker('/w').url(port=4000), b.url())

    def test_config_binds_loopback_and_is_private(self):
        d = tempfile.mkdtemp()
        self.addCleanup(__import__('shutil').rmtree, d)
        b = broker.Broker(d)
        b.home = d
        b._write_files(4000)
        path = os.path.join(d, 'rabbitmq.conf')
        self.assertEqual(0o600, os.stat(path).st_mode & 0o777)
        text = open(path).read()
        self.assertIn('listeners.tcp.default = 127.0.0.1:4000', text)
        env = b._env((4000, 4001, 4002))
        self.assertEqual('127.0.0.1', env['ERL_EPMD_ADDRESS'])
        self.assertEqual('127.0.0.1', env['RABBITMQ_NODE_IP_ADDRESS'])
        self.assertIn('{127,0,0,1}',
                      env['RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS'])

    def test_amqp_ready_false_when_nothing_listens(self):
        self.assertFalse(broker.amqp_ready(broker.free_port(), timeout=0.5))


class TestContainerImage(base.TestCase):

    def setUp(self):
        super().setUp()
        self.cat = catalog.Catalog.load(ELEMENTS)

    def test_recipes_from_the_catalogue(self):
        rec = containerimage.recipe(self.cat, 'mariadb', '10.11')
        self.assertEqual('mariadb:10.11.11', rec.tag)
        self.assertEqual('mariadb_10.11.11.tar', rec.archive_name)
        self.assertEqual(('mariadb-server-core', 'mariadb-client-core'),
                         rec.packages)
        self.assertEqual(['entrypoint.sh', 'healthcheck.sh'],
                         [os.path.basename(p) for p in rec.scripts()])
        pg = containerimage.recipe(self.cat, 'postgresql', '15')
        self.assertEqual('/usr/lib/postgresql/15/bin', pg.path)

    def test_versions_debian_does_not_package_are_one_line_errors(self):
        for ds, ver, why in (('mysql', '8.4', 'Debian does not package '
                              'MySQL'),
                             ('postgresql', '16', 'PostgreSQL 15 only'),
                             ('mariadb', '11.4', 'MariaDB 10.11 only')):
            exc = self.assertRaises(errors.InputError, containerimage.recipe,
                                    self.cat, ds, ver)
            self.assertIn(why, str(exc))
            self.assertIn('--embed-container-image', str(exc))
            self.assertNotIn('\n', str(exc))

    def test_inputs_hash_follows_recipe_mirror_and_scripts(self):
        rec = containerimage.recipe(self.cat, 'mariadb', '10.11')
        h = containerimage.inputs_hash(rec, 'http://m/debian')
        self.assertEqual(h, containerimage.inputs_hash(rec,
                                                       'http://m/debian'))
        self.assertNotEqual(h, containerimage.inputs_hash(rec, 'http://o'))
        other = containerimage.recipe(self.cat, 'mariadb', '10.11',
                                      tag='x/y:1')
        self.assertNotEqual(h, containerimage.inputs_hash(other,
                                                          'http://m/debian'))

    def test_archive_is_what_docker_load_reads(self):
        d = tempfile.mkdtemp()
        self.addCleanup(__import__('shutil').rmtree, d)
        layer = os.path.join(d, 'layer.tar')
        with tarfile.open(layer, 'w') as t:
            info = tarfile.TarInfo('etc/hello')
            info.size = 2
            t.addfile(info, io.BytesIO(b'hi'))
        sha = containerimage.manifest.sha256_file(layer)
        config = archive.image_config(sha, ['/e'], ['srv'], ['A=1'],
                                      {'l': 'v'})
        image_id = archive.write(os.path.join(d, 'img.tar'), layer, config,
                                 ['repo/x:1.2'])
        with tarfile.open(os.path.join(d, 'img.tar')) as t:
            index = json.load(t.extractfile('manifest.json'))
            cfg = json.load(t.extractfile(index[0]['Config']))
            self.assertEqual(['sha256:' + sha], cfg['rootfs']['diff_ids'])
            self.assertEqual(['/e'], cfg['config']['Entrypoint'])
            self.assertEqual(['repo/x:1.2'], index[0]['RepoTags'])
            self.assertEqual(b'hi', tarfile.open(fileobj=t.extractfile(
                index[0]['Layers'][0])).extractfile('etc/hello').read())
        self.assertEqual('sha256:' + index[0]['Config'][:-5], image_id)
        # The same layer and config give the same bytes, later too.
        os.utime(layer, (1, 1))
        archive.write(os.path.join(d, 'again.tar'), layer, config,
                      ['repo/x:1.2'])
        self.assertEqual(
            containerimage.manifest.sha256_file(os.path.join(d, 'img.tar')),
            containerimage.manifest.sha256_file(os.path.join(d, 'again.tar')))
        self.assertRaises(ValueError, archive.write,
                          os.path.join(d, 'bad.tar'), layer,
                          archive.image_config('0' * 64, [], [], [], {}),
                          ['x:1'])
