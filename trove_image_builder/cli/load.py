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

"""`load`: upload an image to Glance and register it with Trove."""

import sys
import time

from cliff import show

from trove_image_builder.cli import common
from trove_image_builder.cloud import connection
from trove_image_builder import load
from trove_image_builder import version

SHOWN = ('image_id', 'name', 'status', 'uploaded', 'upload_seconds',
         'upload_mib_per_s', 'size', 'sha256', 'disk_format', 'tags',
         'visibility', 'datastore', 'datastore_version', 'version_number',
         'manager', 'registrar', 'registration', 'config_parameters',
         'notes')


class ProgressBar:
    """A one-line bar on a terminal; nothing when stderr is not one."""

    def __init__(self, stream=None, every=0.2):
        self.stream = stream or sys.stderr
        self.every = every
        self.started = self.last = None

    def __call__(self, done, total):
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if done < total and self.last is not None and \
                now - self.last < self.every:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-6) / 2 ** 20
        self.stream.write('\r  uploading %6d/%d MiB %3d%% %6.1f MiB/s' % (
            done // 2 ** 20, total // 2 ** 20, 100 * done // max(total, 1),
            rate))
        if done >= total:
            self.stream.write('\n')
        self.stream.flush()


def _registration_text(outcome):
    if outcome is None:
        return 'not registered'
    text = '%s (%s)' % (outcome.action, outcome.version.image_ref())
    if outcome.changes:
        text = '%s: %s' % (outcome.action, '; '.join(outcome.changes))
    return text


class Load(show.ShowOne):
    """Upload an image to Glance and register it with Trove."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('image', metavar='IMAGE',
                            help='Image file; its manifest (IMAGE with '
                                 '.json) supplies the datastore etc.')
        parser.add_argument('--datastore',
                            help='Datastore to register (overrides the '
                                 'manifest; needed for the generic image).')
        parser.add_argument('--datastore-version', metavar='VERSION')
        parser.add_argument('--version-number', metavar='X.Y.Z',
                            help='Full version number (default: the '
                                 'manifest\'s, else VERSION).')
        parser.add_argument('--manager',
                            help='Trove manager (default: the manifest\'s, '
                                 'else the datastore name).')
        parser.add_argument('--name', help='Glance image name (default: '
                                           'the manifest\'s).')
        parser.add_argument('--disk-format',
                            help='Declared format of an image without a '
                                 'manifest; checked with qemu-img.')
        parser.add_argument('--visibility',
                            choices=['private', 'shared', 'community',
                                     'public'])
        parser.add_argument('--register-by', choices=['tags', 'id'],
                            help='How the version finds its image.')
        parser.add_argument('--validation-rules', metavar='FILE',
                            help='Configuration parameter rules JSON '
                                 '(default: the manifest\'s, from the '
                                 'trove package where it can be read).')
        parser.add_argument('--no-register', dest='register',
                            action='store_false', default=None,
                            help='Upload only.')
        common.add_cloud_arguments(parser)
        return parser

    def take_action(self, parsed_args):
        a = parsed_args
        conf = self.app.conf
        req = load.Request.from_conf(
            conf, a.image, datastore=a.datastore,
            datastore_version=a.datastore_version,
            version_number=a.version_number, manager=a.manager, name=a.name,
            disk_format=a.disk_format, visibility=a.visibility,
            register_by=a.register_by, validation_rules=a.validation_rules,
            register=a.register, registrar=a.registrar,
            trove_config_file=a.trove_config_file)
        opts = common.cloud_options(conf, a)
        out = common.Output(self.app)
        progress = ProgressBar(out.stream) if out.stream.isatty() and \
            not out.quiet else None
        result = load.run(req, lambda: connection.connect(opts),
                          progress=progress, say=out.say,
                          builder_version=version.version_string())
        for note in result.notes:
            out.note(note)
        outcome = result.registration
        if outcome and outcome.action == 'updated':
            out.say('datastore version %s %s was already registered (%s); '
                    'updated: %s' % (outcome.version.datastore,
                                     outcome.version.name,
                                     outcome.previous.image_ref(),
                                     '; '.join(outcome.changes)))
        img, stored = result.image, result.glance_image
        seconds = result.upload_seconds
        data = {
            'image_id': stored['id'], 'name': stored.get('name'),
            'status': stored.get('status'), 'uploaded': result.uploaded,
            'upload_seconds': round(seconds, 2) if seconds else None,
            'upload_mib_per_s': round(img.size / 2 ** 20 / seconds, 1)
            if seconds else None,
            # Glance's: equal to the file's when reused or uploaded.
            'size': stored.get('size'), 'sha256': img.sha256,
            'disk_format': img.disk_format,
            'tags': ','.join(sorted(stored.get('tags', []))),
            'visibility': stored.get('visibility'),
            'datastore': img.datastore,
            'datastore_version': img.datastore_version,
            'version_number': outcome.version.version_number if outcome
            else img.version_number,
            'manager': img.manager if img.datastore else None,
            'registrar': req.registrar if outcome else None,
            'registration': _registration_text(outcome),
            'config_parameters': result.parameters,
            'notes': ' | '.join(result.notes) or None,
        }
        return SHOWN, tuple(data[k] for k in SHOWN)
