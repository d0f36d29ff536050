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

import dataclasses

from tests.unit import base
from trove_image_builder import build
from trove_image_builder.cloud import connection
from trove_image_builder import conf as conf_mod
from trove_image_builder.conf import opts
from trove_image_builder import load
from trove_image_builder import register
from trove_image_builder import verify


class TestRequestsFromConf(base.TestCase):

    REQUESTS = (build.Request, load.Request, verify.Options,
                connection.Options, register.Settings)

    def test_defaults_are_the_options_defaults(self):
        defaults = {'%s.%s' % (group.name, opt.dest): opt.default
                    for group, group_opts in opts.list_opts()
                    for opt in group_opts}
        for cls in self.REQUESTS:
            for field in dataclasses.fields(cls):
                name = field.metadata.get('trove_image_builder.option')
                if name and field.default is not dataclasses.MISSING:
                    want = defaults[name]
                    if isinstance(want, list):
                        want = tuple(want)
                    if isinstance(want, dict):
                        want = tuple(sorted(want.items()))
                    self.assertEqual(want, field.default,
                                     '%s.%s' % (cls.__name__, field.name))

    def test_configured_values_then_flags(self):
        conf = self.make_conf(build={'datastore': 'mysql',
                                     'extra_elements': 'a,b'},
                              dib={'extra_env': 'DIB_B:2,DIB_A:1'})
        req = build.Request.from_conf(conf, release='trixie', os=None)
        self.assertEqual('mysql', req.datastore)
        self.assertEqual('trixie', req.release)
        self.assertIsNone(req.os)
        self.assertEqual(('a', 'b'), req.extra_elements)
        self.assertEqual((('DIB_A', '1'), ('DIB_B', '2')), req.extra_env)

    def test_required_option_field_has_no_default(self):
        self.assertRaises(TypeError, build.Request)
        self.assertEqual('mariadb',
                         build.Request.from_conf(self.make_conf()).datastore)

    def test_unknown_option_is_a_programming_error(self):
        self.assertRaises(LookupError, conf_mod.option, 'build.nope')
