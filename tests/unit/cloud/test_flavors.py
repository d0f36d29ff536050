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

from unittest import mock

from keystoneauth1 import exceptions as ksa_exc

from tests.unit import base
from tests.unit import test_load
from trove_image_builder.cloud import flavors
from trove_image_builder import errors


class FakeFlavor:

    def __init__(self, **kw):
        self.__dict__.update(kw)


class FakeCompute:
    """The four calls flavors.py makes of openstacksdk's compute proxy."""

    def __init__(self):
        self.flavors = {}
        self.specs = {}

    def find_flavor(self, name_or_id, ignore_missing=True):
        if name_or_id in self.flavors:
            return self.flavors[name_or_id]
        for flavor in self.flavors.values():
            if flavor.name == name_or_id:
                return flavor
        return None

    def create_flavor(self, **kw):
        flavor = FakeFlavor(**kw)
        self.flavors[kw['id']] = flavor
        return flavor

    def create_flavor_extra_specs(self, flavor, specs):
        self.specs[flavor.id] = specs

    def delete_flavor(self, flavor_id, ignore_missing=True):
        self.flavors.pop(flavor_id, None)


class FakeConn(test_load.FakeConn):
    """Glance through requests-mock; compute and Trove's endpoint faked."""

    def __init__(self, endpoints=('compute',)):
        super().__init__()
        self.endpoints = endpoints
        self.compute = FakeCompute()
        self.identity = mock.Mock()

    def endpoint_for(self, service_type):
        if service_type in self.endpoints:
            return 'http://%s.test/v1.0/proj' % service_type
        return None


class TestFlavors(base.TestCase):

    def test_parse(self):
        flavor = flavors.parse('d2:ds1G:1024:10:1')
        self.assertEqual(('d2', 'ds1G', 1024, 10, 1),
                         (flavor.id, flavor.name, flavor.ram, flavor.disk,
                          flavor.vcpus))
        self.assertEqual('d2:ds1G:1024:10:1', flavor.spec())
        for bad in ('d2:ds1G:1024:10', 'd2:ds1G:big:10:1',
                    ':x:1:1:1', 'd2:ds1G:0:10:1'):
            self.assertRaises(errors.InputError, flavors.parse, bad)
        self.assertRaisesRegex(errors.InputError, 'twice',
                               flavors.parse_all, ('a:b:1:1:1', 'a:c:1:1:1'))

    def test_ensure_creates_missing_only(self):
        conn = FakeConn()
        conn.compute.flavors['d2'] = FakeFlavor(id='d2', name='ds1G')
        conn.compute.flavors['42'] = FakeFlavor(id='42', name='ds2G')
        wanted = flavors.parse_all(flavors.DEFAULTS + ('t1:tiny:256:1:1',))
        out = flavors.ensure(conn, wanted)
        self.assertEqual(['exists', 'exists', 'created'],
                         [o.action for o in out])
        self.assertIn('id 42, not d3', out[1].note)
        made = conn.compute.flavors['t1']
        self.assertEqual((256, 1, 1, True), (made.ram, made.disk, made.vcpus,
                                             made.is_public))
        self.assertEqual({'t1': flavors.EXTRA_SPECS}, conn.compute.specs)
        self.assertTrue(flavors.delete(conn, 't1'))
        self.assertFalse(flavors.delete(conn, 't1'))

    def test_nova_errors_are_one_line(self):
        conn = FakeConn()
        conn.compute.find_flavor = mock.Mock(
            side_effect=ksa_exc.ConnectFailure('refused'))
        self.assertRaisesRegex(errors.CloudError, 'Nova',
                               flavors.ensure, conn,
                               flavors.parse_all(flavors.DEFAULTS))

    def test_has_compute(self):
        self.assertTrue(flavors.has_compute(FakeConn()))
        self.assertFalse(flavors.has_compute(FakeConn(endpoints=())))
        conn = FakeConn()
        conn.endpoint_for = mock.Mock(side_effect=RuntimeError)
        self.assertFalse(flavors.has_compute(conn))
