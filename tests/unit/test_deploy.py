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

import io
import json
import os
from unittest import mock

import fixtures
from keystoneauth1 import exceptions as ksa_exc
from requests_mock.contrib import fixture as rm_fixture

from tests.unit import base
from tests.unit import test_load
from tests.unit import test_register
from trove_image_builder import build
from trove_image_builder import catalog
from trove_image_builder.cli import app
from trove_image_builder.cloud import flavors
from trove_image_builder.cloud import quota
from trove_image_builder import deploy
from trove_image_builder.deploy import datastores
from trove_image_builder.deploy import fetch
from trove_image_builder.deploy import state as state_mod
from trove_image_builder.deploy import troveconf
from trove_image_builder.deploy import undeploy
from trove_image_builder import errors
from trove_image_builder import manifest
from trove_image_builder import register

GLANCE = test_load.GLANCE


def real_catalog():
    return catalog.Catalog.load(base.ELEMENTS)


class FakeFlavor:

    def __init__(self, **kw):
        self.__dict__.update(kw)


class FakeCompute:
    """The four calls flavors.py makes of openstacksdk's compute proxy."""

    def __init__(self):
        self.flavors = {}
        self.specs = {}

    def find_flavor(self, name_or_id, ignore_missing=True):
        if name_or_id in self.flavors:
            return self.flavors[name_or_id]
        for flavor in self.flavors.values():
            if flavor.name == name_or_id:
                return flavor
        return None

    def create_flavor(self, **kw):
        flavor = FakeFlavor(**kw)
        self.flavors[kw['id']] = flavor
        return flavor

    def create_flavor_extra_specs(self, flavor, specs):
        self.specs[flavor.id] = specs

    def delete_flavor(self, flavor_id, ignore_missing=True):
        self.flavors.pop(flavor_id, None)


class FakeConn(test_load.FakeConn):
    """Glance through requests-mock; compute and Trove's endpoint faked."""

    def __init__(self, endpoints=('compute',)):
        super().__init__()
        self.endpoints = endpoints
        self.compute = FakeCompute()
        self.identity = mock.Mock()

    def endpoint_for(self, service_type):
        if service_type in self.endpoints:
            return 'http://%s.test/v1.0/proj' % service_type
        return None


class ApiRegistrar(test_register.FakeRegistrar):
    """FakeRegistrar with the troveclient calls undeploy makes."""

    name = 'api'

    def __init__(self, stores=None):
        super().__init__(stores)
        self.client = mock.Mock()
        self.client.mgmt_ds_versions.delete.side_effect = self._delete
        self.client.datastores.delete.side_effect = self.stores.pop

    def _delete(self, version_id):
        for store in self.stores.values():
            store['versions'] = [v for v in store['versions']
                                 if v['id'] != version_id]


