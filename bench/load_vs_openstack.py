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

"""Upload throughput and peak memory: `load` against `openstack image
create --file`, on the same image and the same minicloud Glance.

Each tool runs as its own process; its peak RSS comes from wait4()'s
rusage, its time is the whole command (start-up and authentication
included). `load` also reports the upload alone. Runs alternate between
the tools, and every uploaded image is deleted again, so each run is a
real upload (load would otherwise reuse the image).

    python3 bench/load_vs_openstack.py [--image FILE] [--size-mib 400]
        [--runs 3]

Uses the minicloud of $TIB_MINICLOUD_DIR (default workdir), bringing it
up if needed (and down again afterwards if it started it).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from integration import minicloud  # noqa: E402


def make_image(directory, size_mib):
    raw = os.path.join(directory, 'bench.raw')
    with open(raw, 'wb') as f:
        for _ in range(size_mib):
            f.write(os.urandom(2 ** 20))
    path = os.path.join(directory, 'bench.qcow2')
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2',
                    raw, path], check=True)
    os.unlink(raw)
    return path


def measure(argv, env, workdir):
    """(seconds, peak RSS in MiB, stdout) of one command."""
    out_path = os.path.join(workdir, 'out')
    err_path = os.path.join(workdir, 'err')
    with open(out_path, 'w') as out, open(err_path, 'w') as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path) as f:
        stdout = f.read()
    if proc.returncode:
        with open(err_path) as f:
            raise SystemExit('%s failed: %s' % (argv[:3], f.read()[-2000:]))
    return seconds, usage.ru_maxrss / 1024.0, stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--image', help='qcow2 file (default: a new one '
                                        'of random data)')
    parser.add_argument('--size-mib', type=int, default=400)
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args(argv)

    cloud = minicloud.MiniCloud()
    was_up = os.path.exists(cloud.clouds_yaml) and cloud.is_up()
    cloud.up()
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env['OS_CLIENT_CONFIG_FILE'] = cloud.clouds_yaml
    try:
        with tempfile.TemporaryDirectory() as tmp:
            image = args.image or make_image(tmp, args.size_mib)
            size = os.path.getsize(image)
            rows = {'load': [], 'openstack': []}
            for run in range(args.runs):
                for tool in ('load', 'openstack') if run % 2 == 0 else \
                        ('openstack', 'load'):
                    name = 'bench-%s-%d' % (tool, run)
                    if tool == 'load':
                        argv = [sys.executable, '-m',
                                'trove_image_builder.cli.app', 'load',
                                image, '--no-register', '--name', name,
                                '--disk-format', 'qcow2', '--os-cloud',
                                'minicloud-admin', '-f', 'json']
                    else:
                        argv = [os.path.join(cloud.bin_dir, 'openstack'),
                                '--os-cloud', 'minicloud-admin', 'image',
                                'create', '--disk-format', 'qcow2',
                                '--container-format', 'bare', '--file',
                                image, name, '-f', 'json']
                    seconds, rss, out = measure(argv, env, tmp)
                    data = json.loads(out)
                    image_id = data.get('image_id') or data.get('id')
                    rows[tool].append((seconds, rss,
                                       data.get('upload_seconds')))
                    cloud.openstack('image', 'delete', image_id,
                                    parse=False)
            report(image, size, rows)
    finally:
        if not was_up:
            cloud.down()


def report(image, size, rows):
    mib = size / 2 ** 20

    def med(tool, index):
        values = [r[index] for r in rows[tool] if r[index] is not None]
        return statistics.median(values) if values else None

    print('image %s: %.1f MiB, %d run(s) each, medians' % (
        image, mib, len(rows['load'])))
    print('%-10s %10s %12s %14s' % ('tool', 'seconds', 'MiB/s', 'peak RSS'))
    for tool in ('load', 'openstack'):
        print('%-10s %10.2f %12.1f %10.1f MiB' % (
            tool, med(tool, 0), mib / med(tool, 0), med(tool, 1)))
    up = med('load', 2)
    if up:
        print('load, upload alone: %.2f s, %.1f MiB/s' % (up, mib / up))
    print('ratios load/openstack: time %.2f, throughput %.2f, peak RSS %.2f'
          % (med('load', 0) / med('openstack', 0),
             med('openstack', 0) / med('load', 0),
             med('load', 1) / med('openstack', 1)))


if __name__ == '__main__':
    main()
