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

"""Drive a guest agent the way Trove's taskmanager does, over real RPC.

This file runs in a venv of its own holding the same ``trove`` release
as the guest agent in the image (never in trove-image-builder's venv),
as ``python conformance_driver.py PARAMS.json``. It uses Trove's own
client (``trove.guestagent.api.API``), Trove's own config template and
payload builders, and listens on the conductor topic in place of
trove-conductor (which would need Trove's database). What it learns is
written to stdout as one JSON object per line; Trove's logging goes to
stderr. Secrets (the broker URL, the instance key, passwords) come in
the parameter file and are never written out.

Steps, each reported with its seconds since this program started:
listener, rpc_ping, prepare, volume, create_database, create_user,
list, root, client.
"""

import json
import os
import sys
import time
import types

STARTED = time.monotonic()
# Heartbeat descriptions (trove/instance/service_status.py) that end
# prepare: the taskmanager accepts these three as an active service.
ACTIVE = ('healthy', 'running', 'instance_ready')
FAILED = ('failed to spawn', 'crashed')


def emit(**fields):
    fields.setdefault('t', round(time.monotonic() - STARTED, 1))
    sys.stdout.write(json.dumps(fields, sort_keys=True) + '\n')
    sys.stdout.flush()


class StepFailed(Exception):
    def __init__(self, step, detail):
        self.step = step
        super().__init__(detail)


class Conductor:
    """Stands in for trove-conductor: records what the guest casts."""

    def __init__(self, oslo_messaging):
        self.target = oslo_messaging.Target(version='1.0')
        self.statuses = []
        self.ends = []
        self.errors = []

    def heartbeat(self, context, instance_id, payload, sent=None):
        status = (payload or {}).get('service_status')
        self.statuses.append(status)
        emit(event='heartbeat', status=status)

    def notify_end(self, context, serialized_notification,
                   notification_args):
        kind = (serialized_notification or {}).get('notification_classname',
                                                   '')
        self.ends.append(kind.rsplit('.', 1)[-1])
        emit(event='notify_end', notification=self.ends[-1])

    def notify_exc_info(self, context, serialized_notification, message,
                        exception):
        kind = (serialized_notification or {}).get('notification_classname',
                                                   '')
        self.errors.append((kind.rsplit('.', 1)[-1], message))
        emit(event='notify_exc_info', notification=self.errors[-1][0],
             message=str(message)[:500])

    def report_root(self, context, instance_id, user=None):
        emit(event='report_root')

    def update_backup(self, context, instance_id, backup_id, sent=None,
                      **fields):
        emit(event='update_backup')

    def last_status(self):
        return self.statuses[-1] if self.statuses else None


def host_config(params, path):
    """The taskmanager side of the messaging settings, raised for TCG."""
    lines = ['[DEFAULT]',
             'transport_url = %s' % params['transport_url'],
             'control_exchange = %s' % params['control_exchange'],
             'agent_call_low_timeout = %d' % params['call_timeout'],
             'agent_call_high_timeout = %d' % params['call_timeout'],
             'debug = false']
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def wait_for(what, predicate, timeout, step, on_timeout):
    import eventlet
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        eventlet.sleep(1)
    raise StepFailed(step, '%s within %ds%s' % (what, timeout,
                                                on_timeout()))


def notification(context, kind, params, **fields):
    from trove.common import notification as tn
    return getattr(tn, kind)(
        context, request_id=context.request_id, server_type='api',
        tenant_id=params['tenant_id'], client_ip='127.0.0.1',
        server_ip='127.0.0.1', instance_id=params['guest_id'], **fields)


