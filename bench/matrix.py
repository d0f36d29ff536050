#!/usr/bin/env python3
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

"""The datastore matrix: what the shared base saves, side by side in one
run, as ratios against their targets.

- deploy of three datastore versions / deploy of one, cold (no base, no
  images) and warm (the base kept, the images rebuilt), for deploy's
  default (--images auto: the three share one image) and for
  --images per-version (one layer each); each deploy against the minicloud is
  undeployed again, so every one uploads and registers for real;
- the CLI's build / a bare `disk-image-create` making the same image
  (the same variables and elements, the datastore element included);
- a dev-mode rebuild after a change to the agent's code / the cold
  dev-mode build;
- the image's size;
- README command 1 (`tools/setup-host.sh && trove-image-builder build`)
  on a fresh Debian 12 root, nothing cached, against the 180 s target
  (bench/fresh_host.py: what is the same as a fresh machine, what not).

"Cold" keeps DIB's download caches (debootstrap tarball, apt archives,
agent wheels) as a build host does; it removes the base and the images.

    python3 bench/matrix.py [--parts deploy,dib,dev,readme]
        [--modes auto,per-version] [--temps cold,warm] [--work-dir DIR]

Needs root, the host set up by tools/setup-host.sh --tests, PyPI (for
the dev-mode Trove source), and brings up the minicloud of
$TIB_MINICLOUD_DIR (down again afterwards if it started it).
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench import fresh_host  # noqa: E402
from integration import minicloud  # noqa: E402

ONE = 'mariadb:10.11'
THREE = 'mariadb:10.11 postgresql:16 mysql:8.4'
TARGETS = {'deploy 3/1': 1.3, 'CLI build / bare DIB': 1.0,
           'dev rebuild / cold dev build': 0.35, 'README command 1 s': 180}


class Bench:

    def __init__(self, work_dir, cloud, cache_dir=None):
        self.work = work_dir
        self.cloud = cloud
        self.cache_dir = cache_dir
        self.rows = []  # (what, seconds)

    def conf(self, name, **build):
        path = os.path.join(self.work, name + '.conf')
        values = {'output_dir': os.path.join(self.work, name, 'images'),
                  'work_dir': os.path.join(self.work, name, 'work'),
                  'base_dir': os.path.join(self.work, name, 'bases')}
        if self.cache_dir:
            values['cache_dir'] = self.cache_dir
        values.update(build)
        lines = ['[build]'] + ['%s = %s' % kv for kv in values.items()]
        if self.cloud:
            lines += ['[trove]', 'trove_manage = %s' % os.path.join(
                self.cloud.bin_dir, 'trove-manage'),
                'config_file = %s' % self.cloud.trove_conf]
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def tool(self, conf, *argv):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        if self.cloud:
            env['OS_CLIENT_CONFIG_FILE'] = self.cloud.clouds_yaml
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, '-m', 'trove_image_builder.cli.app',
             '--config-file', conf] + list(argv), env=env,
            capture_output=True, text=True, stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        if proc.returncode:
            sys.exit('%s failed (exit %d): %s' % (
                ' '.join(argv[:3]), proc.returncode,
                proc.stderr.strip()[-2000:]))
        return seconds, proc.stdout

    def record(self, what, seconds):
        self.rows.append((what, seconds))
        print('%-44s %8.1f s' % (what, seconds), flush=True)

    def fresh(self, name):
        shutil.rmtree(os.path.join(self.work, name), ignore_errors=True)

    # -- deploy ------------------------------------------------------------

    def deploy(self, name, datastores, *flags):
        # Every deploy here has the same base: one directory for it.
        conf = self.conf(name, base_dir=self.deploy_bases)
        state = os.path.join(self.work, name + '.state.json')
        seconds, _out = self.tool(
            conf, 'deploy', '--datastores', datastores, '--os-cloud',
            'minicloud-admin', '--state-file', state, '--no-flavors',
            *flags)
        self.tool(conf, 'undeploy', '--state-file', state, '--os-cloud',
                  'minicloud-admin')
        return seconds

    @property
    def deploy_bases(self):
        return os.path.join(self.work, 'deploy-bases')

    def deploys(self, mode, temps, *flags):
        for count, datastores in (('1', ONE), ('3', THREE)):
            name = 'deploy-%s-%s' % (mode, count)
            if 'cold' in temps:
                self.fresh(name)
                shutil.rmtree(self.deploy_bases, ignore_errors=True)
                self.record('%s deploy %s, cold' % (mode, count),
                            self.deploy(name, datastores, *flags))
            if 'warm' in temps:
                # The base stays (built first if this run has none), the
                # images are made again.
                if not os.path.isdir(self.deploy_bases):
                    self.deploy(name, datastores, *flags)
                shutil.rmtree(os.path.join(self.work, name, 'images'),
                              ignore_errors=True)
                self.record('%s deploy %s, warm' % (mode, count),
                            self.deploy(name, datastores, *flags))

    # -- CLI against bare DIB ------------------------------------------------

    def cli_vs_dib(self):
        self.fresh('cli')
        conf = self.conf('cli')
        seconds, out = self.tool(conf, 'build', 'mariadb', '-f', 'json')
        self.record('CLI build mariadb, no base', seconds)
        image = json.loads(out)
        self.size = image['size']
        with open(image['manifest']) as f:
            data = json.load(f)
        self.record('  of which the layer', data['layer_seconds'])
        # The same variables and elements, as one disk-image-create
        # making the datastore's qcow2 itself.
        _s, dry = self.tool(conf, 'build', 'mariadb', '--dry-run')
        command = [ln for ln in dry.splitlines()
                   if ln.startswith('env ')][0]
        argv = shlex.split(command)[1:]
        first = 0
        while '=' in argv[first] and not argv[first].startswith('/'):
            first += 1
        env = dict(a.split('=', 1) for a in argv[:first])
        dic = argv[first:]
        out_dir = os.path.join(self.work, 'dib')
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        dic[dic.index('-t') + 1] = 'qcow2'
        dic[dic.index('-o') + 1] = os.path.join(out_dir, 'bare')
        env['TMP_DIR'] = os.path.join(self.work, 'dib-tmp')
        env['DIB_TROVE_VALIDATION_RULES_DIR'] = os.path.join(out_dir,
                                                             'rules')
        env['DIB_TROVE_DATASTORE'] = 'mariadb'
        env['DIB_TROVE_DATASTORE_VERSION'] = '10.11'
        os.makedirs(env['TMP_DIR'], exist_ok=True)
        started = time.monotonic()
        with open(os.path.join(out_dir, 'bare.log'), 'w') as log:
            subprocess.run(dic + ['trove-mariadb'], env=env, check=True,
                           stdout=log, stderr=subprocess.STDOUT)
        self.record('bare disk-image-create mariadb',
                    time.monotonic() - started)
        self.bare_size = os.path.getsize(os.path.join(out_dir,
                                                      'bare.qcow2'))

    # -- dev mode ------------------------------------------------------------

    def dev(self):
        src_dir = os.path.join(self.work, 'trove-src')
        if not os.path.isdir(src_dir):
            subprocess.run([sys.executable, '-m', 'pip', 'download', '-q',
                            '--no-deps', '--no-binary', ':all:',
                            'trove==26.0.0', '-d', self.work], check=True)
            with tarfile.open(os.path.join(
                    self.work, 'trove-26.0.0.tar.gz')) as tar:
                # The tree's files and directories only.
                tar.extractall(self.work, members=[
                    m for m in tar if (m.isfile() or m.isdir()) and
                    m.name.startswith('trove-26.0.0/') and
                    '..' not in m.name])
            os.rename(os.path.join(self.work, 'trove-26.0.0'), src_dir)
        self.fresh('dev')
        conf = self.conf('dev')
        argv = ('build', 'mariadb', '--dev-mode', '--guest-agent-source',
                src_dir, '-f', 'json')
        self.record('dev-mode build, cold', self.tool(conf, *argv)[0])
        with open(os.path.join(src_dir, 'trove', 'guestagent',
                               'bench_marker.py'), 'w') as f:
            f.write('STAMP = %r\n' % time.time())
        self.record('dev-mode rebuild after an agent change',
                    self.tool(conf, *argv)[0])

    # -- README command 1 on a fresh host -------------------------------------

    def readme(self):
        setup, build = fresh_host.readme_command_1(
            self.work, os.path.join(self.work, 'readme-command-1.log'))
        self.record('fresh host: tools/setup-host.sh', setup)
        self.record('fresh host: trove-image-builder build', build)
        self.record('README command 1, fresh host', setup + build)

    def report(self):
        got = dict(self.rows)
        print('\nratios (target)')
        for mode in ('auto', 'per-version', 'shared'):
            for temp in ('cold', 'warm'):
                one = got.get('%s deploy 1, %s' % (mode, temp))
                three = got.get('%s deploy 3, %s' % (mode, temp))
                if one and three:
                    print('  3-datastore / 1-datastore deploy, %s, %s: '
                          '%.2f (<= %.2f)' % (mode, temp, three / one,
                                              TARGETS['deploy 3/1']))
        cli = got.get('CLI build mariadb, no base')
        bare = got.get('bare disk-image-create mariadb')
        if cli and bare:
            print('  CLI build / bare disk-image-create: %.2f (<= %.2f)'
                  % (cli / bare, TARGETS['CLI build / bare DIB']))
            print('  image size: %.1f MiB (CLI), %.1f MiB (bare DIB); '
                  'target <= 450 MB: %.0f MB'
                  % (self.size / 2 ** 20, self.bare_size / 2 ** 20,
                     self.size / 1e6))
        readme = got.get('README command 1, fresh host')
        if readme:
            print('  README command 1 on a fresh host: %.0f s (<= %d s)'
                  % (readme, TARGETS['README command 1 s']))
        cold = got.get('dev-mode build, cold')
        rebuild = got.get('dev-mode rebuild after an agent change')
        if cold and rebuild:
            print('  dev-mode rebuild / cold dev-mode build: %.2f (<= %.2f)'
                  % (rebuild / cold,
                     TARGETS['dev rebuild / cold dev build']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--parts', default='deploy,dib,dev,readme')
    parser.add_argument('--modes', default='auto,per-version',
                        help='deploy --images modes: auto (the default), '
                             'per-version, shared')
    parser.add_argument('--temps', default='cold,warm',
                        help='deploys from cold and/or warm caches')
    parser.add_argument('--work-dir',
                        default='/var/tmp/trove-image-builder-matrix')
    parser.add_argument('--cache-dir',
                        help='DIB cache for every build here (default: '
                             '[build] cache_dir); the bare disk-image-create '
                             'takes no lock, so no other build may use it '
                             'meanwhile')
    args = parser.parse_args(argv)
    parts = set(args.parts.split(','))
    os.makedirs(args.work_dir, exist_ok=True)
    cloud = was_up = None
    if 'deploy' in parts:
        cloud = minicloud.MiniCloud()
        was_up = os.path.exists(cloud.clouds_yaml) and cloud.is_up()
        cloud.up()
    bench = Bench(args.work_dir, cloud, args.cache_dir)
    try:
        if 'deploy' in parts:
            for mode in args.modes.split(','):
                bench.deploys(mode, args.temps, '--images', mode)
        if 'dib' in parts:
            bench.cli_vs_dib()
        if 'dev' in parts:
            bench.dev()
        if 'readme' in parts:
            bench.readme()
    finally:
        if cloud and not was_up:
            cloud.down()
    bench.report()


if __name__ == '__main__':
    main()
