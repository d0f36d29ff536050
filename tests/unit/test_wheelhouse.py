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

"""The guest agent's wheel cache (trove-guest-agent-lib/wheelhouse.py)."""

import importlib.util
import json
import os
import subprocess
import sys

from tests.unit import base
from trove_image_builder.build import host

LIB = os.path.join(base.ELEMENTS, 'trove-guest-agent',
                   'trove-guest-agent-lib', 'wheelhouse.py')
REQ = 'trove==26.0.0'
# Stands in for `pip download`: one wheel per requirement into --dest
# (none for a source tree, as pip), each call noted in $FAKE_PIP_LOG;
# FAKE_PIP_FAIL=1 fails like a dependency without a wheel.
FAKE_PIP = '''#!%s
import os, sys
args = sys.argv[1:]
with open(os.environ['FAKE_PIP_LOG'], 'a') as f:
    f.write(' '.join(args) + '\\n')
if os.environ.get('FAKE_PIP_FAIL'):
    sys.exit(1)
dest = args[args.index('--dest') + 1]
rest, wanted = args[args.index('--progress-bar') + 2:], []
while rest:
    if rest[0].startswith('--'):
        rest = rest[2:]
    else:
        wanted.append(rest.pop(0))
for req in wanted:
    if os.path.isdir(req):
        continue
    name = req.split('==')[0]
    with open(os.path.join(dest, name + '-1.0-py3-none-any.whl'), 'wb') as f:
        f.write(os.urandom(4096))
''' % sys.executable


