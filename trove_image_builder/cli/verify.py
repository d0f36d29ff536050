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

"""`verify`: boot an image under qemu and check it is ready for Trove."""

from cliff import show

from trove_image_builder.cli import common
from trove_image_builder import errors
from trove_image_builder import verify
from trove_image_builder.verify import conformance

SHOWN = ('image', 'result', 'seconds', 'accelerator', 'checks',
         'serial_log', 'manifest')
CONFORMANCE_SHOWN = ('image', 'result', 'datastore', 'datastore_version',
                     'container_image', 'trove_version', 'seconds',
                     'accelerator', 'steps', 'peak_memory', 'serial_log',
                     'manifest')


class Verify(show.ShowOne):
    """Boot IMAGE the way a cloud would and check the guest is ready.

    Passes when the kernel and cloud-init finish, docker and the guest
    agent run, the agent read its injected config, and the embedded
    container images are in docker. The image file is never modified.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('image', metavar='IMAGE',
                            help='Image file (its manifest, if beside it, '
                                 'says what to expect and gets the '
                                 'result).')
        parser.add_argument('--timeout', type=int, metavar='SECONDS',
                            help='Power-on to ready limit. Default: '
                                 '[verify] timeout.')
        parser.add_argument('--accelerator', choices=['auto', 'kvm', 'tcg'])
        parser.add_argument('--memory', type=int, metavar='MIB')
        parser.add_argument('--cpus', type=int, metavar='N')
        parser.add_argument('--seed', choices=['config-drive', 'nocloud'],
                            help='How the injected config reaches the '
                                 'guest.')
        parser.add_argument('--ssh-port', type=int, metavar='PORT',
                            help='Forward 127.0.0.1:PORT to the guest\'s '
                                 'ssh while it runs.')
        parser.add_argument('--conformance', metavar='DATASTORE[:VERSION]',
                            help='Instead of the readiness checks, drive '
                                 'the guest agent with Trove\'s own RPC '
                                 'client through prepare of this '
                                 'datastore version, create a database '
                                 'and a user, and use them from a real '
                                 'client. Needs rabbitmq-server and '
                                 'socat, and the version\'s container '
                                 'image embedded in the image.')
        parser.add_argument('--transport-url', metavar='URL',
                            help='With --conformance: use this broker '
                                 'instead of a private RabbitMQ. Default: '
                                 '[conformance] transport_url.')
        parser.add_argument('--no-record', dest='record',
                            action='store_false', default=None,
                            help='Do not write the result into the '
                                 'manifest.')
        return parser

    def take_action(self, parsed_args):
        a = parsed_args
        if a.conformance:
            return self._conformance(a)
        if a.transport_url:
            raise errors.InputError('--transport-url goes with '
                                    '--conformance')
        opts = verify.Options.from_conf(
            self.app.conf, timeout=a.timeout, accelerator=a.accelerator,
            memory=a.memory, cpus=a.cpus, seed=a.seed,
            ssh_port=a.ssh_port, record=a.record)
        out = common.Output(self.app)
        result = verify.run(a.image, opts, progress=out.say)
        if not result.passed:
            # The console's last lines usually show what went wrong.
            out.tail(result.tail)
            raise errors.VerifyFailed(result.message,
                                      serial_log=result.serial_log,
                                      tail=result.tail)
        checks = ', '.join('%s %ss' % (n, c['seconds'])
                           for n, c in result.checks.items())
        data = {'image': result.image_path, 'result': 'pass',
                'seconds': result.seconds,
                'accelerator': result.accelerator, 'checks': checks,
                'serial_log': result.serial_log,
                'manifest': result.manifest_path}
        return SHOWN, tuple(data.get(k) for k in SHOWN)

    def _conformance(self, a):
        conf = self.app.conf
        opts = conformance.Options.from_conf(
            conf, accelerator=a.accelerator, memory=a.memory, cpus=a.cpus,
            record=a.record, transport_url=a.transport_url,
            boot_timeout=a.timeout)
        out = common.Output(self.app)
        result = conformance.run(a.image, a.conformance, opts,
                                 conformance.load_catalog(conf),
                                 progress=out.say)
        if not result.passed:
            out.tail(result.tail)
            raise errors.VerifyFailed(result.message,
                                      serial_log=result.serial_log,
                                      tail=result.tail)
        data = {'image': result.image_path, 'result': 'pass',
                'datastore': result.target.datastore,
                'datastore_version': result.target.version,
                'container_image': result.target.container_ref,
                'trove_version': result.trove_version,
                'seconds': result.seconds,
                'accelerator': result.accelerator,
                'steps': ', '.join('%s %ss' % (s['step'], s['seconds'])
                                   for s in result.steps),
                'peak_memory': ', '.join('%s %s MiB' % kv
                                         for kv in result.peak_rss_mib),
                'serial_log': result.serial_log,
                'manifest': result.manifest_path}
        return CONFORMANCE_SHOWN, tuple(data.get(k)
                                        for k in CONFORMANCE_SHOWN)
