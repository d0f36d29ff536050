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

"""`deploy`, `undeploy` and `trove-config`: the devstack plugin's verbs."""

from cliff import command
from cliff import lister

from trove_image_builder import catalog
from trove_image_builder.cli import common
from trove_image_builder.cloud import connection
from trove_image_builder.cloud import flavors
from trove_image_builder import datafiles
from trove_image_builder import deploy
from trove_image_builder.deploy import datastores
from trove_image_builder.deploy import troveconf
from trove_image_builder.deploy import undeploy
from trove_image_builder import register
from trove_image_builder import version

DATASTORES_HELP = ('Datastore versions, e.g. "mariadb:10.11 mysql:8.4 '
                   'postgresql:16" (a datastore alone: its default version).'
                   ' The first version listed per datastore becomes its '
                   'default.')


def _cloud_arguments(parser):
    # deploy also knows "auto": the API when it answers, else trove-manage
    group = common.add_cloud_arguments(
        parser, registrars=deploy.REGISTRARS,
        registrar_default=register.AUTO,
        registrar_help='auto (default): Trove\'s API when it answers, else '
                       'trove-manage on this host; api; manage.')
    group.add_argument('--trove-manage', metavar='PATH',
                       help='trove-manage command (manage registrar).')
    group.add_argument('--limits-cloud', metavar='NAME',
                       help='Cloud in clouds.yaml with a system-scoped '
                            'admin, to raise Glance\'s image quota in '
                            'Keystone (devstack: devstack-system-admin). '
                            'Default: the main cloud.')
    return group


def _connectors(conf, a):
    opts = common.cloud_options(conf, a)
    limits = None
    if a.limits_cloud:
        limits_opts = common.cloud_options(conf, a, os_cloud=a.limits_cloud)
        limits = lambda: connection.connect(limits_opts)  # noqa: E731
    return (lambda: connection.connect(opts)), limits


def _flavor_specs(a):
    if a.no_flavors:
        return ()
    return tuple(a.flavors) if a.flavors else flavors.DEFAULTS