def load():
    spec = importlib.util.spec_from_file_location('tib_wheelhouse', LIB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestKey(base.TestCase):

    def setUp(self):
        super().setUp()
        self.wh = load()
        self.os_release = base.write(
            os.path.join(self.tmp, 'os-release'),
            'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
        self.constraints = base.write(
            os.path.join(self.tmp, 'uc.txt'), 'trove===26.0.0\nsix===1.16\n')

    def key(self, req=REQ, constraints=True, index=None, python=None,
            os_release=None):
        return self.wh.key(self.wh.key_inputs(
            req, self.constraints if constraints else None, index,
            os_release or self.os_release, python=python))

    def test_stable(self):
        self.assertEqual(self.key(), self.key())
        self.assertEqual(64, len(self.key()))

    def test_every_input_changes_the_key(self):
        first = self.key()
        self.assertNotEqual(first, self.key(req='trove==25.0.0'))
        self.assertNotEqual(first, self.key(constraints=False))
        self.assertNotEqual(first, self.key(index='https://pypi.example/s'))
        self.assertNotEqual(first, self.key(python='cpython-3.12-x86_64'))
        trixie = base.write(os.path.join(self.tmp, 'os2'),
                            'ID=debian\nVERSION_ID="13"\n')
        self.assertNotEqual(first, self.key(os_release=trixie))

    def test_a_changed_constraint_changes_the_key(self):
        first = self.key()
        base.write(self.constraints, 'trove===26.0.0\nsix===1.17\n')
        self.assertNotEqual(first, self.key())

    def test_credentials_neither_recorded_nor_keyed(self):
        plain = 'https://pypi.example/simple'
        secret = 'https://bob:s3cret@pypi.example/simple/?token=t0k'
        inputs = self.wh.key_inputs(REQ, None, secret, self.os_release)
        self.assertEqual(plain, inputs['index_url'])
        blob = json.dumps(inputs)
        for word in ('bob', 's3cret', 't0k'):
            self.assertNotIn(word, blob)
        self.assertEqual(self.key(index=plain), self.key(index=secret))

    def test_a_requirement_keys_no_source_tree(self):
        inputs = self.wh.key_inputs(REQ, None, None, self.os_release)
        self.assertEqual(['pip', REQ], inputs['requirements'])
        self.assertNotIn('source_sha256', inputs)

    def source_tree(self, name, requirements='oslo.config>=9\n'):
        tree = os.path.join(self.tmp, name)
        base.write(os.path.join(tree, 'requirements.txt'), requirements)
        base.write(os.path.join(tree, 'setup.cfg'), '[metadata]\n')
        base.write(os.path.join(tree, 'trove', '__init__.py'), '')
        return tree

    def source_key(self, tree):
        return self.wh.key(self.wh.key_inputs(
            None, self.constraints, None, self.os_release, source=tree))

    def test_a_source_tree_is_keyed_by_what_declares_its_needs(self):
        tree = self.source_tree('src')
        first = self.source_key(tree)
        # Where it is staged and what its code says do not count.
        self.assertEqual(first, self.source_key(self.source_tree('other')))
        base.write(os.path.join(tree, 'trove', '__init__.py'), 'x = 1\n')
        self.assertEqual(first, self.source_key(tree))
        self.assertNotEqual(first, self.key())
        # A changed requirement, or a pyproject.toml, does.
        base.write(os.path.join(tree, 'pyproject.toml'), '[build-system]\n')
        second = self.source_key(tree)
        self.assertNotEqual(first, second)
        base.write(os.path.join(tree, 'requirements.txt'), 'oslo.config>=10\n')
        self.assertNotEqual(second, self.source_key(tree))

    def test_key_command_prints_inputs(self):
        out = subprocess.run(
            [sys.executable, LIB, 'key', '--requirement', REQ,
             '--os-release', self.os_release],
            env=dict(os.environ, PIP_INDEX_URL='https://u:p@h.example/s'),
            capture_output=True, text=True, check=True).stdout
        doc = json.loads(out)
        self.assertEqual('debian 12', doc['inputs']['os'])
        self.assertEqual('https://h.example/s', doc['inputs']['index_url'])
        self.assertEqual(['pip', REQ], doc['inputs']['requirements'])
        self.assertNotIn('u:p', out)


class TestWheelhouse(base.TestCase):

    def setUp(self):
        super().setUp()
        self.wh = load()
        self.cache = os.path.join(self.tmp, 'trove-wheels')
        os.makedirs(self.cache)
        self.os_release = base.write(os.path.join(self.tmp, 'os-release'),
                                     'ID=debian\nVERSION_ID="12"\n')
        self.pip = base.write(os.path.join(self.tmp, 'pip'), FAKE_PIP,
                              mode=0o755)
        self.log = os.path.join(self.tmp, 'pip.log')
        self.env = dict(os.environ, FAKE_PIP_LOG=self.log)
        self.env.pop('PIP_INDEX_URL', None)

    def prepare(self, *extra, env=None, source=None):
        wanted = ['--source', source] if source else ['--requirement', REQ]
        return subprocess.run(
            [sys.executable, LIB, 'prepare', '--cache', self.cache,
             '--pip', self.pip] + wanted +
            ['--os-release', self.os_release] + list(extra),
            env=env or self.env, capture_output=True, text=True)

    def downloads(self):
        if not os.path.exists(self.log):
            return 0
        with open(self.log) as f:
            return len(f.readlines())

    def filled(self):
        proc = self.prepare()
        self.assertEqual(0, proc.returncode, proc.stderr)
        path = proc.stdout.strip()
        self.assertEqual(self.cache, os.path.dirname(path))
        return path

    def test_fill_then_reuse(self):
        path = self.filled()
        self.assertEqual(1, self.downloads())
        self.assertEqual([], self.wh.problems(path))
        self.assertEqual(
            ['SHA256SUMS', 'inputs.json', 'pip-1.0-py3-none-any.whl',
             'trove-1.0-py3-none-any.whl'], sorted(os.listdir(path)))
        # Only the wheelhouse and its lock: no partial directory left.
        self.assertEqual(sorted([os.path.basename(path),
                                 os.path.basename(path) + '.lock']),
                         sorted(os.listdir(self.cache)))
        self.assertEqual(path, self.filled())
        self.assertEqual(1, self.downloads())
        self.assertIn('using %s' % path, self.prepare().stderr)

    def test_a_missing_cache_dir_is_made(self):
        # The build host's fill can start before the element makes it.
        os.rmdir(self.cache)
        self.assertTrue(os.path.isdir(self.filled()))

    def test_a_source_tree_fill_has_its_build_tools(self):
        tree = os.path.join(self.tmp, 'src')
        base.write(os.path.join(tree, 'requirements.txt'), 'six\n')
        proc = self.prepare(source=tree)
        self.assertEqual(0, proc.returncode, proc.stderr)
        with open(self.log) as f:
            argv = f.read().split()
        self.assertEqual(['pip', 'setuptools', 'wheel', 'pbr', tree],
                         argv[-5:])
        self.assertEqual(
            ['SHA256SUMS', 'inputs.json', 'pbr-1.0-py3-none-any.whl',
             'pip-1.0-py3-none-any.whl', 'setuptools-1.0-py3-none-any.whl',
             'wheel-1.0-py3-none-any.whl'],
            sorted(os.listdir(proc.stdout.strip())))

    def test_download_asks_for_binaries_with_constraints(self):
        uc = base.write(os.path.join(self.tmp, 'uc.txt'), 'six===1\n')
        proc = self.prepare('--constraints', uc, '--', '--index-url',
                            'https://i.example/simple')
        self.assertEqual(0, proc.returncode, proc.stderr)
        with open(self.log) as f:
            argv = f.read().split()
        self.assertIn('--only-binary', argv)
        self.assertEqual(uc, argv[argv.index('--constraint') + 1])
        self.assertEqual('https://i.example/simple',
                         argv[argv.index('--index-url') + 1])
        self.assertEqual(['pip', REQ], argv[-2:])

    def _refilled_after(self, damage):
        path = self.filled()
        wheel = os.path.join(path, 'trove-1.0-py3-none-any.whl')
        damage(path, wheel)
        self.assertNotEqual([], self.wh.problems(path))
        proc = self.prepare()
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('unusable', proc.stderr)
        self.assertEqual(path, proc.stdout.strip())
        self.assertEqual(2, self.downloads())
        self.assertEqual([], self.wh.problems(path))
        return proc.stderr

    def test_corrupt_wheel_rebuilt(self):
        def flip(_path, wheel):
            with open(wheel, 'r+b') as f:
                byte = f.read(1)
                f.seek(0)
                f.write(bytes([byte[0] ^ 0xff]))
        self.assertIn('checksum mismatch: trove-1.0',
                      self._refilled_after(flip))

    def test_truncated_wheel_rebuilt(self):
        def truncate(_path, wheel):
            os.truncate(wheel, 100)
        self.assertIn('checksum mismatch', self._refilled_after(truncate))

    def test_missing_wheel_rebuilt(self):
        self.assertIn('missing trove', self._refilled_after(
            lambda _p, wheel: os.unlink(wheel)))

    def test_unlisted_file_rebuilt(self):
        def add(path, _wheel):
            base.write(os.path.join(path, 'evil-6.6-py3-none-any.whl'), 'x')
        self.assertIn('unlisted file evil', self._refilled_after(add))

    def test_incomplete_fill_rebuilt(self):
        self.assertIn('never completed', self._refilled_after(
            lambda path, _w: os.unlink(os.path.join(path, 'SHA256SUMS'))))

    def test_failed_download_leaves_nothing(self):
        proc = self.prepare(env=dict(self.env, FAKE_PIP_FAIL='1'))
        self.assertEqual(3, proc.returncode, proc.stderr)
        self.assertEqual('', proc.stdout)
        self.assertEqual([], [n for n in os.listdir(self.cache)
                              if not n.endswith('.lock')])

    def test_stale_partial_removed(self):
        name = self.wh.key(self.wh.key_inputs(REQ, None, None,
                                              self.os_release))
        stale = os.path.join(self.cache, name + '.partial.999999')
        base.write(os.path.join(stale, 'half.whl'), 'x')
        self.filled()
        self.assertFalse(os.path.exists(stale))

    def test_check_command(self):
        path = self.filled()
        ok = subprocess.run([sys.executable, LIB, 'check', path],
                            capture_output=True, text=True)
        self.assertEqual((0, ''), (ok.returncode, ok.stdout))
        os.truncate(os.path.join(path, 'pip-1.0-py3-none-any.whl'), 1)
        bad = subprocess.run([sys.executable, LIB, 'check', path],
                             capture_output=True, text=True)
        self.assertEqual(1, bad.returncode)
        self.assertIn('checksum mismatch: pip-1.0', bad.stdout)

    def test_host_counts_complete_wheelhouses(self):
        self.filled()
        base.write(os.path.join(self.cache, 'abc.partial.1', 'x.whl'), 'x')
        path, houses, size = host.wheel_cache_usage(self.tmp)
        self.assertEqual((self.cache, 1), (path, houses))
        self.assertGreater(size, 8192)
        self.assertEqual((os.path.join(self.tmp, 'nope', 'trove-wheels'),
                          0, 0),
                         host.wheel_cache_usage(os.path.join(self.tmp,
                                                             'nope')))
