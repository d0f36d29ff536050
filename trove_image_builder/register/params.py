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

"""What loading a validation rules file changes in Trove, decided once.

Both registrars read what the version holds, get a Change from plan()
and apply it their own way, so a re-run with the same file reports (and
does) nothing with either.

Parameters Trove holds that the file no longer lists are deleted: the
file is the rules of the trove release whose agent is in the image, and
a parameter it dropped is one that agent no longer renders or that the
datastore no longer accepts (an unknown variable in my.cnf stops
mysqld). Trove validates only new and changed configuration groups
against the parameters; the values of existing groups are kept.
"""

import dataclasses
import decimal

# Every type Trove knows; the api registrar narrows it.
ALL_TYPES = None


def _number(value):
    """A rule's min or max, comparable whatever the source.

    Trove's API leaves out 0 and unset values and its database stores
    them as text; Decimal keeps 2**64-1 exact where float would not.
    """
    if value in (None, ''):
        return decimal.Decimal(0)
    try:
        return decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        return str(value)


def normal(name, restart_required, data_type, max_size, min_size):
    """One parameter in the form both sides are compared in."""
    return (name, bool(restart_required), data_type, _number(max_size),
            _number(min_size))


def from_rule(rule):
    return normal(rule['name'], rule.get('restart_required'),
                  rule['type'], rule.get('max'), rule.get('min'))


@dataclasses.dataclass(frozen=True)
class Change:
    """Parameter names by what loading the file does to them."""

    total: int
    create: tuple = ()
    modify: tuple = ()
    delete: tuple = ()
    unchanged: tuple = ()
    skipped: tuple = ()  # types this registrar cannot write
    notes: tuple = ()
    loaded: bool = True  # False: the file could not be read here

    @property
    def changes(self):
        return bool(self.create or self.modify or self.delete)

    def summary(self):
        """One line, every count always present (scripts parse it)."""
        if not self.loaded:
            return 'not loaded'
        return ('created %d, modified %d, deleted %d, unchanged %d, '
                'skipped %d of %d' % (
                    len(self.create), len(self.modify), len(self.delete),
                    len(self.unchanged), len(self.skipped), self.total))


def plan(rules, have, types=ALL_TYPES, bounded=False):
    """The Change from have (name -> normal()) to the rules file.

    types: the data types the registrar can write, or ALL_TYPES;
    bounded: the registrar cannot write an integer without a max.
    """
    create, modify, unchanged, skipped = [], [], [], []
    wanted = set()
    for rule in rules:
        name = rule['name']
        wanted.add(name)
        want = from_rule(rule)
        old = have.get(name)
        if old == want:
            unchanged.append(name)
        elif types is not ALL_TYPES and rule['type'] not in types:
            skipped.append('%s (%s)' % (name, rule['type']))
        elif bounded and rule['type'] == 'integer' and \
                rule.get('max') is None:
            skipped.append('%s (integer without max)' % name)
        elif old is None:
            create.append(name)
        else:
            modify.append(name)
    delete = sorted(n for n in have if n not in wanted)
    return Change(total=len(rules), create=tuple(create),
                  modify=tuple(modify), delete=tuple(delete),
                  unchanged=tuple(unchanged), skipped=tuple(skipped))