class TestTroveConf(base.TestCase):

    def test_entries_default_versions_and_order(self):
        found = datastores.parse_entries('mysql, mariadb:11.4 mariadb:10.11',
                                         real_catalog())
        self.assertEqual([('mysql', '8.4'), ('mariadb', '11.4'),
                          ('mariadb', '10.11')],
                         [(v.datastore, v.name) for v in found])
        firsts = datastores.first_per_datastore(found)
        self.assertEqual(['mysql', 'mariadb'], list(firsts))
        self.assertEqual('11.4', firsts['mariadb'].name)

    def test_entry_errors(self):
        cat = real_catalog()
        for text, pattern in (('', 'no datastores'),
                              ('mongodb', 'unknown datastore'),
                              ('mariadb:9.9', 'unknown version'),
                              ('mariadb mariadb:10.11', 'listed twice')):
            self.assertRaisesRegex(errors.InputError, pattern,
                                   datastores.parse_entries, text, cat)

    def test_repository(self):
        for image, repo in (('mariadb:10.11.11', 'mariadb'),
                            ('postgres', 'postgres'),
                            ('quay.io:443/trove/mysql:8.4', 'quay.io:443/'
                                                            'trove/mysql'),
                            ('r.test/x/pg@sha256:abc', 'r.test/x/pg')):
            self.assertEqual(repo, troveconf.repository(image))

    def test_trove_and_guestagent_lines(self):
        versions = datastores.parse_entries('postgresql:16 mariadb',
                                            real_catalog())
        self.assertEqual([('DEFAULT', 'default_datastore', 'postgresql'),
                          ('postgresql', 'docker_image', 'postgres'),
                          ('mariadb', 'docker_image', 'mariadb')],
                         troveconf.lines(versions, 'trove'))
        self.assertEqual(troveconf.lines(versions, 'trove')[1:],
                         troveconf.lines(versions, 'guestagent'))

    def test_one_repository_per_datastore(self):
        ver = real_catalog().datastore('mysql').version('8.4')
        other = ver.__class__(**dict(ver.__dict__, name='x',
                                     container_image='percona:8.4'))
        self.assertRaisesRegex(errors.InputError, 'different container',
                               troveconf.docker_images, (ver, other))

    def test_tempest_lines(self):
        versions = datastores.parse_entries(
            'mariadb:11.4 mysql mariadb:10.11', real_catalog())
        lines = troveconf.lines(versions, 'tempest',
                                flavors.parse_all(flavors.DEFAULTS))
        self.assertEqual([
            ('service_available', 'trove', 'True'),
            ('database', 'enabled_datastores', 'mariadb,mysql'),
            ('database', 'default_datastore_versions',
             'mariadb:11.4,mysql:8.4'),
            ('database', 'pre_upgrade_datastore_versions', 'mariadb:10.11'),
            ('database', 'flavor_id', 'd2'),
            ('database', 'resize_flavor_id', 'd3')], lines)
        short = troveconf.lines(versions[1:2], 'tempest')
        self.assertEqual(3, len(short))

    def test_unknown_target(self):
        self.assertRaises(errors.InputError, troveconf.lines, (), 'nova')


class TestFlavors(base.TestCase):

    def test_parse(self):
        flavor = flavors.parse('d2:ds1G:1024:10:1')
        self.assertEqual(('d2', 'ds1G', 1024, 10, 1),
                         (flavor.id, flavor.name, flavor.ram, flavor.disk,
                          flavor.vcpus))
        self.assertEqual('d2:ds1G:1024:10:1', flavor.spec())
        for bad in ('d2:ds1G:1024:10', 'd2:ds1G:big:10:1',
                    ':x:1:1:1', 'd2:ds1G:0:10:1'):
            self.assertRaises(errors.InputError, flavors.parse, bad)
        self.assertRaisesRegex(errors.InputError, 'twice',
                               flavors.parse_all, ('a:b:1:1:1', 'a:c:1:1:1'))

    def test_ensure_creates_missing_only(self):
        conn = FakeConn()
        conn.compute.flavors['d2'] = FakeFlavor(id='d2', name='ds1G')
        conn.compute.flavors['42'] = FakeFlavor(id='42', name='ds2G')
        wanted = flavors.parse_all(flavors.DEFAULTS + ('t1:tiny:256:1:1',))
        out = flavors.ensure(conn, wanted)
        self.assertEqual(['exists', 'exists', 'created'],
                         [o.action for o in out])
        self.assertIn('id 42, not d3', out[1].note)
        made = conn.compute.flavors['t1']
        self.assertEqual((256, 1, 1, True), (made.ram, made.disk, made.vcpus,
                                             made.is_public))
        self.assertEqual({'t1': flavors.EXTRA_SPECS}, conn.compute.specs)
        self.assertTrue(flavors.delete(conn, 't1'))
        self.assertFalse(flavors.delete(conn, 't1'))

    def test_nova_errors_are_one_line(self):
        conn = FakeConn()
        conn.compute.find_flavor = mock.Mock(
            side_effect=ksa_exc.ConnectFailure('refused'))
        self.assertRaisesRegex(errors.CloudError, 'Nova',
                               flavors.ensure, conn,
                               flavors.parse_all(flavors.DEFAULTS))

    def test_has_compute(self):
        self.assertTrue(flavors.has_compute(FakeConn()))
        self.assertFalse(flavors.has_compute(FakeConn(endpoints=())))
        conn = FakeConn()
        conn.endpoint_for = mock.Mock(side_effect=RuntimeError)
        self.assertFalse(flavors.has_compute(conn))


