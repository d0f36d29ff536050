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

"""The manage registrar: trove-manage on this host (devstack's way).

It writes straight into Trove's database, so it works before trove-api
runs. trove-manage has no read commands, so reads go through
manage_query.py run by trove-manage's own Python interpreter.
trove-manage does not check images: load and activate check them in
Glance first.
"""

import json
import os
import shlex
import shutil
import subprocess

from trove_image_builder import errors
from trove_image_builder import register
from trove_image_builder.register import manage_query
from trove_image_builder.register import params

QUERY_SCRIPT = os.path.abspath(manage_query.__file__)
# trove-manage does one database statement per call: seconds. A call past
# this waits on a locked table or an unreachable database.
TIMEOUT = 300


def _last_line(*texts):
    for text in texts:
        lines = [ln.strip() for ln in (text or '').splitlines()
                 if ln.strip()]
        if lines:
            return lines[-1][:300]
    return 'no output'


class ManageRegistrar(register.Registrar):

    name = 'manage'

    def __init__(self, trove_manage, config_file, run=subprocess.run):
        self.trove_manage = trove_manage
        self.config_file = config_file
        self._run = run
        self._trove_dir = None

    def _command(self):
        path = shutil.which(self.trove_manage)
        if not path:
            raise errors.InputError('trove-manage not found: %s (set [trove]'
                                    ' trove_manage)' % self.trove_manage)
        if not os.path.isfile(self.config_file):
            raise errors.InputError('trove.conf not found: %s (set [trove] '
                                    'config_file)' % self.config_file)
        return path

    def _interpreter(self, path):
        """The Python that runs trove-manage, from its #! line."""
        with open(path, 'rb') as f:
            first = f.readline(512).decode(errors='replace').strip()
        if not first.startswith('#!'):
            raise errors.InputError('%s is not a script with a #! line; '
                                    'cannot find trove\'s Python' % path)
        return shlex.split(first[2:])

    def _exec(self, argv, what):
        try:
            res = self._run(argv, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise errors.CloudError('%s did not finish in %d seconds'
                                    % (what, TIMEOUT))
        except OSError as exc:
            raise errors.CloudError('%s: %s' % (what, exc))
        if res.returncode != 0:
            raise errors.CloudError('%s failed (exit %d): %s' % (
                what, res.returncode, _last_line(res.stderr, res.stdout)))
        return res.stdout

    def manage(self, *args):
        argv = [self._command(), '--config-file', self.config_file]
        out = self._exec(argv + list(args), 'trove-manage %s' % args[0])
        return out

    def query(self, datastore):
        path = self._command()
        argv = self._interpreter(path) + [
            QUERY_SCRIPT, '--config-file', self.config_file, datastore]
        out = self._exec(argv, 'reading Trove\'s database')
        for line in out.splitlines():
            if line.startswith(manage_query.MARKER):
                data = json.loads(line[len(manage_query.MARKER):])
                self._trove_dir = data['trove_dir']
                return data
        raise errors.CloudError('reading Trove\'s database: no answer (%s)'
                                % _last_line(out))

    def versions(self, datastore):
        data = self.query(datastore)
        if data['datastore'] is None:
            return None
        default = data['datastore']['default_version_id']
        return [register.Registered(
            id=v['id'], datastore=datastore, name=v['name'],
            version_number=v['version'] or v['name'], manager=v['manager'],
            image_id=v['image_id'] or '',
            image_tags=tuple(t for t in v['image_tags'].split(',') if t),
            active=v['active'], default=v['id'] == default)
            for v in data['versions']]

    def _expect(self, out, words, what):
        # trove-manage prints some failures and still exits 0.
        if words not in out:
            raise errors.CloudError('%s: %s' % (what, _last_line(out)))

    def _create(self, want, datastore_exists):
        if not datastore_exists:
            out = self.manage('datastore_update', want.datastore, '')
            self._expect(out, 'updated', 'trove-manage datastore_update')
        self._write(want)

    def _update(self, prev, want):
        self._write(want)

    def _write(self, want):
        args = ['datastore_version_update', want.datastore, want.name,
                want.manager, want.image_id or '', '',
                '1' if want.active else '0',
                '--version', want.version_number]
        if want.image_tags:
            args += ['--image-tags', ','.join(want.image_tags)]
        out = self.manage(*args)
        self._expect(out, 'updated', 'trove-manage datastore_version_update')

    def rules_path(self, spec):
        if spec and spec.startswith('trove:'):
            if self._trove_dir is None:
                self.query('')
            path = os.path.join(self._trove_dir, spec[len('trove:'):])
            return path if os.path.isfile(path) else None
        return super().rules_path(spec)

    def _parameters(self, version):
        held = []
        for v in self.query(version.datastore)['versions']:
            if v['id'] == version.id:
                held = v.get('parameters') or []
        return {p['name']: params.normal(
            p['name'], p['restart_required'], p['type'], p['max'], p['min'])
            for p in held}

    def _apply_rules(self, version, rules_path, change):
        where = [version.datastore, version.name]
        if change.delete:
            # trove-manage removes a version's parameters all at once
            # only; configuration groups of this version cannot be
            # created until the load below (seconds).
            self.manage('db_remove_datastore_config_parameters', *where,
                        '--version', version.version_number)
        self.manage('db_load_datastore_config_parameters', *where,
                    rules_path, '--version', version.version_number)

    def _set_default(self, version):
        out = self.manage('datastore_update', version.datastore,
                          version.name)
        self._expect(out, 'updated', 'trove-manage datastore_update')