def client_check(params, user, password, database):
    """A real client through the forwarded port: create, insert, select."""
    if params['manager'] == 'postgresql':
        import psycopg2
        conn = psycopg2.connect(host='127.0.0.1', port=params['db_port'],
                                user=user, password=password,
                                dbname=database, connect_timeout=30)
        # PostgreSQL 15 gives PUBLIC no CREATE on schema public; a schema
        # of the user's own works on every version.
        statements = ['CREATE SCHEMA tib_conformance',
                      'CREATE TABLE tib_conformance.t (v text)',
                      "INSERT INTO tib_conformance.t VALUES ('tib')",
                      'SELECT v FROM tib_conformance.t']
    else:
        import pymysql
        conn = pymysql.connect(host='127.0.0.1', port=params['db_port'],
                               user=user, password=password,
                               database=database, connect_timeout=30)
        statements = ['CREATE TABLE t (v VARCHAR(8))',
                      "INSERT INTO t VALUES ('tib')", 'SELECT v FROM t']
    try:
        cur = conn.cursor()
        for sql in statements:
            cur.execute(sql)
        rows = cur.fetchall()
        conn.commit()
    finally:
        conn.close()
    if [tuple(r) for r in rows] != [('tib',)]:
        raise StepFailed('client', 'read back %r instead of the row '
                         'inserted' % (rows,))
    return '%s@127.0.0.1:%d/%s: create, insert, select' % (
        user, params['db_port'], database)


def names(result):
    """Names out of a list_databases/list_users answer ((items, marker))."""
    items = result[0] if isinstance(result, (list, tuple)) and result and \
        isinstance(result[0], list) else result
    return sorted(i.get('_name') or i.get('name') for i in items or [])


class Progress:
    """The step under way: named in the report if anything fails."""

    def __init__(self):
        self.step = 'listener'


def run(params, workdir, progress):
    from unittest import mock

    host_config(params, os.path.join(workdir, 'host.conf'))
    from trove.common import cfg
    cfg.parse_args(['conformance', '--config-file',
                    os.path.join(workdir, 'host.conf')])
    from trove import rpc
    rpc.init(cfg.CONF)
    # The instance key comes from Trove's database in a real cloud; here
    # it is the one handed to the guest in guest_info.conf.
    from trove.instance import models as instance_models
    key = params['key']
    instance_models._instance_encryption_key._func = lambda _id: key

    import oslo_messaging
    from trove.common.rpc import conductor_host_serializer as chs
    conductor = Conductor(oslo_messaging)
    server = rpc.get_server(
        oslo_messaging.Target(topic=cfg.CONF.conductor_queue,
                              server='tib-conformance'),
        [conductor], key=None,
        secure_serializer=chs.ConductorHostSerializer)
    server.start()
    try:
        emit(step='listener', ok=True,
             detail='conductor topic %s' % cfg.CONF.conductor_queue)
        progress.step = 'rpc_ping'
        _drive(params, conductor, instance_models, mock, progress)
    finally:
        server.stop()
        server.wait()


