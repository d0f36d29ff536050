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

"""`host-check` and `host-setup`: can this machine build images?"""

from cliff import command
from cliff import lister

from trove_image_builder import build
from trove_image_builder.build import host
from trove_image_builder.build import partmap
from trove_image_builder import errors


class HostCheck(lister.Lister):
    """Report what a build needs from this host; non-zero if lacking."""

    def take_action(self, parsed_args):
        req = build.Request.from_conf(self.app.conf)
        layout = host.block_device(req.block_device)
        has_dm = partmap.host_has_device_mapper()
        rows = [
            ('device-mapper', 'yes' if has_dm else 'no'),
            ('partition mapper', 'not needed' if has_dm else
             ('installed' if partmap.is_installed() else 'MISSING')),
            ('vfat', 'yes' if partmap.host_has_vfat() else 'no'),
            ('default layout', layout),
        ]
        try:
            rows.append(('disk-image-create',
                         host.disk_image_create(req.disk_image_create)))
        except errors.HostError as exc:
            rows.append(('disk-image-create', 'MISSING: %s' % exc))
        archive, security = host.debian_mirrors()
        rows.append(('debian mirror (host)', archive or '-'))
        rows.append(('debian security mirror (host)', security or '-'))
        path, houses, size = host.wheel_cache_usage(req.cache_dir)
        rows.append(('wheel cache', '%s: %d wheelhouse(s), %s%s' % (
            path, houses, host.mib(size),
            '' if req.wheel_cache else ' (off: [build] wheel_cache)')))
        count, size = host.base_usage(build.base_dir(req))
        rows.append(('shared bases', '%s: %d base(s), %s on disk' % (
            build.base_dir(req), count, host.mib(size))))
        path, debs, size = host.apt_cache_usage(req.cache_dir)
        rows.append(('apt cache', '%s: %d .deb, %s' % (
            path, debs, host.mib(size))))
        name = host.unresolved_hostname()
        rows.append(('host name resolves', 'MISSING: %s is not in '
                     '/etc/hosts' % name if name else 'yes'))
        for cmd, pkg in host.missing_tools(host.BUILD_TOOLS).items():
            rows.append(('tool %s' % cmd, 'MISSING (apt-get install %s)'
                         % pkg))
        self._problems = [r for r in rows if 'MISSING' in str(r[1])]
        return ('check', 'result'), rows

    def run(self, parsed_args):
        result = super().run(parsed_args)
        if self._problems:
            raise errors.HostError('this host cannot build images yet: %s'
                                   % ', '.join(r[0] for r in
                                               self._problems))
        return result


class HostSetup(command.Command):
    """Install (or --remove) the loop-device partition mapper.

    Only hosts whose kernel has no device-mapper get it; elsewhere this
    does nothing.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--remove', action='store_true',
                            help='Remove the partition mapper.')
        parser.add_argument('--prefix', default=partmap.PREFIX,
                            help='Install prefix (sudo\'s secure_path must '
                                 'include PREFIX/sbin first).')
        return parser

    def take_action(self, parsed_args):
        host.require_root()
        out = self.app.stdout
        try:
            if parsed_args.remove:
                removed = partmap.uninstall(parsed_args.prefix)
                out.write('removed the partition mapper\n' if removed
                          else 'no partition mapper installed\n')
                return
            if partmap.host_has_device_mapper():
                out.write('device-mapper present: nothing to install\n')
                return
            partmap.install(parsed_args.prefix)
        except partmap.PartmapError as exc:
            # partmap is standalone (sudo runs it outside this venv), so
            # its errors are not ours: a refusal here is a host problem.
            raise errors.HostError('partition mapper: %s' % exc) from None
        out.write('installed the loop-device partition mapper as %s/sbin/'
                  'kpartx and dmsetup\n' % parsed_args.prefix)
