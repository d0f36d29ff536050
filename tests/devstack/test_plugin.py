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

"""The devstack plugin's phases, run for real against a small OpenStack.

tests/devstack/run-plugin.bash sources devstack/settings and
devstack/plugin.sh the way stack.sh, unstack.sh and clean.sh do, with
fake-devstack-functions in place of devstack's library. The cloud is the
minicloud (integration/minicloud.py) with its opt-in compute API, in a
work directory of its own; the image is a small real qcow2, prebuilt (no
DIB build). Everything is checked through the real `openstack` CLI.

TIB_DEVSTACK_CLOUD_DIR picks the minicloud's work directory; the cloud
is taken down at the end of the run if the run started it, and
TIB_KEEP_CLOUD=1 leaves it running (integration/cloud_fixture.py).
"""

import concurrent.futures
import http.server
import json
import os
import subprocess
import sys
import threading
import time

import fixtures
import testtools
from testtools import content
import yaml

from integration import cloud_fixture
from tests import skips
from trove_image_builder.cloud import connection as cloud_mod
from trove_image_builder.cloud import quota
from trove_image_builder import manifest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
RUN = os.path.join(TOP, 'tests', 'devstack', 'run-plugin.bash')
WORKDIR = os.environ.get('TIB_DEVSTACK_CLOUD_DIR',
                         '/var/lib/trove-image-builder/minicloud-devstack')
# Fixed at first setup, away from the default minicloud's ports: a cloud
# that is down when this one is first set up keeps its claim on them.
PORTS = {'mariadb': 13340, 'keystone': 15040, 'glance': 19340,
         'trove': 18840, 'nova': 18841}
DATASTORES = ('mariadb', 'mysql', 'postgresql')
FLAVORS = ('d2', 'd3')


def cloud():
    """This test's own minicloud (integration/cloud_fixture.py)."""
    return cloud_fixture.shared_cloud(WORKDIR, compute=True, ports=PORTS)


def make_image(path, size='1G'):
    """A real (empty) qcow2 and a manifest like a generic build's."""
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, size],
                   check=True)
    manifest.write(path, {
        'name': 'tib-devstack-' + size.lower(), 'format': 'qcow2',
        'datastore': 'generic', 'os': 'debian', 'release': 'bookworm',
        'sha256': manifest.sha256_file(path), 'size': os.path.getsize(path),
        'builder_version': 'devstack-test'})
    return path


def deploy_rows(out):
    """The rows of the table `deploy` printed, as dicts."""
    rows, header = [], None
    for line in out.splitlines():
        if not line.startswith('| '):
            continue
        cells = [c.strip() for c in line.strip('|').split('|')]
        if 'registration' in cells:
            header, rows = cells, []
        elif header and len(cells) == len(header):
            rows.append(dict(zip(header, cells)))
    return rows


