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

"""The trove-image-builder command: a cliff App with one class per verb."""

import sys

from cliff import app
from cliff import commandmanager
from oslo_config import cfg

from trove_image_builder import conf as conf_mod
from trove_image_builder import errors
from trove_image_builder import version


class TroveImageBuilder(app.App):

    CONSOLE_MESSAGE_FORMAT = 'trove-image-builder: %(message)s'

    def __init__(self):
        super().__init__(
            description='Build, load and activate OpenStack Trove guest '
                        'images.',
            version=version.version_string(),
            command_manager=commandmanager.CommandManager(
                'trove_image_builder.cli'),
            deferred_help=True)
        self.conf = None
        self._error = None

    def build_option_parser(self, description, version, argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument(
            '--config-file', action='append', metavar='PATH',
            help='Configuration file (repeatable). Default: %s when it '
                 'exists.' % conf_mod.DEFAULT_CONFIG_FILE)
        parser.add_argument(
            '--config-dir', action='append', metavar='DIR',
            help='Directory of *.conf files read after --config-file.')
        return parser

    def initialize_app(self, argv):
        try:
            self.conf = conf_mod.make_conf(self.options.config_file,
                                           self.options.config_dir)
        except cfg.Error as exc:
            # cliff reports an error here and returns 1 whatever it is;
            # run() turns it back into this one's code.
            self._error = errors.InputError('configuration: %s' % exc)
            raise self._error from None

    def run(self, argv):
        result = super().run(argv)
        if result and isinstance(self._error, errors.Error):
            return self._error.exit_code
        return result

    def run_subcommand(self, argv):
        self._error = None
        result = super().run_subcommand(argv)
        if isinstance(self._error, errors.Error):
            return self._error.exit_code
        if isinstance(self._error, cfg.Error):
            return errors.InputError.exit_code
        return result

    def clean_up(self, cmd, result, err):
        self._error = err


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        return TroveImageBuilder().run(argv)
    except errors.Error as exc:
        sys.stderr.write('trove-image-builder: %s\n' % exc)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write('trove-image-builder: interrupted\n')
        return errors.Interrupted.exit_code


if __name__ == '__main__':
    sys.exit(main())
