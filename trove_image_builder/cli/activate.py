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

"""`activate`: make a datastore version its datastore's default."""

from cliff import show

from trove_image_builder import activate
from trove_image_builder.cli import common
from trove_image_builder.cloud import connection
from trove_image_builder.cloud import glance as glance_mod

SHOWN = ('datastore', 'default_version', 'version_number', 'version_id',
         'image', 'image_status', 'previous_default', 'changed',
         'registrar')


class Activate(show.ShowOne):
    """Make DATASTORE_VERSION the default version of DATASTORE."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('datastore', metavar='DATASTORE')
        parser.add_argument('datastore_version', metavar='DATASTORE_VERSION')
        parser.add_argument('--version-number', metavar='X.Y.Z',
                            help='Pick among versions sharing a name.')
        parser.add_argument('--force', action='store_true',
                            help='Activate even when the image\'s recorded '
                                 'verification or conformance check '
                                 'failed.')
        common.add_cloud_arguments(parser)
        return parser

    def take_action(self, parsed_args):
        a = parsed_args
        conf = self.app.conf
        settings = common.registrar_settings(conf, a)
        # Glance is asked about the image with either registrar.
        conn = connection.connect(common.cloud_options(conf, a))
        glance = glance_mod.Glance(connection.image_api(conn))
        registrar = settings.make(conn)
        result = activate.activate(registrar, glance, a.datastore,
                                   a.datastore_version, a.version_number,
                                   force=a.force)
        if not result.changed:
            common.Output(self.app).say('%s %s was already the default' % (
                a.datastore, result.version.name))
        v = result.version
        data = {
            'datastore': result.datastore, 'default_version': v.name,
            'version_number': v.version_number, 'version_id': v.id,
            'image': result.image.get('id'),
            'image_status': result.image.get('status'),
            'previous_default': result.previous_default,
            'changed': result.changed, 'registrar': settings.kind,
        }
        return SHOWN, tuple(data[k] for k in SHOWN)