class FakeResponse:

    def __init__(self, status, body=None):
        self.status_code = status
        self._body = body
        self.content = b'x' if body is not None else b''

    def json(self):
        return self._body


class FakeKeystone:
    """Limits in Keystone's REST shape, for quota.py."""

    def __init__(self, own=None, registered=1000):
        self.calls = []
        self.limits = {}
        if own is not None:
            self.limits['own'] = {'id': 'own', 'resource_limit': own}
        self.registered = {'id': 'reg', 'default_limit': registered}

    def request(self, path, method, json=None, raise_exc=False):
        self.calls.append((method, path, json))
        if path.startswith('/services'):
            return FakeResponse(200, {'services': [{'id': 'svc'}]})
        if path.startswith('/limits?'):
            return FakeResponse(200, {'limits': list(self.limits.values())})
        if path.startswith('/registered_limits?'):
            return FakeResponse(200, {'registered_limits': [
                self.registered]})
        if path == '/limits/own':
            if method == 'PATCH':
                self.limits['own']['resource_limit'] = \
                    json['limit']['resource_limit']
            return FakeResponse(200, {'limit': self.limits['own']})
        if path == '/registered_limits/reg':
            if method == 'PATCH':
                self.registered['default_limit'] = \
                    json['registered_limit']['default_limit']
            return FakeResponse(200, {'registered_limit': self.registered})
        return FakeResponse(404)


class FakeImageApi:

    def __init__(self, status=200, usage=None):
        self.status = status
        self.usage = usage

    def request(self, path, method, raise_exc=False):
        assert path == '/info/usage'
        body = {'usage': {}}
        if self.usage:
            body['usage'][quota.RESOURCE] = {'usage': self.usage[0],
                                             'limit': self.usage[1]}
        return FakeResponse(self.status, body)


class TestQuota(base.TestCase):

    def test_no_quota_no_change(self):
        ks = FakeKeystone()
        for api in (FakeImageApi(404), FakeImageApi(200)):
            self.assertIsNone(quota.ensure_room(api, 'p', 5 * 2 ** 30,
                                                lambda: ks))
        self.assertEqual([], ks.calls)

    def test_room_enough_or_unlimited(self):
        ks = FakeKeystone()
        self.assertIsNone(quota.ensure_room(
            FakeImageApi(usage=(100, 1000)), 'p', 900 * 2 ** 20, lambda: ks))
        self.assertIsNone(quota.ensure_room(
            FakeImageApi(usage=(100, -1)), 'p', 2 ** 40, lambda: ks))
        self.assertEqual([], ks.calls)

    def test_raises_registered_limit(self):
        ks = FakeKeystone(registered=1000)
        change = quota.ensure_room(FakeImageApi(usage=(400, 1000)), 'p',
                                   900 * 2 ** 20 + 1, lambda: ks)
        self.assertEqual(('registered_limit', 'reg', 1000, 1301),
                         (change.kind, change.id, change.old, change.new))
        self.assertEqual(1301, ks.registered['default_limit'])
        self.assertEqual(1301, quota.current(ks, change))
        quota.set_limit(ks, change, change.old)
        self.assertEqual(1000, ks.registered['default_limit'])

    def test_raises_the_projects_own_limit(self):
        ks = FakeKeystone(own=500, registered=1000)
        change = quota.ensure_room(FakeImageApi(usage=(0, 500)), 'p',
                                   600 * 2 ** 20, lambda: ks)
        self.assertEqual(('limit', 500, 600), (change.kind, change.old,
                                               change.new))
        self.assertEqual(1000, ks.registered['default_limit'])
        self.assertIn(('GET', '/limits?service_id=svc&resource_name='
                       'image_size_total&project_id=p', None), ks.calls)

    def test_glance_error(self):
        self.assertRaisesRegex(errors.CloudError, 'HTTP 500',
                               quota.glance_usage, FakeImageApi(500))


