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

"""The guest conformance check per datastore: seconds per step, end to
end against the target, and peak memory of the guest (qemu) and of the
broker, MariaDB and PostgreSQL side by side in one run.

For each datastore version the container image is built offline
(`container-image build`, a cache hit after the first time), embedded
in a build (a cache hit when nothing changed), and `verify
--conformance` runs on it without recording; everything goes through
the CLI a user runs.

    python3 bench/conformance.py [--datastores mariadb:10.11,postgresql:15]
        [--target-seconds 240] [--work-dir DIR]

Needs root and the hosts set up by tools/setup-host.sh --tests.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cli():
    return shutil.which('trove-image-builder') or os.path.join(
        os.path.dirname(sys.executable), 'trove-image-builder')


def run_json(conf, *argv):
    started = time.monotonic()
    proc = subprocess.run([cli(), '--config-file', conf] + list(argv) +
                          ['-f', 'json'], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit('%s failed (exit %d): %s' % (
            ' '.join(argv[:2]), proc.returncode,
            proc.stderr.strip().splitlines()[-1:]))
    return json.loads(proc.stdout), time.monotonic() - started


def steps_of(text):
    """'listener 2.0s, rpc_ping 95.1s, ...' -> [(step, seconds)]."""
    pairs = []
    for item in text.split(', '):
        name, _sp, secs = item.rpartition(' ')
        pairs.append((name, float(secs.rstrip('s'))))
    return pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--datastores', default='mariadb:10.11,postgresql:15')
    parser.add_argument('--target-seconds', type=float, default=240.0,
                        help='Per datastore, power-on to the client\'s '
                             'select (default: 4 minutes).')
    parser.add_argument('--work-dir',
                        default='/var/tmp/trove-image-builder-bench')
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    conf = os.path.join(args.work_dir, 'tib.conf')
    with open(conf, 'w') as f:
        f.write('[build]\noutput_dir = %s/images\nwork_dir = %s/work\n'
                % (args.work_dir, args.work_dir))

    rows = []
    for spec in args.datastores.split(','):
        datastore, _sep, version = spec.partition(':')
        container, _t = run_json(conf, 'container-image', 'build', spec,
                                 '--output-dir',
                                 os.path.join(args.work_dir, 'containers'))
        image, _t = run_json(conf, 'build', datastore, '--datastore-version',
                             version, '--embed-container-image',
                             container['archive'])
        result, wall = run_json(conf, 'verify', image['image'],
                                '--conformance', spec, '--no-record')
        rows.append((spec, result, wall))

    header = ('datastore', 'seconds', 'target', 'ratio', 'peak memory')
    print('%-16s %8s %8s %7s  %s' % header)
    for spec, result, wall in rows:
        print('%-16s %8.1f %8.0f %7.2f  %s' % (
            spec, result['seconds'], args.target_seconds,
            result['seconds'] / args.target_seconds, result['peak_memory']))
    print()
    for spec, result, wall in rows:
        steps = steps_of(result['steps'])
        last = 0.0
        parts = []
        for name, at in steps:
            parts.append('%s +%.0fs' % (name, at - last))
            last = at
        print('%s (%s, CLI wall %.0fs): %s' % (
            spec, result['accelerator'], wall, ', '.join(parts)))


if __name__ == '__main__':
    main()
