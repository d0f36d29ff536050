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

"""`list`: the datastores, versions and operating systems the elements
declare."""

from cliff import lister

from trove_image_builder import catalog
from trove_image_builder import datafiles


class ListVersions(lister.Lister):
    """List buildable datastores and versions (or, with --os, systems)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--os', action='store_true',
                            help='List operating systems and releases.')
        return parser

    def take_action(self, parsed_args):
        conf = self.app.conf.build
        cat = catalog.Catalog.load(datafiles.elements_dir(conf.elements_dir))
        if parsed_args.os:
            columns = ('os', 'release', 'default', 'element')
            rows = [(s.name, r, s.name == cat.default_os
                     and r == s.default_release, s.element)
                    for s in cat.systems.values() for r in s.releases]
            return columns, rows
        columns = ('datastore', 'version', 'version_number', 'manager',
                   'container_image', 'default', 'element')
        rows = [(v.datastore, v.name, v.version_number, v.manager,
                 v.container_image, v.default, ds.element)
                for _n, ds in sorted(cat.datastores.items())
                for v in ds.versions]
        return columns, rows
