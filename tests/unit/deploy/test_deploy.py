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

import collections
import json
import os
import signal
import threading
import time
from unittest import mock

import fixtures
from requests_mock.contrib import fixture as rm_fixture

from tests.unit import base
from tests.unit.cloud import test_flavors
from tests.unit.cloud import test_quota
from tests.unit.deploy import test_troveconf
from tests.unit.register import test_register
from tests.unit import test_load
from trove_image_builder import build
from trove_image_builder.cloud import flavors
from trove_image_builder.cloud import quota
from trove_image_builder import deploy
from trove_image_builder.deploy import fetch
from trove_image_builder.deploy import state as state_mod
from trove_image_builder.deploy import undeploy
from trove_image_builder import errors
from trove_image_builder import load
from trove_image_builder import manifest
from trove_image_builder import register

GLANCE = test_load.GLANCE


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


class DeployTestBase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.mocker = self.useFixture(rm_fixture.Fixture())
        self.server = test_load.FakeGlanceServer(self.mocker)
        self.mocker.get(GLANCE + '/info/usage', json={'usage': {}})
        self.conn = test_flavors.FakeConn()
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
        self.conn.compute.flavors['d2'] = test_flavors.FakeFlavor(
            id='d2', name='ds1G')
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

    def test_a_version_only_updated_gets_its_image_back(self):
        self.reg.register(test_register.wanted(
            datastore='mysql', name='8.4', version_number='8.4.4',
            manager='mysql', image_id='their-image', image_tags=()))
        result = self.deploy(datastores='mysql:8.4')
        self.assertEqual('updated', result.rows[0].load.registration.action)
        # A second deploy must not lose what was there before the first.
        self.deploy(datastores='mysql:8.4')
        removed = undeploy.run(self.state_file, lambda: self.conn,
                               registrar_kind='api', say=self.lines.append)
        self.assertEqual([('version', 'mysql/8.4', 'restored')],
                         [(r.kind, r.name, r.action) for r in removed
                          if r.kind == 'version'])
        version = self.reg.version('mysql', '8.4')
        self.assertEqual(('their-image', (), '8.4.4', 'mysql', True),
                         (version.image_id, version.image_tags,
                          version.version_number, version.manager,
                          version.active))
        self.assertFalse(os.path.exists(self.state_file))

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
        self.conn = test_flavors.FakeConn(endpoints=())
        result = self.deploy(datastores='mysql', activate=False)
        self.assertEqual((), result.flavors)
        self.assertIn('no compute endpoint', result.notes[-1])
        self.assertEqual({'mysql': []}, self.defaults())
        result = self.deploy(datastores='mysql', flavors=())
        self.assertEqual((), result.flavors)

    def test_quota_raised_and_restored(self):
        self.mocker.get(GLANCE + '/info/usage', json={'usage': {
            quota.RESOURCE: {'usage': 1000, 'limit': 1000}}})
        keystone = test_quota.FakeKeystone(registered=1000)
        limits = mock.Mock(identity=keystone)
        result = deploy.run(
            deploy.Request(datastores='mysql', image_file=self.image,
                           registrar='api', state_file=self.state_file),
            self.conf, lambda: self.conn, connect_limits=lambda: limits)
        need = 1000 + -(-os.path.getsize(self.image) // 2 ** 20)
        self.assertEqual(quota.Change('project_limit', 'made', 1000, need,
                                      self.conn.current_project_id),
                         result.limit_change)
        # The default every project shares is untouched.
        self.assertEqual(1000, keystone.registered['default_limit'])
        self.assertEqual(need, keystone.limits['made']['resource_limit'])
        self.assertEqual(self.conn.current_project_id,
                         keystone.limits['made']['project_id'])
        undeploy.run(self.state_file, lambda: self.conn,
                     registrar_kind='api', connect_limits=lambda: limits)
        self.assertEqual({}, keystone.limits)
        self.assertEqual(1000, keystone.registered['default_limit'])

    def test_quota_change_on_file_before_keystone_is_asked(self):
        self.mocker.get(GLANCE + '/info/usage', json={'usage': {
            quota.RESOURCE: {'usage': 1000, 'limit': 1000}}})
        keystone = test_quota.FakeKeystone(registered=1000)
        keystone.create_error = 500
        limits = mock.Mock(identity=keystone)
        self.assertRaises(errors.CloudError, deploy.run, deploy.Request(
            datastores='mysql', image_file=self.image, registrar='api',
            state_file=self.state_file), self.conf, lambda: self.conn,
            connect_limits=lambda: limits)
        record = state_mod.State.load(self.state_file).glance_limit
        self.assertEqual(('project_limit', None, 1000,
                          self.conn.current_project_id),
                         (record['kind'], record['id'], record['old'],
                          record['project_id']))
        # Keystone made nothing: undeploy finds nothing to undo.
        removed = undeploy.run(self.state_file, lambda: self.conn,
                               registrar_kind='api',
                               connect_limits=lambda: limits)
        self.assertEqual([('glance limit', 'gone')],
                         [(r.kind, r.action) for r in removed
                          if r.kind == 'glance limit'])
        self.assertFalse(os.path.exists(self.state_file))

    def test_quota_changed_since_is_left_alone(self):
        state = state_mod.State.load(self.state_file)
        state.note_limit(quota.Change('registered_limit', 'reg', 1000,
                                      1500))
        state.save()
        keystone = test_quota.FakeKeystone(registered=2000)
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


class TestDeployChecks(DeployTestBase):

    def record(self, **fields):
        manifest.update(self.image, **fields)

    def test_recorded_failure_refused_before_any_upload(self):
        self.record(conformance={'result': 'fail', 'image_sha256':
                                 manifest.sha256_file(self.image)})
        exc = self.assertRaises(errors.Refused, self.deploy)
        self.assertEqual(9, exc.exit_code)
        self.assertIn('failed its conformance check', str(exc))
        self.assertEqual(0, self.server.uploads)
        self.assertEqual({}, self.reg.stores)
        # --force deploys it, and activates it.
        result = self.deploy(force_build=True, datastores='mariadb:10.11')
        self.assertEqual(1, len(result.rows))
        self.assertTrue(result.rows[0].default)

    def test_boot_check_failure_stops_before_loading(self):
        failed = mock.Mock(passed=False, message='verify failed: docker',
                           serial_log='x.log', tail=('t',))
        with mock.patch.object(deploy.verify_mod, 'run',
                               return_value=failed) as run:
            exc = self.assertRaises(errors.VerifyFailed, self.deploy,
                                    verify='boot')
        self.assertEqual(10, exc.exit_code)
        self.assertEqual(1, run.call_count)  # one file, checked once
        self.assertEqual(0, self.server.uploads)

    def test_conformance_runs_per_version(self):
        passed = mock.Mock(passed=True)
        with mock.patch.object(deploy.conformance, 'run',
                               return_value=passed) as run:
            self.deploy(verify='conformance',
                        datastores='mariadb:10.11 postgresql:16')
        self.assertEqual(['mariadb:10.11', 'postgresql:16'],
                         [c.args[1] for c in run.call_args_list])

    def test_unknown_verify_mode(self):
        self.assertRaises(errors.InputError, self.deploy, verify='maybe')


FakePlan = collections.namedtuple('FakePlan', 'image_path archives')


class TestDeploySources(DeployTestBase):

    def fake_builds(self, archives=()):
        """build's make_plan and execute_all faked; (plans made, jobs)."""
        built, jobs_seen = {}, []

        def make_plan(req):
            name = '%s-%s' % (req.datastore, req.version)
            path = test_load.make_qcow2(self.tmp, name, data_mib=1)
            test_load.write_manifest(
                path, datastore=req.datastore, datastore_version=req.version)
            built[(req.datastore, req.version)] = req
            return FakePlan(path, ('a.tar',) if req.datastore in archives
                            else ())

        def execute_all(plans, jobs=0, force=False, progress=None,
                        builder_version=None):
            jobs_seen.append(jobs)
            return [build.Result(p.image_path,
                                 manifest.path_for(p.image_path),
                                 manifest.read(p.image_path),
                                 cached=force is False) for p in plans]

        self.useFixture(fixtures.MockPatchObject(build, 'make_plan',
                                                 side_effect=make_plan))
        self.useFixture(fixtures.MockPatchObject(build, 'execute_all',
                                                 side_effect=execute_all))
        return built, jobs_seen

    def test_builds_each_version_with_the_flags(self):
        built, jobs_seen = self.fake_builds()
        result = self.deploy(image_file=None, datastores='mariadb mysql:8.0',
                             build_flags=(('dev_mode', True),
                                          ('guest_agent_source', '/t')),
                             jobs=3, images='per-version')
        self.assertEqual([3], jobs_seen)
        self.assertEqual({('mariadb', '10.11'), ('mysql', '8.0')},
                         set(built))
        self.assertTrue(all(r.dev_mode and r.guest_agent_source == '/t'
                            for r in built.values()))
        self.assertEqual(['cached build'] * 2,
                         [r.source for r in result.rows])
        self.assertEqual(2, self.server.uploads)

    def test_shared_image_is_built_and_uploaded_once(self):
        built, _jobs = self.fake_builds(archives=('mysql',))
        result = self.deploy(image_file=None, datastores='mariadb mysql:8.0',
                             images='shared')
        self.assertIn(('generic', None), built)
        self.assertEqual(1, self.server.uploads)
        self.assertEqual(1, len({r.load.glance_image['id']
                                 for r in result.rows}))

    def test_by_default_only_archives_make_an_image_of_its_own(self):
        _built, _jobs = self.fake_builds(archives=('mysql',))
        result = self.deploy(image_file=None,
                             datastores='mariadb:10.11 mariadb:11.4 '
                                        'mysql:8.0')
        paths = [os.path.basename(r.image_path) for r in result.rows]
        # the two mariadb versions share the generic image; mysql has its
        # archive, so an image of its own
        self.assertEqual(['generic-None.qcow2', 'generic-None.qcow2',
                          'mysql-8.0.qcow2'], paths)
        self.assertEqual(2, self.server.uploads)
        self.assertIn('mariadb 10.11, mariadb 11.4: one shared image',
                      self.lines[0])
        self.assertEqual(3, len({r.load.registration.version.id
                                 for r in result.rows}))

    def test_unknown_images_policy(self):
        e = self.assertRaises(errors.InputError, self.deploy,
                              images='some')
        self.assertIn('unknown --images', str(e))

    def test_image_url_fetched_once(self):
        fetched = self.useFixture(fixtures.MockPatchObject(
            fetch, 'fetch', return_value=(self.image, True))).mock
        result = self.deploy(image_file=None,
                             image_url='https://x.test/g.qcow2',
                             image_checksum='sha256:ab', insecure=True,
                             download_dir='/dl', datastores='mysql mariadb',
                             cacert='/ca.pem')
        fetched.assert_called_once_with('https://x.test/g.qcow2', '/dl',
                                        self.lines.append, verify=False,
                                        checksum='sha256:ab',
                                        cacert='/ca.pem')
        self.assertEqual(['cached download'] * 2,
                         [r.source for r in result.rows])


def parse(text):
    return deploy.datastores.parse_entries(text,
                                           test_troveconf.real_catalog())


class TestLoadGroups(base.TestCase):

    def groups(self, text, path=None):
        versions = parse(text)
        files = {v: (path or '/%s-%s' % (v.datastore, v.name), 'file')
                 for v in versions}
        return [['%s:%s' % (v.datastore, v.name) for v in group]
                for group in deploy.load_groups(versions, files)]

    def test_one_file_is_one_group(self):
        self.assertEqual([['mysql:8.4', 'mariadb:10.11', 'postgresql:16']],
                         self.groups('mysql:8.4 mariadb:10.11 postgresql:16',
                                     path='/shared.qcow2'))

    def test_one_datastore_is_one_group_in_order(self):
        self.assertEqual([['mariadb:11.4', 'mariadb:10.11'],
                          ['mysql:8.4']],
                         self.groups('mariadb:11.4 mysql:8.4 mariadb:10.11'))

    def test_distinct_versions_are_groups_of_their_own(self):
        self.assertEqual([['mysql:8.4'], ['mariadb:10.11'],
                          ['postgresql:16']],
                         self.groups('mysql:8.4 mariadb:10.11 postgresql:16'))

    def test_path_and_datastore_join_groups(self):
        versions = parse('mysql:8.4 mariadb:10.11 postgresql:16 mysql:8.0')
        files = {v: ('/%s' % v.datastore, 'file') for v in versions}
        # postgresql shares mariadb's file, mysql:8.0 mysql:8.4's row.
        files[versions[2]] = files[versions[1]]
        self.assertEqual([[versions[0], versions[3]], list(versions[1:3])],
                         deploy.load_groups(versions, files))

    def test_failure_stops_the_next_version_and_comes_first(self):
        versions = parse('mysql:8.4 mariadb:10.11 mariadb:11.4 '
                         'postgresql:16')
        files = {v: ('/%s-%s' % (v.datastore, v.name), 'file')
                 for v in versions}
        stopping, started, loaded = threading.Event(), [], []
        begun = threading.Barrier(3, timeout=5)

        def loader():
            def load_one(ver, progress):
                started.append(ver.name)
                begun.wait()  # all three groups in flight
                if ver.datastore == 'mysql':
                    raise errors.RegisterFailed('no')
                self.assertTrue(stopping.wait(5))
                if ver.datastore == 'postgresql':
                    raise errors.CloudError('later')
                return 'result'
            return load_one

        exc = self.assertRaises(
            errors.RegisterFailed, deploy._load_all, versions, files,
            loader, 3, lambda ver, *a: loaded.append(ver.name),
            stopping=stopping)
        self.assertEqual('no', str(exc))
        self.assertEqual(['10.11'], loaded)  # finished; 11.4 not begun
        self.assertNotIn('11.4', started)


class TestConcurrentLoads(DeployTestBase):
    """deploy's loads, load.run faked: one image file per version."""

    def setUp(self):
        super().setUp()
        self.started, self.connects, self.hashes = [], [], {}
        self.useFixture(fixtures.MockPatchObject(
            deploy, 'image_files', side_effect=lambda versions, *a, **k: {
                v: (os.path.join(self.tmp, '%s-%s.qcow2'
                                 % (v.datastore, v.name)), 'built')
                for v in versions}))

    def fake_loads(self, hooks):
        """load.run: hooks['ds:version'](progress) runs, then it registers.

        Returns the started list: 'ds:version' of each load begun.
        """
        trove = threading.Lock()

        def run(req, connect, progress=None, say=None,
                builder_version=None, make_registrar=None, hashes=None):
            key = '%s:%s' % (req.datastore, req.datastore_version)
            self.started.append(key)
            self.hashes[key] = hashes
            say('loading')
            hooks.get(key, lambda progress: None)(progress)
            with trove:  # the fake Trove is a plain dict
                outcome = make_registrar('api', connect()).register(
                    test_register.wanted(
                        datastore=req.datastore, name=req.datastore_version,
                        version_number=req.version_number,
                        manager=req.manager, image_id='img-' + key,
                        image_tags=()))
            return load.Result(image=None, uploaded=True,
                               glance_image={'id': 'img-' + key},
                               registration=outcome)

        self.useFixture(fixtures.MockPatchObject(load, 'run',
                                                 side_effect=run))

    def run_loads(self, datastores, jobs):
        def connect():
            self.connects.append(threading.current_thread())
            return self.conn
        return deploy.run(deploy.Request(
            datastores=datastores, registrar='api', jobs=jobs,
            state_file=self.state_file, activate=False, flavors=(),
            glance_limit=False), self.conf, connect, say=self.lines.append)

    def test_independent_groups_load_at_once(self):
        barrier = threading.Barrier(2, timeout=5)
        both = lambda progress: barrier.wait()  # noqa: E731
        self.fake_loads({'mariadb:10.11': both, 'mysql:8.4': both})
        result = self.run_loads('mariadb:10.11 mysql:8.4', jobs=2)
        self.assertEqual([('mariadb', '10.11'), ('mysql', '8.4')],
                         [(r.version.datastore, r.version.name)
                          for r in result.rows])
        # The first for the checks, then one per group in its thread.
        self.assertEqual(3, len(set(self.connects)))
        self.assertIn('[mariadb 10.11] loading', self.lines)
        self.assertIn('[mysql 8.4] loading', self.lines)

    def test_a_group_keeps_one_set_of_hashes(self):
        # Versions of one datastore share a group (one thread): a file
        # they share is hashed once. Other groups keep their own.
        self.fake_loads({})
        self.run_loads('mariadb:10.11 mariadb:11.4 mysql:8.4', jobs=2)
        self.assertIs(self.hashes['mariadb:10.11'],
                      self.hashes['mariadb:11.4'])
        self.assertIsNot(self.hashes['mariadb:10.11'],
                         self.hashes['mysql:8.4'])

    def test_one_job_loads_one_group_at_a_time(self):
        barrier = threading.Barrier(2, timeout=0.5)
        both = lambda progress: barrier.wait()  # noqa: E731
        self.fake_loads({'mariadb:10.11': both, 'mysql:8.4': both})
        self.assertRaises(threading.BrokenBarrierError, self.run_loads,
                          'mariadb:10.11 mysql:8.4', jobs=1)
        self.assertEqual(['mariadb:10.11'], self.started)

    def test_failure_keeps_what_the_others_made(self):
        failed = threading.Event()

        def fail(progress):
            failed.set()
            raise errors.RegisterFailed('trove said no')

        self.fake_loads({'mysql:8.4': fail,
                         'mariadb:10.11': lambda p: failed.wait(5)})
        exc = self.assertRaises(errors.RegisterFailed, self.run_loads,
                                'mariadb:10.11 mysql:8.4', jobs=2)
        self.assertEqual(errors.RegisterFailed.exit_code, exc.exit_code)
        state = state_mod.State.load(self.state_file)
        self.assertEqual(['mariadb/10.11'], list(state.made('versions')))
        self.assertEqual(['img-mariadb:10.11'], list(state.made('images')))

    def test_interrupt_stops_the_uploads(self):
        barrier, stopped = threading.Barrier(2, timeout=5), []

        def upload(progress):
            ctrl_c = barrier.wait() == 0  # both in flight: one presses
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if ctrl_c:
                    # Again until seen: one that comes just before the
                    # main thread blocks is only handled when it wakes.
                    signal.pthread_kill(threading.main_thread().ident,
                                        signal.SIGINT)
                time.sleep(0.01)
                try:
                    progress(1, 2)
                except errors.Interrupted:
                    stopped.append(True)
                    raise

        self.fake_loads({'mariadb:10.11': upload, 'mysql:8.4': upload})
        self.assertRaisesRegex(errors.Interrupted, 'SIGINT', self.run_loads,
                               'mariadb:10.11 mysql:8.4', jobs=2)
        self.assertEqual([True, True], stopped)
        self.assertEqual({}, state_mod.State.load(
            self.state_file).made('versions'))


class TestCli(base.TestCase):

    def run_cli(self, *argv):
        return self.main('[build]\nelements_dir = %s\n' % base.ELEMENTS,
                         *argv)

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
            version=test_troveconf.real_catalog().datastore(
                'mysql').version('8.4'),
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
            '--guest-agent-source', '/src', '--os-cacert', '/ca.pem',
            '-f', 'json')
        self.assertEqual(0, rc, err)
        req = run.call_args[0][0]
        self.assertEqual('/ca.pem', req.cacert)
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
        self.assertEqual((None, False), (req.image_checksum, req.insecure))

    def test_deploy_image_url_flags(self):
        run = self.useFixture(fixtures.MockPatchObject(
            deploy, 'run', return_value=deploy.Result(
                rows=(), registrar='api', flavors=()))).mock
        rc, _out, err = self.run_cli(
            'deploy', '--image-url', 'http://i.test/g.qcow2',
            '--image-checksum', 'sha256:ab', '--insecure')
        self.assertEqual(0, rc, err)
        req = run.call_args[0][0]
        self.assertEqual(('http://i.test/g.qcow2', 'sha256:ab', True),
                         (req.image_url, req.image_checksum, req.insecure))

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
