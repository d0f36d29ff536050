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

"""The guest agent's wheel cache: one wheelhouse per set of inputs.

Runs inside the build chroot with the guest's own python3 (standard
library only), on the cache directory that extra-data.d bind-mounts
from the build host ($DIB_IMAGE_CACHE/trove-wheels). A wheelhouse is a
directory <key>/ holding the wheels of pip and the agent's requirement,
inputs.json (what the key was made from, without credentials) and
SHA256SUMS (one "<sha256>  <file>" line per wheel), written last: a
wheelhouse without it, with a file it does not list, or with a file
whose checksum differs is not used but filled again. A fill goes to
<key>.partial.<pid> and is renamed into place when complete, under a
lock, so an interrupted fill is never taken for a wheelhouse.

The key is the sha256 of the guest OS and release, the Python that runs
the agent, the requirement, the constraints file's content and the
package index (its credentials and query left out): a changed pin or
constraint makes a new key, never a reuse of wrong wheels. A source
tree (development mode, --source) is its dependencies and its build
tools: the key takes the content of the files that declare them
(requirements.txt, setup.cfg, pyproject.toml), not the code.

    wheelhouse.py key (--requirement REQ | --source DIR) ...
    wheelhouse.py prepare --cache DIR --pip PIP (--requirement REQ |
        --source DIR) [--constraints FILE] ... [-- PIP_DOWNLOAD_ARGS]

prepare prints the path of a valid wheelhouse (filling it with
`pip download --only-binary :all:` when needed) and exits 0; it exits 3
when the wheelhouse cannot be filled (a dependency without a wheel, the
index unreachable), and the caller installs without the cache.
"""

import argparse
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.parse

MANIFEST = 'SHA256SUMS'
INPUTS = 'inputs.json'
FORMAT = 1
# Installed from the wheelhouse too: the venv's pip is upgraded first.
PIP = 'pip'
# What pip's isolated build of a source tree installs: pbr's projects
# declare pbr and setuptools (pyproject.toml); older ones get pip's
# default for setup.py, setuptools and wheel.
BUILD_TOOLS = ('setuptools', 'wheel', 'pbr')
# The files of a source tree that decide what pip resolves for it.
SOURCE_FILES = ('requirements.txt', 'setup.cfg', 'pyproject.toml')
CHUNK = 1 << 20
EXIT_NO_FILL = 3


def log(msg):
    print('trove-guest-agent: wheel cache: %s' % msg, file=sys.stderr)


def public_url(url):
    """An index URL without what authenticates: user info, query."""
    if not url:
        return ''
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ''
        port = parts.port
    except ValueError:
        return '<unparsable index URL>'
    if ':' in host:
        host = '[%s]' % host
    netloc = host if port is None else '%s:%d' % (host, port)
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path.rstrip('/'), '', ''))


def os_release(path='/etc/os-release'):
    fields = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            if '=' in line:
                k, v = line.rstrip('\n').split('=', 1)
                fields[k] = v.strip().strip('"\'')
    return '%s %s' % (fields.get('ID', '?'),
                      fields.get('VERSION_ID') or
                      fields.get('VERSION_CODENAME', '?'))


def python_tag():
    return '%s-%s.%s-%s' % (sys.implementation.name,
                            sys.version_info[0], sys.version_info[1],
                            platform.machine())


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


def downloads(requirement=None, source=None):
    """What pip downloads: pip and the requirement, or a source tree's."""
    if source:
        return [PIP] + list(BUILD_TOOLS) + [source]
    return [PIP, requirement]


def key_inputs(requirement, constraints=None, index_url=None,
               os_release_path='/etc/os-release', python=None,
               source=None):
    """What decides a wheelhouse's content; nothing secret."""
    inputs = {
        'format': FORMAT,
        'os': os_release(os_release_path),
        'python': python or python_tag(),
        'requirements': downloads(requirement,
                                  source and '<source tree>'),
        'constraints_sha256': (sha256_file(constraints)
                               if constraints else None),
        'index_url': public_url(index_url),
    }
    if source:
        # Where the tree is staged says nothing of what it needs.
        inputs['source_sha256'] = {
            name: (sha256_file(os.path.join(source, name))
                   if os.path.isfile(os.path.join(source, name)) else None)
            for name in SOURCE_FILES}
    return inputs


