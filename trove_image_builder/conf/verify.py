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

"""[verify]: booting a built image to check it, the way a cloud would."""

from oslo_config import cfg

GROUP = cfg.OptGroup('verify', title='Image verification options')

OPTS = [
    cfg.IntOpt('timeout', default=900, min=30,
               help='Seconds from power-on until every check must have '
                    'passed; qemu is stopped then.'),
    cfg.IntOpt('service_wait', default=300, min=10,
               help='Seconds the guest waits for a service (docker, the '
                    'guest agent) or the agent\'s log before it reports '
                    'the check as failed.'),
    cfg.StrOpt('accelerator', default='auto', choices=['auto', 'kvm', 'tcg'],
               help='auto: KVM when /dev/kvm works (probed with a boot '
                    'that must reach the init process within '
                    'kvm_probe_timeout), else TCG emulation.'),
    cfg.IntOpt('kvm_probe_timeout', default=30, min=5,
               help='Seconds a KVM boot gets to reach the init process '
                    'before auto falls back to TCG (some software KVMs '
                    'hang guest kernels).'),
    cfg.IntOpt('memory', default=2048, min=512,
               help='Guest memory in MiB.'),
    cfg.IntOpt('cpus', default=2, min=1, help='Guest vCPUs.'),
    cfg.StrOpt('seed', default='config-drive',
               choices=['config-drive', 'nocloud'],
               help='How the guest gets its injected config: an OpenStack '
                    'config drive (label config-2, as Nova makes it) or '
                    'a NoCloud seed (label cidata).'),
    cfg.IntOpt('volume_size', default=1, min=1,
               help='GiB of the blank data volume attached as the second '
                    'disk; the agent formats and mounts it like a Cinder '
                    'volume.'),
    cfg.StrOpt('injected_config_owner', default='ubuntu',
               help='Owner of the injected files, as trove.conf '
                    'injected_config_owner.'),
    cfg.StrOpt('datastore_manager', default='mariadb',
               help='Manager named in guest_info.conf when the image\'s '
                    'manifest names none (the generic image).'),
    cfg.PortOpt('ssh_port',
                help='Forward 127.0.0.1:PORT to the guest\'s ssh port '
                     'while it runs (for debugging). Unset: no forward.'),
    cfg.StrOpt('qemu',
               help='qemu-system binary. Unset: qemu-system-<host arch> '
                    'on PATH.'),
    cfg.BoolOpt('record', default=True,
                help='Record the result in the image\'s manifest.'),
]