class TestFetch(base.TestCase):

    URL = 'https://images.test/trove/guest.qcow2'

    def setUp(self):
        super().setUp()
        self.mocker = self.useFixture(rm_fixture.Fixture())
        image = test_load.make_qcow2(self.tmp, data_mib=1)
        with open(image, 'rb') as f:
            self.data = f.read()
        self.dir = os.path.join(self.tmp, 'downloads')

    def test_download_once_then_cached(self):
        self.mocker.get(self.URL, content=self.data)
        path, was_cached = fetch.fetch(self.URL, self.dir)
        self.assertFalse(was_cached)
        self.assertTrue(path.endswith('-guest.qcow2'))
        facts = manifest.read(path)
        self.assertEqual(('qcow2', len(self.data), self.URL, 'generic'),
                         (facts['format'], facts['size'],
                          facts['source_url'], facts['datastore']))
        self.assertEqual(manifest.sha256_file(path), facts['sha256'])
        again, was_cached = fetch.fetch(self.URL, self.dir)
        self.assertEqual((path, True), (again, was_cached))
        self.assertEqual(1, self.mocker.call_count)
        fetch.fetch(self.URL, self.dir, refresh=True)
        self.assertEqual(2, self.mocker.call_count)

    def test_password_never_written(self):
        url = 'https://u:s3cret@images.test/g.qcow2'
        self.mocker.get(url, content=self.data)
        path, _cached = fetch.fetch(url, self.dir)
        with open(manifest.path_for(path)) as f:
            self.assertNotIn('s3cret', f.read())
        self.assertTrue(fetch.fetch(url, self.dir)[1])

    def test_failures_leave_nothing(self):
        self.mocker.get(self.URL, status_code=404)
        self.assertRaisesRegex(errors.InputError, 'HTTP 404', fetch.fetch,
                               self.URL, self.dir)
        self.mocker.get(self.URL, text='<html>not an image</html>')
        self.assertRaisesRegex(errors.InputError, 'format mismatch',
                               fetch.fetch, self.URL, self.dir)
        self.assertEqual([], [n for n in os.listdir(self.dir)
                              if not n.startswith('.')])
        self.assertRaisesRegex(errors.InputError, 'http', fetch.fetch,
                               'file:///etc/passwd', self.dir)


class TestState(base.TestCase):

    def test_merge_over_runs_and_forget(self):
        path = os.path.join(self.tmp, 'st', 'state.json')
        state = state_mod.State.load(path)
        state.note('images', 'img-1', True, name='a')
        state.note('datastores', 'mysql', False)
        state.note_limit(quota.Change('registered_limit', 'r', 1000, 1300))
        state.save()
        again = state_mod.State.load(path)
        again.note('images', 'img-1', False, name='a')
        again.note_limit(quota.Change('registered_limit', 'r', 1300, 1500))
        self.assertEqual({'img-1': {'made': True, 'name': 'a'}},
                         again.made('images'))
        self.assertEqual(1000, again.glance_limit['old'])
        self.assertEqual(1500, again.glance_limit['new'])
        again.forget('images', 'img-1')
        again.data.pop('glance_limit')
        again.forget_unmade()
        self.assertTrue(again.empty())
        again.save()
        self.assertFalse(os.path.exists(path))

    def test_unreadable(self):
        path = base.write(os.path.join(self.tmp, 's.json'), '[1]')
        self.assertRaises(errors.InputError, state_mod.State.load, path)


