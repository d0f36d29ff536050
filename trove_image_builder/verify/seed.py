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

"""What a cloud hands the guest at first boot, as an ISO for verify.

Trove's taskmanager (26.x) injects /etc/trove/conf.d/guest_info.conf
and trove-guestagent.conf as cloud-config write_files in the instance's
user data (base64, owner injected_config_owner:root); Nova serves that
on a config drive (label config-2) or its metadata service. verify adds
to the same user data a check script (guest-check.bash), started by
runcmd, that reports on the serial console (see console.py) so nothing
needs ssh.
"""

import base64
import dataclasses
import json
import os
import secrets
import shlex
import shutil
import subprocess
import uuid

from trove_image_builder import conf as conf_mod
from trove_image_builder import errors

CONFIG_DRIVE = 'config-drive'
NOCLOUD = 'nocloud'
LABELS = {CONFIG_DRIVE: 'config-2', NOCLOUD: 'cidata'}
CONF_DIR = '/etc/trove/conf.d'
AGENT_LOG = '/var/log/trove/trove-guestagent.log'
CHECK_DIR = '/run/tib-verify'
# A unit counts as up once it has stayed active this long without a
# restart; this many restarts count as a crash loop.
STABLE_SECONDS = 15
MAX_RESTARTS = 3
# What Trove writes as datastore_registry_ext for its own managers.
REGISTRY_EXT = {
    'mysql': 'trove.guestagent.datastore.mysql.manager.Manager',
    'mariadb': 'trove.guestagent.datastore.mariadb.manager.Manager',
    'postgresql':
        'trove.guestagent.datastore.postgres.manager.PostgresManager',
}

# Runs in the guest as root, from the seed's user data: a data file of
# this package, so bashate checks it like every other shell script.
CHECK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'guest-check.bash')


def check_script():
    """The text of the guest's check script."""
    with open(CHECK_SCRIPT, encoding='utf-8') as f:
        return f.read()


@dataclasses.dataclass(frozen=True)
class GuestConfig:
    """The instance verify pretends to be."""

    manager: str
    datastore_version: str
    docker_image: str = None
    owner: str = conf_mod.default('verify.injected_config_owner')
    service_wait: int = conf_mod.default('verify.service_wait')
    guest_id: str = dataclasses.field(
        default_factory=lambda: str(uuid.uuid4()))
    tenant_id: str = dataclasses.field(
        default_factory=lambda: uuid.uuid4().hex)
    nonce: str = dataclasses.field(
        default_factory=lambda: secrets.token_hex(6))
    mac: str = dataclasses.field(
        default_factory=lambda: 'fa:16:3e:%02x:%02x:%02x'
        % tuple(secrets.token_bytes(3)))
    hostname: str = 'tib-verify'
    # The conformance check's real broker (as the guest reaches it), the
    # instance's RPC encryption key and more [DEFAULT] agent options;
    # without them the agent gets a broker nobody answers on.
    transport_url: str = None
    rpc_key: str = None
    agent_options: tuple = ()
    # The verify check script (it reports readiness on the console).
    checks: bool = True


def guest_info(cfg):
    """guest_info.conf as Trove's taskmanager writes it."""
    lines = ['[DEFAULT]',
             'guest_id=%s' % cfg.guest_id,
             'datastore_manager=%s' % cfg.manager,
             'datastore_version=%s' % cfg.datastore_version,
             'tenant_id=%s' % cfg.tenant_id]
    if cfg.manager in REGISTRY_EXT:
        lines.append('datastore_registry_ext=%s:%s'
                     % (cfg.manager, REGISTRY_EXT[cfg.manager]))
    lines.append('network_isolation=False')
    if cfg.rpc_key:
        lines.append('instance_rpc_encr_key=%s' % cfg.rpc_key)
    return '\n'.join(lines) + '\n'


def guestagent_conf(cfg, transport_secret):
    """A trove-guestagent.conf like a deployment's.

    Without cfg.transport_url the broker URL points at the guest itself,
    where nothing listens, so the agent retries quietly and no packet
    leaves the guest.
    """
    lines = [
        '[DEFAULT]',
        'debug = True',
        'log_dir = %s' % os.path.dirname(AGENT_LOG),
        'log_file = %s' % os.path.basename(AGENT_LOG),
        'control_exchange = trove',
        'transport_url = %s' % (
            cfg.transport_url or 'rabbit://verify:%s@127.0.0.1:5672/'
            % transport_secret),
        'command_process_timeout = 60',
        'root_grant = ALL',
        'root_grant_option = True',
    ]
    lines += ['%s = %s' % kv for kv in cfg.agent_options]
    if cfg.docker_image:
        lines += ['', '[%s]' % cfg.manager,
                  'docker_image = %s' % cfg.docker_image]
    return '\n'.join(lines) + '\n'


