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

from tests.unit import base
from trove_image_builder.register import params


def rule(name, data_type='integer', **kw):
    return dict(name=name, type=data_type,
                restart_required=kw.pop('restart', False), **kw)


class TestPlan(base.TestCase):

    def test_same_values_in_every_spelling_are_unchanged(self):
        have = {
            # as Trove's API shows them: 0 left out, numbers as JSON
            'a': params.normal('a', False, 'integer', 10, None),
            # as its database holds them: text
            'b': params.normal('b', 0, 'integer', '18446744073709551615',
                               '1'),
            'c': params.normal('c', True, 'float', '1.0', '0.5')}
        change = params.plan([
            rule('a', min=0, max=10),
            rule('b', min=1, max=18446744073709551615),
            rule('c', 'float', restart=True, min=0.5, max=1)], have)
        self.assertEqual(('a', 'b', 'c'), change.unchanged)
        self.assertFalse(change.changes)

    def test_create_modify_delete(self):
        have = {'keep': params.normal('keep', False, 'string', None, None),
                'edit': params.normal('edit', False, 'integer', 5, 0),
                'old': params.normal('old', False, 'string', None, None)}
        change = params.plan([rule('keep', 'string'),
                              rule('edit', max=6, min=0),
                              rule('new', 'string')], have)
        self.assertEqual((('new',), ('edit',), ('old',), ('keep',)),
                         (change.create, change.modify, change.delete,
                          change.unchanged))
        self.assertEqual('created 1, modified 1, deleted 1, unchanged 1, '
                         'skipped 0 of 3', change.summary())

    def test_an_integer_without_max_needs_a_registrar_that_takes_it(self):
        rules = [rule('n', min=0), rule('m', min=0, max=9)]
        change = params.plan(rules, {}, bounded=True)
        self.assertEqual(('n (integer without max)',), change.skipped)
        self.assertEqual(('m',), change.create)
        self.assertEqual(('n', 'm'), params.plan(rules, {}).create)

    def test_types_the_registrar_cannot_write_are_skipped(self):
        have = {'held': params.normal('held', False, 'boolean', None, None)}
        change = params.plan([rule('held', 'boolean'),
                              rule('flag', 'boolean'),
                              rule('n', min=0, max=1)], have,
                             types=('integer', 'string'))
        self.assertEqual(('held',), change.unchanged)
        self.assertEqual(('flag (boolean)',), change.skipped)
        self.assertEqual(('n',), change.create)
        self.assertEqual((), change.delete)