class TestChooseRegistrar(base.TestCase):

    def test_choices(self):
        say = []
        conn = FakeConn(endpoints=('database',))
        self.assertEqual('api', register.choose(conn, 'api', say))
        conn.session = mock.Mock()
        conn.session.get.return_value = FakeResponse(200, {})
        self.assertEqual('api', register.choose(conn, 'auto',
                                                say.append))
        self.assertEqual('http://database.test/',
                         conn.session.get.call_args[0][0])
        conn.session.get.side_effect = ksa_exc.ConnectFailure('refused')
        self.assertEqual('manage', register.choose(conn, 'auto',
                                                   say.append))
        self.assertIn('not answering', say[-1])
        self.assertEqual('manage', register.choose(
            FakeConn(endpoints=()), 'auto', say.append))
        self.assertIn('no Trove endpoint', say[-1])


class DeployTestBase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.mocker = self.useFixture(rm_fixture.Fixture())
        self.server = test_load.FakeGlanceServer(self.mocker)
        self.mocker.get(GLANCE + '/info/usage', json={'usage': {}})
        self.conn = FakeConn()
        self.reg = ApiRegistrar()
        self.useFixture(fixtures.MockPatchObject(
            register, 'make', side_effect=lambda *a, **k: self.reg))
        self.conf = self.make_conf(build={'elements_dir': base.ELEMENTS},
                                   mirrors={'from_host': 'false'})
        self.state_file = os.path.join(self.tmp, 'state.json')
        self.image = test_load.make_qcow2(self.tmp, 'prebuilt', data_mib=1)
        manifest.write(self.image, {
            'name': 'prebuilt', 'format': 'qcow2', 'datastore': 'generic',
            'sha256': manifest.sha256_file(self.image),
            'size': os.path.getsize(self.image)})
        self.lines = []

    def deploy(self, **kw):
        values = dict(datastores='mariadb:10.11 mysql postgresql:16 '
                                 'mariadb:11.4',
                      image_file=self.image, registrar='api',
                      state_file=self.state_file)
        values.update(kw)
        return deploy.run(deploy.Request(**values), self.conf,
                          lambda: self.conn, say=self.lines.append,
                          builder_version='9.9')

    def defaults(self):
        return {ds: [v.name for v in self.reg.versions(ds) if v.default]
                for ds in self.reg.stores}


