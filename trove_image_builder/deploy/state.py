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

"""The state file: what deploys made, the record undeploy reads."""

import json
import os

from trove_image_builder import errors


class State:
    """What deploys made, merged over runs: the record undeploy reads."""

    KINDS = ('images', 'datastores', 'versions', 'flavors')

    def __init__(self, path, data=None):
        self.path = path
        self.data = data or {}
        for kind in self.KINDS:
            self.data.setdefault(kind, {})

    @classmethod
    def load(cls, path):
        if not path or not os.path.exists(path):
            return cls(path)
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
            if not isinstance(data, dict):
                raise ValueError('not a JSON object')
        except (OSError, ValueError) as exc:
            raise errors.InputError('unreadable state file %s: %s'
                                    % (path, exc))
        return cls(path, data)

    def note(self, kind, key, made, **facts):
        """Record key; once made by us, it stays ours on later runs."""
        entry = self.data[kind].setdefault(key, {})
        entry.update(facts)
        entry['made'] = bool(entry.get('made')) or bool(made)

    def made(self, kind):
        return {k: v for k, v in self.data[kind].items() if v.get('made')}

    def forget(self, kind, key):
        self.data[kind].pop(key, None)

    def forget_unmade(self):
        for kind in self.KINDS:
            for key in list(self.data[kind]):
                if not self.data[kind][key].get('made'):
                    self.forget(kind, key)

    @property
    def glance_limit(self):
        return self.data.get('glance_limit')

    def note_limit(self, change):
        old = (self.glance_limit or {}).get('old', change.old)
        self.data['glance_limit'] = {'kind': change.kind, 'id': change.id,
                                     'old': old, 'new': change.new,
                                     'project_id': change.project_id}

    def empty(self):
        return not any(self.data[k] for k in self.KINDS) and \
            not self.glance_limit

    def save(self):
        if not self.path:
            return
        if self.empty():
            if os.path.exists(self.path):
                os.unlink(self.path)
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)),
                    exist_ok=True)
        tmp = self.path + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
            f.write('\n')
        os.replace(tmp, self.path)


def version_key(datastore, name):
    return '%s/%s' % (datastore, name)
