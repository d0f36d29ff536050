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

from tests.unit import base
from trove_image_builder.cloud import quota
from trove_image_builder import errors


class FakeResponse:

    def __init__(self, status, body=None):
        self.status_code = status
        self._body = body
        self.content = b'x' if body is not None else b''

    def json(self):
        return self._body


class FakeKeystone:
    """Limits in Keystone's REST shape, for quota.py."""

    def __init__(self, own=None, registered=1000):
        self.calls = []
        self.limits = {}
        if own is not None:
            self.limits['own'] = {'id': 'own', 'resource_limit': own}
        self.registered = {'id': 'reg', 'default_limit': registered}
        self.create_error = None

    def request(self, path, method, json=None, raise_exc=False):
        self.calls.append((method, path, json))
        if path == '/limits' and method == 'POST':
            if self.create_error:
                return FakeResponse(self.create_error, {})
            made = dict(json['limits'][0], id='made')
            self.limits['made'] = made
            return FakeResponse(201, {'limits': [made]})
        if path == '/limits/made':
            if 'made' not in self.limits:
                return FakeResponse(404)
            if method == 'DELETE':
                del self.limits['made']
                return FakeResponse(204)
            if method == 'PATCH':
                self.limits['made']['resource_limit'] = \
                    json['limit']['resource_limit']
            return FakeResponse(200, {'limit': self.limits['made']})
        if path.startswith('/services'):
            return FakeResponse(200, {'services': [{'id': 'svc'}]})
        if path.startswith('/limits?'):
            return FakeResponse(200, {'limits': list(self.limits.values())})
        if path.startswith('/registered_limits?'):
            return FakeResponse(200, {'registered_limits': [
                self.registered]})
        if path == '/limits/own':
            if method == 'PATCH':
                self.limits['own']['resource_limit'] = \
                    json['limit']['resource_limit']
            return FakeResponse(200, {'limit': self.limits['own']})
        if path == '/registered_limits/reg':
            if method == 'PATCH':
                self.registered['default_limit'] = \
                    json['registered_limit']['default_limit']
            return FakeResponse(200, {'registered_limit': self.registered})
        return FakeResponse(404)


class FakeImageApi:

    def __init__(self, status=200, usage=None):
        self.status = status
        self.usage = usage

    def request(self, path, method, raise_exc=False):
        assert path == '/info/usage'
        body = {'usage': {}}
        if self.usage:
            body['usage'][quota.RESOURCE] = {'usage': self.usage[0],
                                             'limit': self.usage[1]}
        return FakeResponse(self.status, body)


class TestQuota(base.TestCase):

    def test_no_quota_no_change(self):
        ks = FakeKeystone()
        for api in (FakeImageApi(404), FakeImageApi(200)):
            self.assertIsNone(quota.ensure_room(api, 'p', 5 * 2 ** 30,
                                                lambda: ks))
        self.assertEqual([], ks.calls)

    def test_room_enough_or_unlimited(self):
        ks = FakeKeystone()
        self.assertIsNone(quota.ensure_room(
            FakeImageApi(usage=(100, 1000)), 'p', 900 * 2 ** 20, lambda: ks))
        self.assertIsNone(quota.ensure_room(
            FakeImageApi(usage=(100, -1)), 'p', 2 ** 40, lambda: ks))
        self.assertEqual([], ks.calls)

    def test_only_the_project_gets_a_limit_never_the_default(self):
        ks = FakeKeystone(registered=1000)
        recorded = []

        def record(change):
            # Keystone is unchanged when the change is first recorded.
            recorded.append((change, list(ks.limits)))
        change = quota.ensure_room(FakeImageApi(usage=(400, 1000)), 'p',
                                   900 * 2 ** 20 + 1, lambda: ks, record)
        self.assertEqual(quota.Change('project_limit', 'made', 1000, 1301,
                                      'p'), change)
        self.assertEqual(1000, ks.registered['default_limit'])
        self.assertEqual([], [c for c in ks.calls if c[1].startswith(
            '/registered_limits/')])
        self.assertEqual({'id': 'made', 'service_id': 'svc',
                          'project_id': 'p', 'resource_name': quota.RESOURCE,
                          'resource_limit': 1301}, ks.limits['made'])
        self.assertEqual(
            [(quota.Change('project_limit', None, 1000, 1301, 'p'), []),
             (change, ['made'])], recorded)
        self.assertEqual(1301, quota.current(ks, change))
        quota.remove_limit(ks, change)
        self.assertIsNone(quota.current(ks, change))

    def test_raises_the_projects_own_limit(self):
        ks = FakeKeystone(own=500, registered=1000)
        change = quota.ensure_room(FakeImageApi(usage=(0, 500)), 'p',
                                   600 * 2 ** 20, lambda: ks)
        self.assertEqual(quota.Change('limit', 'own', 500, 600, 'p'),
                         change)
        self.assertEqual(1000, ks.registered['default_limit'])
        self.assertIn(('GET', '/limits?service_id=svc&resource_name='
                       'image_size_total&project_id=p', None), ks.calls)

    def test_glance_error(self):
        self.assertRaisesRegex(errors.CloudError, 'HTTP 500',
                               quota.glance_usage, FakeImageApi(500))