def _params(cfg):
    values = {'nonce': cfg.nonce, 'guest_id': cfg.guest_id,
              'agent_log': AGENT_LOG, 'wait_s': cfg.service_wait,
              'stable_s': STABLE_SECONDS, 'max_restarts': MAX_RESTARTS}
    return ''.join('%s=%s\n' % (k, shlex.quote(str(v)))
                   for k, v in sorted(values.items()))


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def user_data(cfg):
    """#cloud-config: Trove's injected files plus the verify check."""
    owner = '%s:root' % cfg.owner
    secret = secrets.token_urlsafe(12)
    files = [
        {'path': os.path.join(CONF_DIR, 'guest_info.conf'),
         'encoding': 'b64', 'owner': owner,
         'content': _b64(guest_info(cfg))},
        {'path': os.path.join(CONF_DIR, 'trove-guestagent.conf'),
         'encoding': 'b64', 'owner': owner,
         'content': _b64(guestagent_conf(cfg, secret))},
    ]
    doc = {'write_files': files}
    if cfg.checks:
        files += [
            {'path': CHECK_DIR + '/params', 'permissions': '0600',
             'content': _params(cfg)},
            {'path': CHECK_DIR + '/check', 'permissions': '0700',
             'content': check_script()},
        ]
        # systemd-run: the check outlives cloud-final, which it waits
        # for. bash runs it: /run is mounted noexec on Debian.
        doc['runcmd'] = [['systemd-run', '--unit=tib-verify', '--no-block',
                          '/bin/bash', CHECK_DIR + '/check']]
    else:
        # The agent's own account of what it does (INFO and up) on the
        # console, where a failed check shows its last lines.
        doc['runcmd'] = [['systemd-run', '--unit=tib-agent-log',
                          '--no-block', '/bin/sh', '-c',
                          'tail -n +1 -F %s | grep --line-buffered -v '
                          '" DEBUG " > /dev/ttyS0' % AGENT_LOG]]
    # JSON is YAML: cloud-init reads it as cloud-config.
    return '#cloud-config\n' + json.dumps(doc, indent=1) + '\n'


def meta_data(cfg):
    """Nova's openstack/latest/meta_data.json, the parts cloud-init uses."""
    return {'uuid': cfg.guest_id, 'name': cfg.hostname,
            'hostname': cfg.hostname, 'launch_index': 0,
            'availability_zone': 'nova', 'project_id': cfg.tenant_id,
            'meta': {'trove_instance_id': cfg.guest_id,
                     'trove_project_id': cfg.tenant_id},
            'devices': [], 'public_keys': {}}


def network_data(cfg):
    """One NIC on DHCP, as Nova describes it in network_data.json."""
    return {'links': [{'id': 'tap-tib-verify', 'type': 'ovs', 'mtu': 1500,
                       'ethernet_mac_address': cfg.mac,
                       'vif_id': cfg.guest_id}],
            'networks': [{'id': 'network0', 'type': 'ipv4_dhcp',
                          'link': 'tap-tib-verify',
                          'network_id': cfg.tenant_id}],
            'services': []}


def write_tree(directory, cfg, kind):
    """The seed's files under directory (returned)."""
    def put(rel, text):
        path = os.path.join(directory, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)

    if kind == CONFIG_DRIVE:
        put('openstack/latest/meta_data.json',
            json.dumps(meta_data(cfg), indent=1))
        put('openstack/latest/network_data.json',
            json.dumps(network_data(cfg), indent=1))
        put('openstack/latest/user_data', user_data(cfg))
    elif kind == NOCLOUD:
        put('meta-data', 'instance-id: %s\nlocal-hostname: %s\n'
            % (cfg.guest_id, cfg.hostname))
        put('user-data', user_data(cfg))
    else:
        raise ValueError('unknown seed kind %r' % kind)
    return directory


def iso_command(source_dir, label, output):
    tool = shutil.which('genisoimage') or shutil.which('mkisofs')
    if not tool:
        raise errors.HostError('genisoimage not found (apt-get install '
                               'genisoimage)')
    return [tool, '-quiet', '-output', output, '-volid', label, '-joliet',
            '-rock', '-input-charset', 'utf-8', source_dir]


def build(directory, cfg, kind=CONFIG_DRIVE):
    """Write the seed ISO for cfg into directory; return its path."""
    tree = write_tree(os.path.join(directory, 'seed'), cfg, kind)
    output = os.path.join(directory, 'seed.iso')
    out = subprocess.run(iso_command(tree, LABELS[kind], output),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise errors.HostError('making the seed ISO failed: %s'
                               % out.stderr.strip())
    return output
