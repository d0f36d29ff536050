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

"""The Zuul configuration: it parses and its jobs run what CI needs.

Its playbooks exist, there is one image-build job per datastore element,
and check runs every root tox environment on a host that can build
images.
"""

import configparser
import glob
import os

import yaml

from tests.unit import base
from trove_image_builder import catalog

ZUUL_DIR = os.path.join(base.TOP, 'zuul.d')
PLAYBOOK_KEYS = ('pre-run', 'run', 'post-run', 'cleanup-run')
# Jobs defined in other repositories (openstack/devstack,
# openstack-zuul-jobs) that this configuration uses.
EXTERNAL_JOBS = {'devstack', 'openstack-tox-pep8', 'openstack-tox-py311',
                 'openstack-tox-docs', 'build-openstack-releasenotes'}
# Nodesets OpenDev defines.
EXTERNAL_NODESETS = {'debian-bookworm', 'openstack-single-node-noble'}
# tox environments that need root and a host able to build images (loop
# devices, mounts, chroot), so openstack-tox (non-root) cannot run them.
ROOT_TOX_ENVS = ('functional', 'functional-postgresql', 'integration',
                 'devstack', 'package')


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def load_config():
    """{kind: [body, ...]} over every file of zuul.d (or .zuul.yaml)."""
    paths = sorted(glob.glob(os.path.join(ZUUL_DIR, '*.yaml')))
    single = os.path.join(base.TOP, '.zuul.yaml')
    if os.path.exists(single):
        paths.append(single)
    config = {}
    for path in paths:
        with open(path) as f:
            documents = yaml.safe_load(f)
        assert isinstance(documents, list), path
        for item in documents:
            assert isinstance(item, dict) and len(item) == 1, (path, item)
            (kind, body), = item.items()
            config.setdefault(kind, []).append(body)
    return config


