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

"""What several commands share: the cloud arguments, the cloud and
registrar settings made from them, and the one writer of messages on
stderr (stdout carries each command's table)."""

from trove_image_builder.cloud import connection
from trove_image_builder import register


class Output:
    """Progress and notes on stderr.

    Progress is what a command is doing; cliff's -q (--quiet) silences
    it. Notes (warnings) and the lines that explain a failure are always
    written.
    """

    def __init__(self, app):
        self.stream = app.stderr
        self.quiet = app.options.verbose_level < 1

    def say(self, message):
        if not self.quiet:
            self.write(message)

    def write(self, message):
        self.stream.write(message + '\n')
        self.stream.flush()

    def note(self, message):
        self.write('note: %s' % message)

    def tail(self, lines):
        """The last lines of a log that explain a failure, indented."""
        for line in lines:
            self.write('  | ' + line)


def add_cloud_arguments(parser, registrars=register.KINDS,
                        registrar_default=None,
                        registrar_help='Trove API via troveclient (default) '
                                       'or trove-manage on this host.'):
    """The cloud group: credentials, TLS and the registrar."""
    group = parser.add_argument_group('cloud')
    group.add_argument('--os-cloud', metavar='NAME',
                       help='Cloud in clouds.yaml (default: [cloud] '
                            'os_cloud, $OS_CLOUD, else OS_* variables).')
    group.add_argument('--os-region-name', metavar='REGION')
    group.add_argument('--os-cacert', metavar='FILE',
                       help='CA bundle for the cloud\'s TLS certificates.')
    group.add_argument('--insecure', action='store_true', default=None,
                       help='Do not verify TLS certificates (test clouds '
                            'only).')
    group.add_argument('--registrar', choices=list(registrars),
                       default=registrar_default, help=registrar_help)
    group.add_argument('--trove-config-file', metavar='FILE',
                       help='trove.conf for trove-manage (manage '
                            'registrar).')
    return group


def cloud_options(conf, args, os_cloud=None):
    """[cloud] settings under the cloud flags; os_cloud: another cloud."""
    return connection.Options.from_conf(
        conf, os_cloud=os_cloud or args.os_cloud,
        region_name=args.os_region_name, cacert=args.os_cacert,
        insecure=args.insecure)


def registrar_settings(conf, args, kind=None):
    """[trove] settings under the registrar flags."""
    return register.Settings.from_conf(
        conf, kind=kind or args.registrar,
        trove_manage=getattr(args, 'trove_manage', None),
        config_file=args.trove_config_file)
