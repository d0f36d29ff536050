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

"""Service users, projects and endpoints, through Keystone's REST API.

Plain urllib calls: about a second for the whole catalogue, where the
same through the `openstack` CLI costs a couple of seconds per call.
Every step looks before it creates, so it can run again.
"""

import json
import urllib.error
import urllib.parse
import urllib.request


class Keystone:
    """An admin session against Keystone v3."""

    def __init__(self, identity_url, password, user='admin',
                 project='admin'):
        self.base = identity_url.rstrip('/')
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': user, 'domain': {'id': 'default'},
                'password': password}}},
            'scope': {'project': {'name': project,
                                  'domain': {'id': 'default'}}}}}
        resp = self._call('POST', '/auth/tokens', body, token=None)
        self.token = resp.headers['X-Subject-Token']

    def _call(self, method, path, body=None, token=''):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method)
        req.add_header('Content-Type', 'application/json')
        if token is not None:
            req.add_header('X-Auth-Token', token or self.token)
        try:
            return urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as exc:
            # Keystone's error bodies never echo passwords back.
            raise RuntimeError('keystone %s %s: %s %s' % (
                method, path.split('?')[0], exc.code,
                exc.read().decode(errors='replace')[:300])) from None

    def request(self, method, path, body=None):
        with self._call(method, path, body) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def find(self, collection, **filters):
        query = urllib.parse.urlencode(filters)
        found = self.request('GET', '/%s?%s' % (collection, query))
        items = found[collection]
        return items[0] if items else None

    def ensure(self, collection, body, **filters):
        """The first item matching filters, created from body if none."""
        item = self.find(collection, **filters)
        if item is None:
            kind = collection[:-1]
            item = self.request('POST', '/' + collection,
                                {kind: body})[kind]
        return item

    def ensure_project(self, name):
        return self.ensure('projects',
                           {'name': name, 'domain_id': 'default'},
                           name=name, domain_id='default')

    def ensure_role(self, name):
        return self.ensure('roles', {'name': name}, name=name)

    def ensure_user(self, name, password, project):
        user = self.find('users', name=name, domain_id='default')
        if user is None:
            user = self.request('POST', '/users', {'user': {
                'name': name, 'password': password, 'domain_id': 'default',
                'default_project_id': project['id']}})['user']
        else:
            # Keep the stored secret authoritative after a partial setup.
            self.request('PATCH', '/users/' + user['id'],
                         {'user': {'password': password}})
        return user

    def grant(self, project, user, role):
        self.request('PUT', '/projects/%s/users/%s/roles/%s'
                     % (project['id'], user['id'], role['id']))

    def ensure_endpoints(self, service_type, name, url, region):
        service = self.ensure('services', {'type': service_type,
                                           'name': name, 'enabled': True},
                              type=service_type)
        for interface in ('public', 'internal', 'admin'):
            found = self.find('endpoints', service_id=service['id'],
                              interface=interface)
            if found and found['url'] == url:
                continue
            if found:
                self.request('DELETE', '/endpoints/' + found['id'])
            self.request('POST', '/endpoints', {'endpoint': {
                'service_id': service['id'], 'interface': interface,
                'url': url, 'region_id': region, 'enabled': True}})


def populate(lay, secrets, region):
    """Service project and users, the demo user, image/database entries."""
    ks = Keystone(lay.identity_url, secrets['admin'])
    admin_role = ks.ensure_role('admin')
    member_role = ks.ensure_role('member')
    service = ks.ensure_project('service')
    for name in ('glance', 'trove'):
        user = ks.ensure_user(name, secrets[name], service)
        ks.grant(service, user, admin_role)
        ks.grant(service, user, ks.ensure_role('service'))
    demo = ks.ensure_project('demo')
    demo_user = ks.ensure_user('demo', secrets['demo'], demo)
    ks.grant(demo, demo_user, member_role)
    ks.ensure_endpoints('image', 'glance', lay.image_url, region)
    ks.ensure_endpoints('database', 'trove', lay.database_url, region)