class TestDeploy(DeployTestBase):

    def test_prebuilt_file_twice_then_undeploy(self):
        first = self.deploy()
        self.assertEqual(1, self.server.uploads)
        self.assertEqual(['created'] * 4, [r.load.registration.action
                                           for r in first.rows])
        self.assertEqual([True, True, True, False],
                         [r.default for r in first.rows])
        self.assertEqual({'mariadb': ['10.11'], 'mysql': ['8.4'],
                          'postgresql': ['16']}, self.defaults())
        image = list(self.server.images.values())[0]
        self.assertTrue({'trove', 'mariadb', 'mariadb-10.11', 'mariadb-11.4',
                         'mysql-8.4', 'postgresql-16'} <= set(image['tags']))
        self.assertEqual(['created', 'created'],
                         [f.action for f in first.flavors])
        state = state_mod.State.load(self.state_file)
        self.assertEqual([image['id']], list(state.made('images')))
        self.assertEqual(4, len(state.made('versions')))
        self.assertEqual(['d2', 'd3'], sorted(state.made('flavors')))

        second = self.deploy()
        self.assertEqual(1, self.server.uploads)
        self.assertEqual(['unchanged'] * 4, [r.load.registration.action
                                             for r in second.rows])
        self.assertEqual([False] * 4, [r.default_changed
                                       for r in second.rows])
        self.assertEqual(['exists', 'exists'],
                         [f.action for f in second.flavors])
        self.assertEqual(state.data,
                         state_mod.State.load(self.state_file).data)

        removed = undeploy.run(self.state_file, lambda: self.conn,
                               registrar_kind='api')
        self.assertEqual({'removed'}, {r.action for r in removed})
        self.assertEqual(['version'] * 4 + ['datastore'] * 3 + ['image'] +
                         ['flavor'] * 2, [r.kind for r in removed])
        self.assertEqual({}, self.reg.stores)
        self.assertEqual({}, self.server.images)
        self.assertEqual({}, self.conn.compute.flavors)
        self.assertFalse(os.path.exists(self.state_file))
        self.assertEqual((), undeploy.run(self.state_file,
                                          lambda: self.conn))

    def test_keeps_what_it_did_not_make(self):
        self.reg.register(test_register.wanted(
            datastore='mysql', name='8.0', version_number='8.0.1',
            image_tags=('trove',)))
        self.conn.compute.flavors['d2'] = FakeFlavor(id='d2', name='ds1G')
        self.deploy(datastores='mysql:8.4')
        removed = undeploy.run(self.state_file, lambda: self.conn,
                               registrar_kind='api', say=self.lines.append)
        self.assertEqual(['version', 'image', 'flavor'],
                         [r.kind for r in removed])
        self.assertEqual(['8.0'], [v.name for v in
                                   self.reg.versions('mysql')])
        self.assertEqual(['d2'], list(self.conn.compute.flavors))
        self.assertFalse(os.path.exists(self.state_file))

    def test_datastore_with_foreign_versions_is_kept(self):
        self.deploy(datastores='mysql:8.4')
        self.reg.register(test_register.wanted(
            datastore='mysql', name='8.0', version_number='8.0.1',
            image_tags=('trove',)))
        removed = undeploy.run(self.state_file, lambda: self.conn,
                               registrar_kind='api', say=self.lines.append)
        self.assertIn(('datastore', 'mysql', 'kept'),
                      [(r.kind, r.name, r.action) for r in removed])
        self.assertEqual(['8.0'], [v.name for v in
                                   self.reg.versions('mysql')])
        self.assertIn('did not make', self.lines[-1])

    def test_manage_registrar_leaves_registrations(self):
        self.deploy(datastores='mysql')
        self.reg.name = 'manage'
        removed = undeploy.run(self.state_file, lambda: self.conn,
                               registrar_kind='manage',
                               say=self.lines.append)
        self.assertIn(('version', 'mysql/8.4', 'kept'),
                      [(r.kind, r.name, r.action) for r in removed])
        self.assertEqual({}, self.server.images)
        self.assertIn('left in place', self.lines[-1])
        self.assertIn('mysql/8.4', state_mod.State.load(
            self.state_file).made('versions'))

    def test_no_compute_no_activate_no_flavors(self):
        self.conn = FakeConn(endpoints=())
        result = self.deploy(datastores='mysql', activate=False)
        self.assertEqual((), result.flavors)
        self.assertIn('no compute endpoint', result.notes[-1])
        self.assertEqual({'mysql': []}, self.defaults())
        result = self.deploy(datastores='mysql', flavors=())
        self.assertEqual((), result.flavors)

    def test_quota_raised_and_restored(self):
        self.mocker.get(GLANCE + '/info/usage', json={'usage': {
            quota.RESOURCE: {'usage': 1000, 'limit': 1000}}})
        keystone = FakeKeystone(registered=1000)
        limits = mock.Mock(identity=keystone)
        result = deploy.run(
            deploy.Request(datastores='mysql', image_file=self.image,
                           registrar='api', state_file=self.state_file),
            self.conf, lambda: self.conn, connect_limits=lambda: limits)
        need = 1000 + -(-os.path.getsize(self.image) // 2 ** 20)
        self.assertEqual(need, result.limit_change.new)
        self.assertEqual(need, keystone.registered['default_limit'])
        undeploy.run(self.state_file, lambda: self.conn,
                     registrar_kind='api', connect_limits=lambda: limits)
        self.assertEqual(1000, keystone.registered['default_limit'])

    def test_quota_changed_since_is_left_alone(self):
        state = state_mod.State.load(self.state_file)
        state.note_limit(quota.Change('registered_limit', 'reg', 1000,
                                      1500))
        state.save()
        keystone = FakeKeystone(registered=2000)
        self.conn.identity = keystone
        removed = undeploy.run(self.state_file, lambda: self.conn,
                               registrar_kind='api', say=self.lines.append)
        self.assertEqual(['kept'], [r.action for r in removed])
        self.assertEqual(2000, keystone.registered['default_limit'])

    def test_state_saved_when_a_step_fails(self):
        self.reg.set_default = mock.Mock(side_effect=errors.CloudError('x'))
        self.assertRaises(errors.CloudError, self.deploy,
                          datastores='mysql')
        state = state_mod.State.load(self.state_file)
        self.assertEqual(1, len(state.made('images')))
        self.assertEqual(['mysql/8.4'], list(state.made('versions')))

    def test_request_errors(self):
        self.assertRaisesRegex(errors.InputError, 'not both', self.deploy,
                               image_url='https://x.test/i.qcow2')
        self.assertRaisesRegex(errors.InputError, 'registrar', self.deploy,
                               registrar='magic')
        self.assertRaisesRegex(errors.InputError, 'not found', self.deploy,
                               image_file=os.path.join(self.tmp, 'nope'))


class TestDeploySources(DeployTestBase):

    def test_builds_each_version_with_the_flags(self):
        built = {}

        def make_plan(req):
            path = test_load.make_qcow2(
                self.tmp, '%s-%s' % (req.datastore, req.version),
                data_mib=1)
            test_load.write_manifest(
                path, datastore=req.datastore, datastore_version=req.version)
            built[(req.datastore, req.version)] = req
            return path

        def execute(plan, force=False, progress=None, builder_version=None):
            return build.Result(plan, manifest.path_for(plan),
                                manifest.read(plan), cached=force is False)

        self.useFixture(fixtures.MockPatchObject(build, 'make_plan',
                                                 side_effect=make_plan))
        self.useFixture(fixtures.MockPatchObject(build, 'execute',
                                                 side_effect=execute))
        result = self.deploy(image_file=None, datastores='mariadb mysql:8.0',
                             build_flags=(('dev_mode', True),
                                          ('guest_agent_source', '/t')))
        self.assertEqual({('mariadb', '10.11'), ('mysql', '8.0')},
                         set(built))
        self.assertTrue(all(r.dev_mode and r.guest_agent_source == '/t'
                            for r in built.values()))
        self.assertEqual(['cached build'] * 2,
                         [r.source for r in result.rows])
        self.assertEqual(2, self.server.uploads)

    def test_image_url_fetched_once(self):
        fetched = self.useFixture(fixtures.MockPatchObject(
            fetch, 'fetch', return_value=(self.image, True))).mock
        result = self.deploy(image_file=None,
                             image_url='https://x.test/g.qcow2',
                             download_dir='/dl', datastores='mysql mariadb')
        fetched.assert_called_once_with('https://x.test/g.qcow2', '/dl',
                                        self.lines.append)
        self.assertEqual(['cached download'] * 2,
                         [r.source for r in result.rows])


class TestCli(base.TestCase):

    def run_cli(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        conf = base.write(os.path.join(self.tmp, 'c.conf'), """
            [build]
            elements_dir = %s
            """ % base.ELEMENTS)
        rc = app.main(['--config-file', conf] + list(argv))
        return rc, out.getvalue(), err.getvalue()

    def test_trove_config(self):
        rc, out, err = self.run_cli('trove-config', '--datastores',
                                    'mariadb postgresql:17')
        self.assertEqual(0, rc, err)
        self.assertEqual('DEFAULT default_datastore mariadb\n'
                         'mariadb docker_image mariadb\n'
                         'postgresql docker_image postgres\n', out)
        rc, out, err = self.run_cli('trove-config', '--datastores', 'mysql',
                                    '--target', 'tempest', '--flavor',
                                    'f1:small:512:5:1')
        self.assertEqual(0, rc, err)
        self.assertIn('database flavor_id f1\n', out)
        self.assertIn('database resize_flavor_id f1\n', out)
        rc, _out, err = self.run_cli('trove-config', '--datastores', 'nosql')
        self.assertEqual(2, rc)
        self.assertIn('unknown datastore', err)

    def test_deploy_passes_flags(self):
        row = deploy.Row(
            version=real_catalog().datastore('mysql').version('8.4'),
            image_path='/i.qcow2', source='file',
            load=mock.Mock(uploaded=False, glance_image={'id': 'img-1'},
                           registration=register.Outcome(
                               'unchanged', register.Registered(
                                   'v1', 'mysql', '8.4', '8.4.4', 'mysql',
                                   '', ('trove',), True, True))),
            default=True)
        run = self.useFixture(fixtures.MockPatchObject(
            deploy, 'run', return_value=deploy.Result(
                rows=(row,), registrar='manage', flavors=(),
                notes=('hello',)))).mock
        rc, out, err = self.run_cli(
            'deploy', '--datastores', 'mysql', '--image-file', '/i.qcow2',
            '--state-file', '/s.json', '--no-flavors', '--os-cloud', 'c1',
            '--limits-cloud', 'sys', '--registrar', 'manage',
            '--trove-manage', '/bin/tm', '--dev-mode',
            '--guest-agent-source', '/src', '-f', 'json')
        self.assertEqual(0, rc, err)
        req = run.call_args[0][0]
        self.assertEqual(('mysql', '/i.qcow2', '/s.json', (), 'manage'),
                         (req.datastores, req.image_file, req.state_file,
                          req.flavors, req.registrar))
        self.assertEqual({'dev_mode': True, 'guest_agent_source': '/src'},
                         dict(req.build_flags))
        self.assertEqual('/bin/tm', dict(req.load_flags)['trove_manage'])
        self.assertIsNotNone(run.call_args[1]['connect_limits'])
        self.assertEqual([{'datastore': 'mysql', 'version': '8.4',
                           'version_number': '8.4.4', 'source': 'file',
                           'image_id': 'img-1', 'uploaded': False,
                           'registration': 'unchanged',
                           'default': 'yes (already)',
                           'registrar': 'manage'}], json.loads(out))
        self.assertIn('note: hello', err)

    def test_deploy_defaults(self):
        run = self.useFixture(fixtures.MockPatchObject(
            deploy, 'run', return_value=deploy.Result(
                rows=(), registrar='api', flavors=()))).mock
        rc, _out, err = self.run_cli('deploy')
        self.assertEqual(0, rc, err)
        req = run.call_args[0][0]
        self.assertEqual(('mariadb', 'auto', flavors.DEFAULTS, True, True),
                         (req.datastores, req.registrar, req.flavors,
                          req.activate, req.glance_limit))
        self.assertIsNone(run.call_args[1]['connect_limits'])

    def test_undeploy(self):
        run = self.useFixture(fixtures.MockPatchObject(
            undeploy, 'run', return_value=(
                undeploy.Removed('image', 'img-1 (x)', 'removed'),))).mock
        rc, out, err = self.run_cli('undeploy', '--state-file', '/s.json',
                                    '-f', 'value')
        self.assertEqual(0, rc, err)
        self.assertEqual('image img-1 (x) removed\n', out)
        self.assertEqual(('/s.json', 'auto'), (run.call_args[0][0],
                                               run.call_args[1][
                                                   'registrar_kind']))
