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

"""`build`: one image for a datastore version (or the generic one)."""

import os

from cliff import show

from trove_image_builder import build
from trove_image_builder.cli import common
from trove_image_builder import errors
from trove_image_builder import redact
from trove_image_builder import version

SHOWN = ('image', 'datastore', 'datastore_version', 'os', 'release',
         'format', 'size', 'sha256', 'build_seconds', 'cached', 'manifest',
         'base')


class Build(show.ShowOne):
    """Build a Trove guest image with diskimage-builder."""

    # In DIB's world --format is the image format, as Trove's spec for
    # this command names it: it takes --format from cliff's output
    # formatter, which stays reachable as -f.
    conflict_handler = 'resolve'

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            'datastore', nargs='?', metavar='DATASTORE',
            help='Datastore to build for (see "list"), or "generic". '
                 'Default: [build] datastore.')
        parser.add_argument('--datastore-version', metavar='VERSION',
                            help='Default: the version marked default in '
                                 'the datastore element.')
        parser.add_argument('--os', help='Guest OS (debian, ubuntu).')
        parser.add_argument('--release', help='Guest OS release.')
        parser.add_argument('--format', dest='fmt', choices=['qcow2', 'raw'],
                            help='Image format (output format: -f).')
        parser.add_argument('--image-size', type=int, metavar='GB',
                            help='Root disk size in GiB.')
        parser.add_argument('--block-device',
                            choices=['auto', 'mbr', 'gpt', 'efi'])
        parser.add_argument('--output-dir', metavar='DIR')
        parser.add_argument('--dev-mode', action='store_true', default=None,
                            help='Install the guest agent from a local '
                                 'Trove tree (--guest-agent-source).')
        parser.add_argument('--guest-agent-source', metavar='PATH')
        parser.add_argument('--guest-agent-version', metavar='VERSION',
                            help='trove version from PyPI (production).')
        parser.add_argument('--element', dest='extra_elements',
                            action='append', metavar='ELEMENT',
                            help='Add an element (repeatable).')
        parser.add_argument('--embed-container-image',
                            dest='container_archives', action='append',
                            metavar='ARCHIVE',
                            help='Put this container image archive (docker '
                                 'save or OCI archive tarball) into the '
                                 'image; docker loads it before the guest '
                                 'agent starts (repeatable).')
        parser.add_argument('--dry-run', action='store_true',
                            help='Print the base\'s disk-image-create '
                                 'command, its DIB_* variables and what is '
                                 'written over the base; build nothing.')
        parser.add_argument('--force', action='store_true',
                            help='Rebuild even when the image is up to '
                                 'date.')
        return parser

    def take_action(self, parsed_args):
        a = parsed_args
        request = build.Request.from_conf(
            self.app.conf, datastore=a.datastore, version=a.datastore_version,
            os=a.os, release=a.release, fmt=a.fmt, image_size=a.image_size,
            block_device=a.block_device, output_dir=a.output_dir,
            dev_mode=a.dev_mode, guest_agent_source=a.guest_agent_source,
            guest_agent_version=a.guest_agent_version,
            extra_elements=tuple(a.extra_elements) if a.extra_elements
            else None,
            container_archives=tuple(a.container_archives)
            if a.container_archives else None)
        plan = build.make_plan(request)
        if a.dry_run:
            for key, value in sorted(plan.command.env.items()):
                if key.startswith('DIB_'):
                    self.app.stdout.write(
                        '# %s=%s\n' % (key, redact.url(value)))
            self.app.stdout.write(plan.command.shell() + '\n')
            self.app.stdout.write('# then %s: the base %s%s%s\n' % (
                plan.image_path, plan.base.image_path,
                ' + datastore.json (%s %s, container image %s)' % (
                    plan.record['datastore'], plan.record['version'],
                    plan.record['container_image'])
                if plan.record else '',
                ''.join(' + %s' % os.path.basename(a.path)
                        for a in plan.archives)))
            raise SystemExit(0)
        out = common.Output(self.app)
        try:
            result = build.execute(plan, force=a.force, progress=out.say,
                                   builder_version=version.version_string())
        except errors.BuildFailed as exc:
            # The log's last lines usually name the failing script.
            out.tail(exc.tail)
            raise
        if result.cached:
            out.say('%s is up to date' % result.image_path)
        data = dict(result.manifest, image=result.image_path,
                    cached=result.cached, manifest=result.manifest_path)
        return SHOWN, tuple(data.get(k) for k in SHOWN)