def key(inputs):
    blob = json.dumps(inputs, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def problems(path):
    """Why the wheelhouse at path cannot be used; [] when it can."""
    manifest = os.path.join(path, MANIFEST)
    if not os.path.isfile(manifest):
        return ['no %s (never completed)' % MANIFEST]
    listed = {}
    with open(manifest, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip('\n').split('  ', 1)
            if (len(parts) != 2 or len(parts[0]) != 64
                    or '/' in parts[1] or not parts[1].endswith('.whl')):
                return ['%s line %d is malformed' % (MANIFEST, n)]
            listed[parts[1]] = parts[0]
    if not listed:
        return ['%s lists no wheels' % MANIFEST]
    found = set(os.listdir(path)) - {MANIFEST, INPUTS}
    bad = ['unlisted file %s' % name for name in sorted(found - set(listed))]
    for name, digest in sorted(listed.items()):
        file_path = os.path.join(path, name)
        if name not in found or not os.path.isfile(file_path):
            bad.append('missing %s' % name)
        elif sha256_file(file_path) != digest:
            bad.append('checksum mismatch: %s' % name)
    return bad


def write_manifest(path, inputs):
    wheels = sorted(n for n in os.listdir(path) if n.endswith('.whl'))
    others = sorted(set(os.listdir(path)) - set(wheels))
    if others or not wheels:
        raise RuntimeError('pip left %s in %s' % (
            ', '.join(others) or 'no wheels', path))
    _write(os.path.join(path, INPUTS),
           json.dumps(inputs, indent=1, sort_keys=True) + '\n')
    _write(os.path.join(path, MANIFEST), ''.join(
        '%s  %s\n' % (sha256_file(os.path.join(path, n)), n)
        for n in wheels))


def _write(path, text):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _remove(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def fill(cache, name, inputs, pip, wanted, constraints, pip_args):
    """Download wanted into <name>.partial.<pid>, then rename it."""
    final = os.path.join(cache, name)
    partial = '%s.partial.%d' % (final, os.getpid())
    _remove(partial)
    os.makedirs(partial)
    argv = [pip, 'download', '--only-binary', ':all:', '--dest', partial,
            '--no-cache-dir', '--progress-bar', 'off']
    if constraints:
        argv += ['--constraint', constraints]
    argv += list(pip_args) + list(wanted)
    try:
        # pip's output goes to stderr: stdout is the wheelhouse's path.
        rc = subprocess.call(argv, stdout=sys.stderr)
        if rc != 0:
            log('pip download failed (exit %d); installing without the '
                'cache' % rc)
            return None
        write_manifest(partial, inputs)
        _remove(final)
        os.rename(partial, final)
    finally:
        _remove(partial)
    return final


def prepare(cache, pip, requirement, constraints=None, index_url=None,
            pip_args=(), os_release_path='/etc/os-release', source=None):
    """Path of a valid wheelhouse for these inputs, or None."""
    inputs = key_inputs(requirement, constraints, index_url,
                        os_release_path, source=source)
    name = key(inputs)
    path = os.path.join(cache, name)
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, '%s.lock' % name), 'a') as lock:
        # Another build filling the same wheelhouse finishes first.
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in os.listdir(cache):
            if stale.startswith(name + '.partial.'):
                _remove(os.path.join(cache, stale))
        if os.path.isdir(path):
            bad = problems(path)
            if not bad:
                log('using %s (%d wheels)' % (
                    path, len(os.listdir(path)) - 2))
                return path
            log('%s is unusable (%s); filling it again'
                % (path, '; '.join(bad[:3])))
        else:
            log('no wheelhouse %s yet for %s; filling it' % (name, ', '.join(
                '%s=%s' % kv for kv in sorted(inputs.items()))))
        filled = fill(cache, name, inputs, pip,
                      downloads(requirement, source), constraints, pip_args)
        if filled is None:
            return None
        bad = problems(filled)
        if bad:
            raise RuntimeError('fresh wheelhouse %s is unusable: %s'
                               % (filled, '; '.join(bad)))
        log('filled %s' % filled)
        return filled


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for command in ('key', 'prepare'):
        p = sub.add_parser(command)
        what = p.add_mutually_exclusive_group(required=True)
        what.add_argument('--requirement')
        what.add_argument('--source', help='A source tree to install.')
        p.add_argument('--constraints')
        p.add_argument('--index-url', help='Default: $PIP_INDEX_URL.')
        p.add_argument('--os-release', default='/etc/os-release')
        if command == 'prepare':
            p.add_argument('--cache', required=True)
            p.add_argument('--pip', required=True)
            p.add_argument('pip_args', nargs='*',
                           help='More `pip download` arguments (after --).')
    check = sub.add_parser('check')
    check.add_argument('wheelhouse')
    args = parser.parse_args(argv)

    if args.command == 'check':
        bad = problems(args.wheelhouse)
        for line in bad:
            print(line)
        return 1 if bad else 0
    index_url = args.index_url or os.environ.get('PIP_INDEX_URL')
    constraints = args.constraints or None
    if args.command == 'key':
        inputs = key_inputs(args.requirement, constraints, index_url,
                            args.os_release, source=args.source)
        print(json.dumps({'key': key(inputs), 'inputs': inputs},
                         indent=1, sort_keys=True))
        return 0
    path = prepare(args.cache, args.pip, args.requirement, constraints,
                   index_url, args.pip_args, args.os_release, args.source)
    if path is None:
        return EXIT_NO_FILL
    print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