def _drive(params, conductor, instance_models, mock, progress):
    from trove.common import context as trove_context
    from trove.common import exception
    from trove.common import template
    from trove.extensions.common import common as payloads
    from trove.guestagent import api as guest_api

    ctx = trove_context.TroveContext(user_id='tib-conformance',
                                     project_id=params['tenant_id'],
                                     is_admin=True)
    guest = guest_api.API(ctx, params['guest_id'])

    # rpc_ping until the agent answers: boot, cloud-init, docker, agent.
    guest.agent_low_timeout = params['ping_timeout']

    def ping():
        try:
            return guest.rpc_ping()
        except (exception.GuestError, exception.GuestTimeout):
            return False

    wait_for('no answer to rpc_ping', ping, params['boot_timeout'],
             'rpc_ping', lambda: ' (guest %s; is the agent in the image '
             'and its broker reachable?)' % params['guest_id'])
    guest.agent_low_timeout = params['call_timeout']
    emit(step='rpc_ping', ok=True, detail='guest %s answered'
         % params['guest_id'])
    progress.step = 'prepare'

    version = types.SimpleNamespace(
        datastore_name=params['datastore'], manager=params['manager'],
        name=params['version'], version=params['version_number'])
    config = template.SingleInstanceConfigTemplate(
        version, {'ram': params['ram_mb']}, params['guest_id']).render()
    databases = payloads.populate_validated_databases(
        [{'name': params['database']}])
    users = payloads.populate_users(
        [{'name': params['user'], 'password': params['password'],
          'host': '%', 'databases': [{'name': params['database']}]}])
    ctx.notification = notification(
        ctx, 'DBaaSInstanceCreate', params, name='tib-conformance',
        flavor_id='tib', datastore=params['datastore'],
        datastore_version=params['version'], image_id='tib',
        availability_zone='nova', region_name='tib')
    record = types.SimpleNamespace(key=params['key'])
    with mock.patch.object(instance_models.DBInstance, 'get_by',
                           return_value=record):
        guest.prepare(params['ram_mb'], '', databases, users,
                      device_path=params['device_path'],
                      mount_point=params['mount_point'],
                      config_contents=config,
                      ds_version=params['version_number'])

    def prepared():
        if conductor.errors:
            raise StepFailed('prepare', 'the agent reported: %s'
                             % conductor.errors[-1][1])
        if conductor.last_status() in FAILED:
            raise StepFailed('prepare', 'the agent reported status %r'
                             % conductor.last_status())
        return (conductor.last_status() in ACTIVE and
                'DBaaSInstanceCreate' in conductor.ends)

    wait_for('prepare did not finish', prepared, params['prepare_timeout'],
             'prepare', lambda: ' (last heartbeat: %s)'
             % (conductor.last_status() or 'none'))
    emit(step='prepare', ok=True, detail='status %s, %s and %s created'
         % (conductor.last_status(), params['database'], params['user']))

    progress.step = 'volume'
    info = guest.get_volume_info()
    if not info or not info.get('total'):
        raise StepFailed('volume', 'get_volume_info returned %r' % (info,))
    emit(step='volume', ok=True, detail='%.2f GB at %s, %.2f GB used'
         % (info['total'], params['mount_point'], info.get('used', 0)))

    database2, user2 = params['database'] + '2', params['user'] + '2'
    for step, kind, call, fields in (
            ('create_database', 'DBaaSDatabaseCreate',
             lambda: guest.create_database(
                 payloads.populate_validated_databases(
                     [{'name': database2}])),
             {'dbname': database2}),
            ('create_user', 'DBaaSUserCreate',
             lambda: guest.create_user(payloads.populate_users(
                 [{'name': user2, 'password': params['password'],
                   'host': '%', 'databases': [{'name': database2}]}])),
             {'username': user2})):
        progress.step = step
        ctx.notification = notification(ctx, kind, params, **fields)
        call()
        wait_for('%s did not finish' % step,
                 lambda: _ended(conductor, kind, step),
                 params['call_timeout'], step, lambda: '')
        emit(step=step, ok=True, detail=list(fields.values())[0])

    progress.step = 'list'
    dbs, users_found = (names(guest.list_databases()),
                        names(guest.list_users()))
    missing = [n for n in (params['database'], database2) if n not in dbs]
    missing += [n for n in (params['user'], user2) if n not in users_found]
    if missing:
        raise StepFailed('list', 'not listed by the agent: %s (databases '
                         '%s, users %s)' % (', '.join(missing), dbs,
                                            users_found))
    emit(step='list', ok=True, detail='databases %s; users %s'
         % (', '.join(dbs), ', '.join(users_found)))

    if 'root' in params['steps']:
        progress.step = 'root'
        root = guest.is_root_enabled()
        if root:
            raise StepFailed('root', 'is_root_enabled is %r on a fresh '
                             'instance' % (root,))
        emit(step='root', ok=True, detail='root not enabled')

    progress.step = 'client'
    emit(step='client', ok=True, detail=client_check(
        params, user2, params['password'], database2))


def _ended(conductor, kind, step):
    for name, message in conductor.errors:
        if name == kind:
            raise StepFailed(step, 'the agent reported: %s' % message)
    return kind in conductor.ends


def main(argv):
    # Trove's services monkey-patch at import; the client must run the
    # same way (eventlet green threads for the RPC server and client).
    import trove.cmd  # noqa: F401
    params_path = argv[1]
    with open(params_path) as f:
        params = json.load(f)
    progress = Progress()
    try:
        run(params, os.path.dirname(os.path.abspath(params_path)), progress)
    except StepFailed as exc:
        emit(step=exc.step, ok=False, detail=str(exc))
        return 1
    except Exception as exc:  # reported as the step's failure, no trace
        import traceback
        traceback.print_exc()
        emit(step=progress.step, ok=False, detail='%s: %s'
             % (type(exc).__name__, str(exc)[:300]))
        return 1
    emit(result='pass')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
