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

"""`minicloud selftest`: bring the cloud up and prove it works, for real.

Uses only the real CLIs (`openstack`, `trove-manage`) against the real
services; exits non-zero when any check fails.  The image it uploads is
deleted again; the datastore version it registers stays (re-registering
it is an update, so runs repeat cleanly).
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

DATASTORE = 'mariadb'
VERSION = 'minicloud-selftest'
API_VERSION = 'minicloud-selftest-api'


class Checks:
    """Counts and prints check results; exceptions count as failures."""

    def __init__(self):
        self.failed = []

    def check(self, what, ok, detail=''):
        print('%s %s%s' % ('ok  ' if ok else 'FAIL', what,
                           (': ' + detail) if detail else ''))
        sys.stdout.flush()
        if not ok:
            self.failed.append(what)
        return ok

    def step(self, what, func, *args, **kwargs):
        """Run func; a raised error is a failed check, result is returned."""
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # noqa: any failure is a result here
            self.check(what, False, str(exc)[-600:])
            return None


def _timed(func, *args):
    started = time.monotonic()
    func(*args)
    return time.monotonic() - started


def _our_processes(cloud):
    """PIDs whose command line (or gunicorn title) names the workdir."""
    mine = re.compile(re.escape(cloud.workdir) + r'([/\]\s]|$)')
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if mine.search(cmd) and 'selftest' not in cmd:
            found.append(int(entry))
    return found


def _fails(cloud, *args, saying=''):
    """True when an openstack command exits non-zero (with that text)."""
    res = cloud.run('openstack', '--os-cloud', 'minicloud-admin', *args,
                    check=False)
    return res.returncode != 0 and saying in res.stderr


def _make_qcow2(directory):
    path = os.path.join(directory, 'selftest.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, '64M'],
                   check=True)
    with open(path, 'rb') as f:
        return path, hashlib.md5(f.read(), usedforsecurity=False).hexdigest()


def _image_checks(cloud, c, tmp):
    path, md5 = _make_qcow2(tmp)
    image = c.step('image create', cloud.openstack, 'image', 'create',
                   '--disk-format', 'qcow2', '--container-format', 'bare',
                   '--file', path, 'minicloud-selftest')
    if not image:
        return None
    c.check('image create (active, checksum matches)',
            image.get('status') == 'active' and image.get('checksum') == md5,
            'status %s' % image.get('status'))
    return image['id']


def _trove_checks(cloud, c, image_id):
    ds = c.step('datastore list', cloud.openstack, 'datastore', 'list')
    c.check('datastore list', ds is not None)
    manage = [
        ('datastore_update', DATASTORE, ''),
        ('datastore_version_update', DATASTORE, VERSION, 'mariadb',
         image_id, '', '1', '--version', '10.11.0'),
        ('datastore_update', DATASTORE, VERSION),
    ]
    for args in manage:
        res = c.step('trove-manage ' + args[0], cloud.trove_manage, *args)
        c.check('trove-manage ' + ' '.join(a or "''" for a in args[:3]),
                res is not None)
    trove_dir = cloud.run('python', '-c', 'import os, trove; '
                          'print(os.path.dirname(trove.__file__))')
    rules = os.path.join(trove_dir.stdout.strip(), 'templates', DATASTORE,
                         'validation-rules.json')
    res = c.step('load config parameters', cloud.trove_manage,
                 'db_load_datastore_config_parameters', DATASTORE, VERSION,
                 rules)
    c.check('trove-manage db_load_datastore_config_parameters',
            res is not None)
    versions = c.step('datastore version list', cloud.openstack,
                      'datastore', 'version', 'list', DATASTORE) or []
    c.check('datastore version list %s shows %s' % (DATASTORE, VERSION),
            VERSION in [v['Name'] for v in versions])
    params = c.step('parameter list', cloud.openstack, 'database',
                    'configuration', 'parameter', 'list', VERSION,
                    '--datastore', DATASTORE) or []
    with open(rules) as f:
        expected = len(json.load(f)['configuration-parameters'])
    c.check('configuration parameters loaded', len(params) == expected,
            '%d of %d parameters' % (len(params), expected))
    demo = c.step('demo datastore list', cloud.openstack, 'datastore',
                  'version', 'list', DATASTORE, cloud='minicloud-demo')
    c.check('non-admin user lists datastore versions', bool(demo))
    _api_registration(cloud, c, image_id)


def _api_registration(cloud, c, image_id):
    """The API path: Trove itself asks Glance whether the image exists."""
    def find():
        listed = cloud.openstack('datastore', 'version', 'list', DATASTORE)
        return [v['ID'] for v in listed if v['Name'] == API_VERSION]

    for old in find():
        cloud.openstack('datastore', 'version', 'delete', old, parse=False)
    res = c.step('datastore version create (API)', cloud.openstack,
                 'datastore', 'version', 'create', API_VERSION, DATASTORE,
                 'mariadb', image_id, '--active', '--version-number',
                 '10.11.1', parse=False)
    created = find() if res is not None else []
    c.check('datastore version create through the API', bool(created))
    refused = _fails(cloud, 'datastore', 'version', 'create',
                     API_VERSION + '-bogus', DATASTORE, 'mariadb',
                     '00000000-0000-0000-0000-000000000000', '--active',
                     saying='cannot be found')
    c.check('API refuses an image Glance does not have', refused and
            API_VERSION + '-bogus' not in str(find()))
    for old in created:
        c.step('datastore version delete', cloud.openstack, 'datastore',
               'version', 'delete', old, parse=False)


def _fault_checks(cloud, c):
    cloud.stop('glance')
    c.check('image list fails while glance is stopped',
            _fails(cloud, 'image', 'list')
            and not cloud.status()['glance']['pid'])
    took = c.step('start glance', _timed, cloud.start, 'glance')
    c.check('start glance', took is not None, '%.1f s' % (took or 0))
    images = c.step('image list after start', cloud.openstack,
                    'image', 'list')
    c.check('image list works again', images is not None)


def _down_checks(cloud, c):
    before = [p for st in cloud.status().values() if st['pid']
              for p in [st['pid']]]
    cloud.down()
    left = _our_processes(cloud)
    still = [p for p in before if os.path.exists('/proc/%d' % p)]
    c.check('down leaves no process', not left and not still,
            'left: %s' % (left + still) if left or still else '')


def run(cloud, keep_up=False):
    c = Checks()
    took = c.step('up', _timed, cloud.up)
    if took is None:
        return 1
    c.check('up', True, '%.1f s' % took)
    status = cloud.status()
    c.check('all services answer', all(s['answering']
                                       for s in status.values()),
            'memory %.0f MiB' % sum(s['memory_mib']
                                    for s in status.values()))
    with tempfile.TemporaryDirectory() as tmp:
        image_id = _image_checks(cloud, c, tmp)
    if image_id:
        mine = cloud.openstack('image', 'list', cloud='minicloud-demo')
        c.check("demo user does not see admin's private image",
                image_id not in [i['ID'] for i in mine or []])
        _trove_checks(cloud, c, image_id)
        _fault_checks(cloud, c)
        c.step('image delete', cloud.openstack, 'image', 'delete',
               image_id, parse=False)
    _down_checks(cloud, c)
    took = c.step('second up', _timed, cloud.up)
    c.check('second up', took is not None, '%.1f s' % (took or 0))
    if not keep_up:
        _down_checks(cloud, c)
    print('%d check(s) failed: %s' % (len(c.failed), ', '.join(c.failed))
          if c.failed else 'all checks passed')
    return 1 if c.failed else 0
