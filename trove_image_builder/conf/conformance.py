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

"""[conformance]: driving the guest agent through prepare over real RPC."""

from oslo_config import cfg

GROUP = cfg.OptGroup('conformance',
                     title='Guest conformance check options (verify '
                           '--conformance)')

OPTS = [
    cfg.IntOpt('boot_timeout', default=900, min=60,
               help='Seconds from power-on until the guest agent answers '
                    'rpc_ping.'),
    cfg.IntOpt('prepare_timeout', default=900, min=60,
               help='Seconds from the prepare cast until the agent reports '
                    'the database healthy and prepare finished.'),
    cfg.IntOpt('call_timeout', default=300, min=10,
               help='Seconds each later RPC call (and each create_database '
                    'or create_user) may take; emulated guests are slow.'),
    cfg.IntOpt('state_wait', default=600, min=30,
               help='state_change_wait_time handed to the agent: how long '
                    'it waits for its database container to become '
                    'healthy before it reports failure. Keep it below '
                    'prepare_timeout.'),
    cfg.IntOpt('flavor_ram', default=1024, min=256,
               help='Flavor RAM in MiB that Trove\'s config template sizes '
                    'the database for.'),
    cfg.IntOpt('volume_size', default=2, min=1,
               help='GiB of the blank data volume the agent formats.'),
    cfg.StrOpt('transport_url', secret=True,
               help='Use this existing broker (rabbit://USER:PASS@HOST:'
                    'PORT/) instead of starting a private RabbitMQ on '
                    '127.0.0.1. The guest reaches it only through a '
                    'forward made for this run.'),
    cfg.StrOpt('docker_image',
               help='Repository of the datastore container image the '
                    'agent runs, as trove.conf [<manager>] docker_image '
                    'sets it (the tag is the version number). Default: '
                    'the repository of the version\'s container_image in '
                    'its datastore.yaml.'),
    cfg.StrOpt('control_exchange', default='trove',
               help='Exchange the agent and the client use, as '
                    'trove.conf and trove-guestagent.conf set it.'),
    cfg.StrOpt('venv_dir',
               help='Where venvs holding the image\'s own trove release '
                    '(the RPC client) are kept. Default: '
                    '<[build] cache_dir>/conformance.'),
]
