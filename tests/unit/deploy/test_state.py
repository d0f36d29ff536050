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

import os

from tests.unit import base
from trove_image_builder.cloud import quota
from trove_image_builder.deploy import state as state_mod
from trove_image_builder import errors


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