class TestZuul(base.TestCase):

    def setUp(self):
        super().setUp()
        self.config = load_config()
        self.jobs = {job['name']: job for job in self.config['job']}
        self.nodesets = {n['name']: n for n in self.config.get('nodeset',
                                                               [])}

    def pipeline_jobs(self, pipeline):
        return [j if isinstance(j, str) else next(iter(j))
                for p in self.config['project']
                for j in p.get(pipeline, {}).get('jobs', [])]

    def resolved(self, name, key):
        """A job's attribute, inherited through its parents here."""
        job = self.jobs[name]
        while key not in job and job.get('parent') in self.jobs:
            job = self.jobs[job['parent']]
        return job.get(key)

    def labels(self, nodeset):
        if nodeset in self.nodesets:
            return [n['label'] for n in self.nodesets[nodeset]['nodes']]
        return [nodeset]  # OpenDev's nodesets are named after the label

    def test_nodesets_exist(self):
        known = set(self.nodesets) | EXTERNAL_NODESETS
        for name in self.jobs:
            nodeset = self.resolved(name, 'nodeset')
            if nodeset is not None:
                self.assertIn(nodeset, known, name)

    def test_check_runs_root_tox_envs_on_image_hosts(self):
        tox = configparser.ConfigParser(interpolation=None)
        tox.read(os.path.join(base.TOP, 'tox.ini'))
        image_labels = self.labels(self.resolved(
            'trove-image-builder-build-base', 'nodeset'))
        by_env = {self.resolved(n, 'vars').get('tib_tox_env'): n
                  for n in self.jobs
                  if not self.jobs[n].get('abstract')
                  and (self.resolved(n, 'vars') or {}).get('tib_tox_env')}
        for env in ROOT_TOX_ENVS:
            self.assertIn('testenv:%s' % env, tox.sections())
            self.assertIn(env, by_env, 'no job runs tox -e %s' % env)
            name = by_env[env]
            for pipeline in ('check', 'gate'):
                self.assertIn(name, self.pipeline_jobs(pipeline))
            # The same kind of host as the image builds, and root.
            self.assertEqual(image_labels, self.labels(
                self.resolved(name, 'nodeset')), name)
            with open(os.path.join(base.TOP,
                                   self.resolved(name, 'run'))) as f:
                tasks = yaml.safe_load(f)[0]['tasks']
            runs = [t for t in tasks if 'tib_tox_env' in str(t)
                    and 'tox -e' in str(t)]
            self.assertTrue(runs and all(t.get('become') for t in runs),
                            name)
            with open(os.path.join(base.TOP,
                                   self.resolved(name, 'pre-run'))) as f:
                self.assertIn('tools/setup-host.sh --tests', f.read())

    def test_docs_and_release_notes_in_check(self):
        checked = self.pipeline_jobs('check')
        self.assertIn('openstack-tox-docs', checked)
        self.assertIn('build-openstack-releasenotes', checked)

    def test_job_names_unique(self):
        names = [job['name'] for job in self.config['job']]
        self.assertEqual(len(names), len(set(names)))

    def test_every_playbook_exists(self):
        seen = 0
        for job in self.jobs.values():
            for key in PLAYBOOK_KEYS:
                for playbook in _as_list(job.get(key)):
                    path = playbook['name'] if isinstance(
                        playbook, dict) else playbook
                    self.assertTrue(
                        os.path.isfile(os.path.join(base.TOP, path)),
                        '%s: %s %s does not exist' % (job['name'], key,
                                                      path))
                    with open(os.path.join(base.TOP, path)) as f:
                        plays = yaml.safe_load(f)
                    self.assertIsInstance(plays, list, path)
                    self.assertTrue(all('hosts' in p for p in plays), path)
                    seen += 1
        self.assertGreater(seen, 0)

    def test_parents_and_pipeline_jobs_exist(self):
        known = set(self.jobs) | EXTERNAL_JOBS
        for job in self.jobs.values():
            if 'parent' in job:
                self.assertIn(job['parent'], known, job['name'])
        used = set()
        for project in self.config['project']:
            for pipeline, body in project.items():
                if isinstance(body, dict):
                    for entry in body.get('jobs', []):
                        used.add(entry if isinstance(entry, str)
                                 else next(iter(entry)))
        self.assertLessEqual(used, known)
        self.assertIn('trove-image-builder-publish',
                      [j for p in self.config['project']
                       for j in p.get('periodic', {}).get('jobs', [])])

    def test_one_build_job_per_datastore_element(self):
        datastores = catalog.Catalog.load(base.ELEMENTS).datastores
        self.assertTrue(datastores)
        base_job = 'trove-image-builder-build-base'
        builds = {job['vars']['tib_datastore']: name
                  for name, job in self.jobs.items()
                  if job.get('parent') == base_job}
        self.assertEqual(sorted(datastores), sorted(builds))
        for ds, name in builds.items():
            self.assertEqual('trove-image-builder-build-%s' % ds, name)
        checked = [j for p in self.config['project']
                   for j in p.get('check', {}).get('jobs', [])]
        self.assertLessEqual(set(builds.values()), set(checked))
        self.assertTrue(self.jobs[base_job].get('abstract'))

    def test_image_jobs_run_the_conformance_check(self):
        job = self.jobs['trove-image-builder-build-base']
        self.assertTrue(job['vars']['tib_conformance'])
        with open(os.path.join(base.TOP, job['run'])) as f:
            tasks = yaml.safe_load(f)[0]['tasks']
        commands = [t.get('ansible.builtin.command', '') for t in tasks]
        order = [next(i for i, c in enumerate(commands) if word in c)
                 for word in ('container-image build', 'trove-image-builder'
                              ' build', '--conformance')]
        self.assertEqual(sorted(order), order)
        self.assertIn('--embed-container-image', commands[order[1]])
        with open(os.path.join(base.TOP, job['pre-run'])) as f:
            pre = yaml.safe_load(f)[0]['tasks'][0]
        self.assertIn('--tests', pre['ansible.builtin.command'])

    def test_devstack_job_enables_the_plugin(self):
        job = self.jobs['trove-image-builder-devstack']
        self.assertEqual('devstack', job['parent'])
        plugins = job['vars']['devstack_plugins']
        self.assertEqual(['trove', 'trove-image-builder'], list(plugins))
        cat = catalog.Catalog.load(base.ELEMENTS)
        for entry in job['vars']['devstack_localrc'][
                'TROVE_DATASTORES'].split():
            name, _sep, version = entry.partition(':')
            cat.datastore(name).version(version or None)

    def test_publish_job_publishes_checksums_and_manifests(self):
        job = self.jobs['trove-image-builder-publish']
        with open(os.path.join(base.TOP, job['run'])) as f:
            run = f.read()
        self.assertIn('SHA256SUMS', run)
        self.assertIn('.manifest', run)
        self.assertIn('trove-image-builder build', run)
        with open(os.path.join(base.TOP, job['post-run'])) as f:
            self.assertIn('artifacts', f.read())