class Deploy(lister.Lister):
    """Build or fetch, load, register and activate Trove guest images."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--datastores', metavar='"DS:VERSION ..."',
                            help=DATASTORES_HELP
                            + ' Default: [build] datastore.')
        source = parser.add_mutually_exclusive_group()
        source.add_argument('--image-file', metavar='FILE',
                            help='A prebuilt image for every version '
                                 'instead of building.')
        source.add_argument('--image-url', metavar='URL',
                            help='Download a prebuilt image (once; kept '
                                 'by URL in --download-dir); https, its '
                                 'certificate verified (with --os-cacert\'s '
                                 'CA bundle when given).')
        parser.add_argument('--image-checksum', metavar='ALGO:HEX',
                            help='Checksum the --image-url download must '
                                 'have (e.g. sha256:...).')
        parser.add_argument('--download-dir', metavar='DIR',
                            default=deploy.DOWNLOAD_DIR)
        parser.add_argument('--state-file', metavar='FILE',
                            help='Record what was made here, for '
                                 'undeploy.')
        parser.add_argument('--no-activate', dest='activate',
                            action='store_false',
                            help='Do not change default versions.')
        parser.add_argument('--flavor', dest='flavors', action='append',
                            metavar='ID:NAME:RAM_MIB:DISK_GIB:VCPUS',
                            help='Flavor to create when missing '
                                 '(repeatable). Default: %s.'
                                 % ' '.join(flavors.DEFAULTS))
        parser.add_argument('--no-flavors', action='store_true',
                            help='Create no flavors.')
        parser.add_argument('--no-glance-limit', dest='glance_limit',
                            action='store_false',
                            help='Never raise Glance\'s image size quota.')
        build = parser.add_argument_group('build')
        build.add_argument('--os')
        build.add_argument('--release')
        build.add_argument('--image-size', type=int, metavar='GB')
        build.add_argument('--output-dir', metavar='DIR')
        build.add_argument('--dev-mode', action='store_true', default=None,
                           help='Guest agent from a local Trove tree '
                                '(--guest-agent-source).')
        build.add_argument('--guest-agent-source', metavar='PATH')
        build.add_argument('--guest-agent-version', metavar='VERSION')
        build.add_argument('--images', choices=deploy.IMAGES,
                           default=deploy.Request.images,
                           help='auto: one image, registered for every '
                                'version whose image would differ only in '
                                'datastore.json (one upload, as Trove\'s '
                                'devstack does), and one of its own for a '
                                'version with container archives to embed; '
                                'shared: one image for all; per-version: '
                                'one image each, with its datastore.json.')
        build.add_argument('--shared-image', dest='images',
                           action='store_const', const='shared',
                           help='The same as --images shared.')
        build.add_argument('--jobs', type=int, metavar='N',
                           help='Images made at once from their shared '
                                'base, then versions uploaded and '
                                'registered at once ([build] jobs; 0: one '
                                'per core).')
        build.add_argument('--force', action='store_true',
                           help='Rebuild even when up to date; deploy and '
                                'activate images whose recorded check '
                                'failed.')
        parser.add_argument('--verify', choices=deploy.VERIFY,
                            default='none',
                            help='Check every image before it is loaded: '
                                 'boot (as `verify`) or conformance (as '
                                 '`verify --conformance`, per datastore '
                                 'version). A failed check stops the '
                                 'deploy (exit 10).')
        loading = parser.add_argument_group('load')
        loading.add_argument('--visibility',
                             choices=['private', 'shared', 'community',
                                      'public'])
        loading.add_argument('--register-by', choices=['tags', 'id'])
        _cloud_arguments(parser)
        return parser

    def take_action(self, parsed_args):
        a = parsed_args
        conf = self.app.conf
        build_flags = {
            'os': a.os, 'release': a.release, 'image_size': a.image_size,
            'output_dir': a.output_dir, 'dev_mode': a.dev_mode,
            'guest_agent_source': a.guest_agent_source,
            'guest_agent_version': a.guest_agent_version}
        load_flags = {
            'visibility': a.visibility, 'register_by': a.register_by,
            'trove_manage': a.trove_manage,
            'trove_config_file': a.trove_config_file}
        req = deploy.Request(
            datastores=a.datastores or conf.build.datastore,
            image_file=a.image_file, image_url=a.image_url,
            image_checksum=a.image_checksum, insecure=bool(a.insecure),
            # The cloud's CA bundle also vouches for --image-url's server.
            cacert=common.cloud_options(conf, a).cacert,
            download_dir=a.download_dir, registrar=a.registrar,
            activate=a.activate, flavors=_flavor_specs(a),
            glance_limit=a.glance_limit, state_file=a.state_file,
            force_build=a.force, verify=a.verify, jobs=a.jobs,
            images=a.images,
            build_flags=tuple((k, v) for k, v in build_flags.items()
                              if v is not None),
            load_flags=tuple((k, v) for k, v in load_flags.items()
                             if v is not None))
        connect, connect_limits = _connectors(conf, a)
        out = common.Output(self.app)
        result = deploy.run(req, conf, connect, say=out.say,
                            connect_limits=connect_limits,
                            builder_version=version.version_string())
        for made in result.flavors:
            out.say('flavor %s (%s): %s' % (made.flavor.id, made.flavor.name,
                                            made.action))
        for note in result.notes:
            out.note(note)
        columns = ('datastore', 'version', 'version_number', 'source',
                   'image_id', 'uploaded', 'registration', 'default',
                   'registrar')
        rows = []
        for row in result.rows:
            reg = row.load.registration
            default = 'yes' if row.default else '-'
            if row.default and not row.default_changed:
                default = 'yes (already)'
            rows.append((row.version.datastore, row.version.name,
                         reg.version.version_number, row.source,
                         row.load.glance_image['id'], row.load.uploaded,
                         reg.action, default, result.registrar))
        return columns, rows


class Undeploy(lister.Lister):
    """Remove what deploy made (per its state file).

    Images on disk (builds, downloads) stay: they are the cache.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--state-file', metavar='FILE', required=True)
        _cloud_arguments(parser)
        return parser

    def take_action(self, parsed_args):
        a = parsed_args
        connect, connect_limits = _connectors(self.app.conf, a)
        trove = common.registrar_settings(self.app.conf, a)
        removed = undeploy.run(
            a.state_file, connect, registrar_kind=a.registrar,
            trove_manage=trove.trove_manage,
            trove_config_file=trove.config_file,
            say=common.Output(self.app).say, connect_limits=connect_limits)
        return ('kind', 'name', 'result'), [(r.kind, r.name, r.action)
                                            for r in removed]


class TroveConfig(command.Command):
    """Print "SECTION OPTION VALUE" lines for Trove's configuration.

    For trove.conf, the guest agent's config or tempest.conf.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--datastores', metavar='"DS:VERSION ..."',
                            help=DATASTORES_HELP)
        parser.add_argument('--target', choices=troveconf.TARGETS,
                            default='trove',
                            help='trove: trove.conf (default); guestagent: '
                                 'trove-guestagent.conf; tempest: '
                                 'tempest.conf.')
        parser.add_argument('--flavor', dest='flavors', action='append',
                            metavar='ID:NAME:RAM_MIB:DISK_GIB:VCPUS',
                            help='tempest: instance flavor, then resize '
                                 'flavor. Default: %s.'
                                 % ' '.join(flavors.DEFAULTS))
        parser.add_argument('--no-flavors', action='store_true')
        return parser

    def take_action(self, parsed_args):
        a = parsed_args
        conf = self.app.conf.build
        cat = catalog.Catalog.load(datafiles.elements_dir(conf.elements_dir))
        versions = datastores.parse_entries(a.datastores or conf.datastore,
                                            cat)
        wanted = flavors.parse_all(_flavor_specs(a))
        for section, option, value in troveconf.lines(versions, a.target,
                                                      wanted):
            self.app.stdout.write('%s %s %s\n' % (section, option, value))
