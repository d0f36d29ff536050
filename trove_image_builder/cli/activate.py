"""`activate`: make a datastore version its datastore's default."""

from cliff import show

from trove_image_builder import activate
from trove_image_builder.cli import load as load_cli
from trove_image_builder import cloud
from trove_image_builder import glance as glance_mod
from trove_image_builder import register

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
        load_cli.add_cloud_arguments(parser)
        return parser

    def take_action(self, parsed_args):
        a = parsed_args
        conf = self.app.conf
        kind = a.registrar or conf.trove.registrar
        # Glance is asked about the image with either registrar.
        conn = cloud.connect(load_cli.cloud_options(conf, a))
        glance = glance_mod.Glance(cloud.image_api(conn))
        registrar = register.make(
            kind, conn, conf.trove.trove_manage,
            a.trove_config_file or conf.trove.config_file)
        result = activate.activate(registrar, glance, a.datastore,
                                   a.datastore_version, a.version_number)
        if not result.changed:
            load_cli.say('%s %s was already the default' % (
                a.datastore, result.version.name))
        v = result.version
        data = {
            'datastore': result.datastore, 'default_version': v.name,
            'version_number': v.version_number, 'version_id': v.id,
            'image': result.image.get('id'),
            'image_status': result.image.get('status'),
            'previous_default': result.previous_default,
            'changed': result.changed, 'registrar': kind,
        }
        return SHOWN, tuple(data[k] for k in SHOWN)