def ini(path):
    """{(section, option): value} of an INI file."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith('['):
                section = line[1:-1]
            elif '=' in line and not line.startswith('#'):
                key, value = line.split('=', 1)
                out[(section, key.strip())] = value.strip()
    return out


class Server:
    """A plain HTTP server on 127.0.0.1 for one directory; counts GETs."""

    def __init__(self, directory):
        self.gets = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=directory, **kwargs)

            def do_GET(self):
                server.gets.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class PluginTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # The plugin's image is a small qcow2 made with qemu-img.
        skips.require_tools(self, 'qemu-img')
        self.useFixture(fixtures.Timeout(900, gentle=True))
        self.cloud = cloud()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.purge_cloud()
        etc = os.path.join(self.tmp, 'etc', 'trove')
        os.makedirs(etc)
        self.trove_conf = os.path.join(etc, 'trove.conf')
        self.agent_conf = os.path.join(etc, 'trove-guestagent.conf')
        self.tempest_conf = os.path.join(self.tmp, 'tempest.conf')
        # trove-manage reads the database connection from this copy.
        with open(self.cloud.trove_conf) as f:
            text = f.read()
        with open(self.trove_conf, 'w') as f:
            f.write(text)
        for path in (self.agent_conf, self.tempest_conf):
            open(path, 'w').close()
        self.data = os.path.join(self.tmp, 'data')
        self.state_file = os.path.join(self.data, 'trove-image-builder',
                                       'deployed.json')
        self.calls = os.path.join(self.tmp, 'calls.log')
        self.env = {
            'PATH': os.environ['PATH'],
            'HOME': os.environ.get('HOME', '/root'),
            'DEST': os.path.join(self.tmp, 'dest'),
            'DATA_DIR': self.data,
            'ENABLED_SERVICES': 'key,g-api,n-api,trove,tr-api,tr-tmgr,'
                                'tempest',
            'TROVE_IMAGE_BUILDER_DIR': TOP,
            'TROVE_IMAGE_BUILDER_BIN_DIR': os.path.dirname(sys.executable),
            'TROVE_CONF': self.trove_conf,
            'TROVE_GUESTAGENT_CONF': self.agent_conf,
            'TEMPEST_CONFIG': self.tempest_conf,
            'TROVE_MANAGE': os.path.join(self.cloud.bin_dir, 'trove-manage'),
            'TROVE_IMAGE_BUILDER_CLOUD': 'minicloud-admin',
            'TROVE_IMAGE_BUILDER_LIMITS_CLOUD': 'minicloud-admin',
            'OS_CLIENT_CONFIG_FILE': self.cloud.clouds_yaml,
            'FAKE_DEVSTACK_LOG': self.calls,
        }
        self.addCleanup(self.purge_cloud)

    # -- helpers -------------------------------------------------------

    def os(self, *args, **kwargs):
        return self.cloud.openstack(*args, **kwargs)

    def os_many(self, calls, parse=True):
        """Several `openstack` commands at once (each costs seconds)."""
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            return list(pool.map(
                lambda args: self.os(*args, parse=parse), calls))

    def names(self, kind):
        return [i['Name'] for i in self.os(kind, 'list')]

    def purge_cloud(self):
        """Remove datastores, flavors and images.

        Each test starts from the cloud as minicloud set it up (this cloud
        is the tests' own).
        """
        stores, flavors, images = self.os_many([
            ('datastore', 'list'), ('flavor', 'list'), ('image', 'list')])
        stores = [d['Name'] for d in stores if d['Name'] in DATASTORES]
        versions = self.os_many([('datastore', 'version', 'list', ds)
                                 for ds in stores])
        self.os_many([('datastore', 'version', 'delete', v['ID'])
                      for found in versions for v in found] +
                     [('flavor', 'delete', f['ID']) for f in flavors
                      if f['ID'] in FLAVORS] +
                     [('image', 'delete', i['ID']) for i in images],
                     parse=False)
        self.os_many([('datastore', 'delete', ds) for ds in stores],
                     parse=False)

    def phase(self, mode, **settings):
        env = dict(self.env, **settings)
        started = time.monotonic()
        res = subprocess.run([RUN, mode], env=env, capture_output=True,
                             text=True, stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        self.addDetail('%s-%d' % (mode, int(started)),
                       content.text_content(
                           '%.1f s\n%s\n%s' % (seconds, res.stdout,
                                               res.stderr)))
        self.assertEqual(0, res.returncode,
                         '%s failed:\n%s\n%s' % (mode, res.stdout,
                                                 res.stderr[-3000:]))
        return res.stdout + res.stderr

    def snapshot(self):
        """Everything the plugin may change, as the cloud shows it."""
        images, stores, flavors = self.os_many([
            ('image', 'list'), ('datastore', 'list'), ('flavor', 'list')])
        stores = sorted(d['Name'] for d in stores if d['Name'] in DATASTORES)
        flavors = sorted(f['ID'] for f in flavors if f['ID'] in FLAVORS)
        images = sorted(i['ID'] for i in images)
        shown = self.os_many(
            [('image', 'show', i) for i in images]
            + [('datastore', 'show', ds) for ds in stores]
            + [('datastore', 'version', 'list', ds) for ds in stores]
            + [('flavor', 'show', f) for f in flavors])
        snap = {'images': shown[:len(images)], 'datastores': {},
                'flavors': dict(zip(flavors, shown[-len(flavors):]
                                    if flavors else []))}
        for image in snap['images']:
            image['tags'] = sorted(image['tags'])
        held = shown[len(images):len(images) + 2 * len(stores)]
        versions = [(ds, v) for ds, found in zip(stores, held[len(stores):])
                    for v in found]
        details = self.os_many([('datastore', 'version', 'show', v['ID'])
                                for _ds, v in versions])
        for ds, info in zip(stores, held[:len(stores)]):
            snap['datastores'][ds] = {'default': info['default_version'],
                                      'versions': {}}
        for (ds, v), detail in zip(versions, details):
            snap['datastores'][ds]['versions'][v['Name']] = detail
        for path in (self.trove_conf, self.agent_conf, self.tempest_conf):
            with open(path) as f:
                snap[path] = f.read()
        return snap

    def assertRegistered(self, snap, image_id, versions):
        """versions: {datastore: [names, first = default]}."""
        self.assertEqual(sorted(versions), sorted(snap['datastores']))
        image = [i for i in snap['images'] if i['id'] == image_id][0]
        self.assertEqual('active', image['status'])
        self.assertEqual('private', image['visibility'])
        for ds, names in versions.items():
            held = snap['datastores'][ds]
            self.assertEqual(names[0], held['default'])
            self.assertEqual(sorted(names), sorted(held['versions']))
            for name in names:
                ver = held['versions'][name]
                tags = ['trove', ds, '%s-%s' % (ds, name)]
                self.assertEqual(tags, ver['image_tags'])
                self.assertTrue(ver['active'])
                # Trove finds this very image by those tags
                self.assertTrue(set(tags) <= set(image['tags']))

    # -- the tests -----------------------------------------------------

    def test_prebuilt_file_stack_twice_unstack_clean(self):
        image_file = make_image(os.path.join(self.tmp, 'guest.qcow2'))
        settings = {
            'TROVE_DATASTORES': 'mariadb:10.11 mysql:8.4 postgresql:16 '
                                'mariadb:11.4',
            'TROVE_IMAGE_BUILDER_IMAGE_FILE': image_file,
        }
        # trove-api not up yet, as when Trove's plugin has only just
        # started it: registration goes through trove-manage.
        self.cloud.stop('trove')
        try:
            out = self.phase('stack', **settings)
        finally:
            self.cloud.start('trove')
        rows = deploy_rows(out)
        self.assertEqual(['manage'] * 4, [r['registrar'] for r in rows])
        self.assertEqual(['created'] * 4, [r['registration'] for r in rows])
        self.assertEqual(['True', 'False', 'False', 'False'],
                         [r['uploaded'] for r in rows])
        first = self.snapshot()
        self.assertEqual(1, len(first['images']))
        image_id = first['images'][0]['id']
        self.assertRegistered(first, image_id, {
            'mariadb': ['10.11', '11.4'], 'mysql': ['8.4'],
            'postgresql': ['16']})
        self.assertEqual(
            {'d2': ('ds1G', 1024, 10, 1), 'd3': ('ds2G', 2048, 10, 2)},
            {k: (f['name'], f['ram'], f['disk'], f['vcpus'])
             for k, f in first['flavors'].items()})
        for flavor in first['flavors'].values():
            self.assertEqual({'hw_rng:allowed': 'True'},
                             flavor['properties'])

        conf = ini(self.trove_conf)
        self.assertEqual('mariadb', conf[('DEFAULT', 'default_datastore')])
        images = {('mariadb', 'docker_image'): 'mariadb',
                  ('mysql', 'docker_image'): 'mysql',
                  ('postgresql', 'docker_image'): 'postgres'}
        for key, value in images.items():
            self.assertEqual(value, conf[key])
        self.assertEqual(images, ini(self.agent_conf))
        self.assertEqual({
            ('service_available', 'trove'): 'True',
            ('database', 'enabled_datastores'): 'mariadb,mysql,postgresql',
            ('database', 'default_datastore_versions'):
                'mariadb:10.11,mysql:8.4,postgresql:16',
            ('database', 'pre_upgrade_datastore_versions'): 'mariadb:11.4',
            ('database', 'flavor_id'): 'd2',
            ('database', 'resize_flavor_id'): 'd3',
        }, ini(self.tempest_conf))
        with open(self.calls) as f:
            calls = f.read()
        self.assertIn('setup_develop %s\n' % TOP, calls)
        self.assertTrue(os.path.isfile(self.state_file))

        # Again, with trove-api up (the api registrar): nothing changes.
        out = self.phase('stack', **settings)
        rows = deploy_rows(out)
        self.assertEqual(['api'] * 4, [r['registrar'] for r in rows])
        self.assertEqual(['unchanged'] * 4,
                         [r['registration'] for r in rows])
        self.assertEqual(['False'] * 4, [r['uploaded'] for r in rows])
        self.assertIn('flavor d2 (ds1G): exists', out)
        self.assertEqual(first, self.snapshot())

        self.phase('unstack', **settings)
        gone = self.snapshot()
        self.assertEqual([], gone['images'])
        self.assertEqual({}, gone['datastores'])
        self.assertEqual({}, gone['flavors'])
        self.assertFalse(os.path.exists(self.state_file))

        self.phase('clean', **settings)
        self.assertNotIn(('DEFAULT', 'default_datastore'),
                         ini(self.trove_conf))
        self.assertEqual({}, ini(self.agent_conf))
        self.assertEqual({}, ini(self.tempest_conf))
        # the rest of trove.conf is untouched
        self.assertEqual(ini(self.cloud.trove_conf), ini(self.trove_conf))
        self.assertTrue(os.path.isfile(image_file))

    def three_datastores(self, **settings):
        """(images dir, settings) for MariaDB, PostgreSQL and MySQL."""
        images = os.path.join(self.tmp, 'images')
        return images, dict({
            'TROVE_DATASTORES': 'mariadb:10.11 postgresql:16 mysql:8.4',
            'TROVE_IMAGE_BUILDER_OUTPUT_DIR': images,
            'TROVE_IMAGE_BUILDER_CREATE_FLAVORS': 'False'}, **settings)

    def test_three_datastores_built_from_one_base(self):
        images, settings = self.three_datastores(
            TROVE_IMAGE_BUILDER_JOBS='2',
            TROVE_IMAGE_BUILDER_IMAGES='per-version')
        out = self.phase('stack', **settings)
        rows = deploy_rows(out)
        self.assertEqual(['created'] * 3, [r['registration'] for r in rows])
        self.assertEqual(['True'] * 3, [r['uploaded'] for r in rows])
        # DIB ran at most once (not at all when the base was up to date).
        self.assertLessEqual(out.count('building the base'), 1, out)
        manifests = []
        for name in ('mariadb-10.11', 'postgresql-16', 'mysql-8.4'):
            with open(os.path.join(images, 'trove-debian-bookworm-%s.json'
                                   % name)) as f:
                manifests.append(json.load(f))
            # One progress line per job, named after its image.
            self.assertIn('[trove-debian-bookworm-%s] writing the' % name,
                          out)
            self.assertEqual('patched', manifests[-1]['layer_method'])
        self.assertEqual(1, len({json.dumps(m['base'], sort_keys=True)
                                 for m in manifests}))
        self.assertEqual(3, len({m['sha256'] for m in manifests}))
        self.phase('unstack', **settings)
        self.assertEqual([], self.snapshot()['images'])

    def test_three_datastores_share_one_image_by_default(self):
        images, settings = self.three_datastores()
        out = self.phase('stack', **settings)
        rows = deploy_rows(out)
        self.assertEqual(['created'] * 3, [r['registration'] for r in rows])
        # one upload; the other two versions found it in Glance
        self.assertEqual(['True', 'False', 'False'],
                         [r['uploaded'] for r in rows])
        self.assertIn('mariadb 10.11, postgresql 16, mysql 8.4: one shared '
                      'image', out)
        self.assertEqual(1, len(self.snapshot()['images']))
        self.assertEqual(['trove-debian-bookworm-generic.qcow2'],
                         [n for n in os.listdir(images)
                          if n.endswith('.qcow2')])
        self.phase('unstack', **settings)
        self.assertEqual([], self.snapshot()['images'])

    def test_image_url_downloaded_once_and_kept(self):
        served = os.path.join(self.tmp, 'served')
        os.makedirs(served)
        make_image(os.path.join(served, 'trove-guest.qcow2'), size='2G')
        server = Server(served)
        self.addCleanup(server.stop)
        downloads = os.path.join(self.tmp, 'downloads')
        settings = {
            'TROVE_DATASTORES': 'postgresql:16',
            'TROVE_NON_DEV_IMAGE_URL': 'http://127.0.0.1:%d/trove-guest.'
                                       'qcow2' % server.port,
            # Plain http is refused otherwise.
            'TROVE_IMAGE_BUILDER_INSECURE': 'True',
            'TROVE_IMAGE_BUILDER_DOWNLOAD_DIR': downloads,
            'TROVE_IMAGE_BUILDER_CREATE_FLAVORS': 'False',
        }
        out = self.phase('stack', **settings)
        self.assertEqual(['download'],
                         [r['source'] for r in deploy_rows(out)])
        self.assertEqual(['/trove-guest.qcow2'], server.gets)
        got = [n for n in os.listdir(downloads) if n.endswith('.qcow2')]
        self.assertEqual(1, len(got))
        first = self.snapshot()
        self.assertEqual(1, len(first['images']))
        self.assertRegistered(first, first['images'][0]['id'],
                              {'postgresql': ['16']})
        self.assertEqual({}, first['flavors'])
        self.assertNotIn(('database', 'flavor_id'),
                         ini(self.tempest_conf))

        out = self.phase('stack', **settings)
        self.assertEqual(['cached download'],
                         [r['source'] for r in deploy_rows(out)])
        self.assertEqual(['/trove-guest.qcow2'], server.gets)
        self.assertEqual(first, self.snapshot())

        self.phase('unstack', **settings)
        self.phase('clean', **settings)
        self.assertEqual([], self.snapshot()['images'])
        # downloads are the cache: kept
        self.assertEqual(got, [n for n in os.listdir(downloads)
                               if n.endswith('.qcow2')])


class QuotaTest(testtools.TestCase):
    """quota.py's Keystone half against the real Keystone.

    The minicloud's Glance enforces no quota (devstack's does), so here
    the limits are made with the CLI and raised by quota.py directly.
    """

    def setUp(self):
        super().setUp()
        self.cloud = cloud()
        tmp = self.useFixture(fixtures.TempDir()).path
        with open(self.cloud.clouds_yaml) as f:
            clouds = yaml.safe_load(f)
        admin = clouds['clouds']['minicloud-admin']
        auth = {k: v for k, v in admin['auth'].items()
                if k not in ('project_name', 'project_domain_name')}
        auth['system_scope'] = 'all'
        clouds['clouds']['minicloud-system'] = {
            'auth': auth, 'region_name': admin['region_name'],
            'identity_api_version': 3}
        path = os.path.join(tmp, 'clouds.yaml')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, 'w') as f:
            yaml.safe_dump(clouds, f)
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_CLIENT_CONFIG_FILE', path))
        self.clouds_yaml = path

    def cli(self, *args, parse=True):
        argv = [os.path.join(self.cloud.bin_dir, 'openstack'),
                '--os-cloud', 'minicloud-system'] + list(args)
        if parse:
            argv += ['-f', 'json']
        res = subprocess.run(argv, capture_output=True, text=True,
                             check=True, env=dict(
                                 os.environ,
                                 OS_CLIENT_CONFIG_FILE=self.clouds_yaml))
        return json.loads(res.stdout) if parse else None

    def test_project_limit_created_then_raised_never_the_default(self):
        for old in self.cli('registered', 'limit', 'list'):
            if old['Resource Name'] == quota.RESOURCE:
                self.cli('registered', 'limit', 'delete', old['ID'],
                         parse=False)
        reg = self.cli('registered', 'limit', 'create', '--service',
                       'glance', '--default-limit', '1000', '--region',
                       'RegionOne', quota.RESOURCE)
        self.addCleanup(self.cli, 'registered', 'limit', 'delete',
                        reg['id'], parse=False)
        conn = cloud_mod.connect(cloud_mod.Options(
            os_cloud='minicloud-system'))
        project = self.cli('project', 'show', 'admin')['id']

        change = quota.raise_limit(conn.identity, project, 1500)
        self.assertEqual(('project_limit', 1000, 1500, project),
                         (change.kind, change.old, change.new,
                          change.project_id))
        # Only the project's: the default every project has is kept.
        shown = self.cli('registered', 'limit', 'show', reg['id'])
        self.assertEqual(1000, shown['default_limit'])
        made = self.cli('limit', 'show', change.id)
        self.assertEqual((1500, project), (made['resource_limit'],
                                           made['project_id']))
        self.assertEqual(1500, quota.current(conn.identity, change))
        quota.remove_limit(conn.identity, change)
        self.assertIsNone(quota.current(conn.identity, change))

        own = self.cli('limit', 'create', '--project', project,
                       '--service', 'glance', '--resource-limit', '500',
                       '--region', 'RegionOne', quota.RESOURCE)
        self.addCleanup(self.cli, 'limit', 'delete', own['id'],
                        parse=False)
        change = quota.raise_limit(conn.identity, project, 800)
        self.assertEqual(('limit', own['id'], 500, 800),
                         (change.kind, change.id, change.old, change.new))
        self.assertEqual(800, self.cli('limit', 'show',
                                       own['id'])['resource_limit'])
        self.assertEqual(1000, self.cli('registered', 'limit', 'show',
                                        reg['id'])['default_limit'])
