#!/usr/bin/env python3
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

"""Remove the kernel modules a Trove guest never needs.

Run in the image (post-install.d/80-trove-guest-trim-modules) with the
system python3 (PyYAML is there: cloud-init needs it)::

    trim_modules.py [--root DIR] [--dry-run] LIST

LIST (trim-modules.yaml beside this file) names, under ``remove``, paths
relative to /lib/modules/<version>/ and, under ``keep``, modules that
must survive. For every kernel under ROOT/lib/modules: the listed paths
that exist are removed, and so is every other module that modules.dep
says needs a removed one (it could never load again); if a ``keep``
module would go, nothing is removed and the exit code is 1. Then, for a
kernel whose module index is stale (something was removed now, or by an
earlier interrupted run), depmod, and once for all kernels
``update-initramfs -u -k all``, so the initramfs holds no removed module.
A second run finds nothing to do. One line on stdout says what was
removed and how many MiB that freed.
"""

import argparse
import os
import posixpath
import shutil
import subprocess
import sys

import yaml

MODULES_DIR = 'lib/modules'
_SUFFIXES = ('.ko', '.ko.xz', '.ko.zst', '.ko.gz')


class TrimError(Exception):
    pass


def load_list(path):
    """(remove paths, keep module names) from the YAML list, checked."""
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or set(data) - {'remove', 'keep'}:
        raise TrimError('%s: a mapping with "remove" and "keep" lists'
                        % path)
    remove = data.get('remove') or []
    keep = data.get('keep') or []
    if not all(isinstance(x, str) for x in remove + keep):
        raise TrimError('%s: "remove" and "keep" hold strings' % path)
    for rel in remove:
        norm = posixpath.normpath(rel)
        if (norm != rel.rstrip('/') or norm.startswith('/')
                or norm.split('/')[0] != 'kernel' or norm == 'kernel'
                or any(c in norm for c in '*?[')):
            raise TrimError('%s: %r is not a plain path inside kernel/'
                            % (path, rel))
    return [posixpath.normpath(r) for r in remove], [module_name(k)
                                                     for k in keep]


def module_name(path):
    """kernel/drivers/net/virtio_net.ko -> virtio_net (as modprobe)."""
    name = posixpath.basename(path)
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[:-len(suffix)]
            break
    return name.replace('-', '_')


def is_module(name):
    return name.endswith(_SUFFIXES)


def kernels(root):
    """Versions under ROOT/lib/modules that have modules."""
    top = os.path.join(root, MODULES_DIR)
    if not os.path.isdir(top):
        return []
    return sorted(v for v in os.listdir(top)
                  if os.path.isdir(os.path.join(top, v, 'kernel')))


def read_deps(moddir):
    """module path -> its dependencies' paths, from modules.dep."""
    deps = {}
    path = os.path.join(moddir, 'modules.dep')
    if not os.path.exists(path):
        return deps
    with open(path) as f:
        for line in f:
            mod, sep, rest = line.partition(':')
            if sep:
                deps[mod.strip()] = rest.split()
    return deps


def _walk_files(path):
    """Every file under PATH (PATH itself if it is not a directory)."""
    if not os.path.isdir(path) or os.path.islink(path):
        return [path]
    found = []
    for dirpath, _dirs, files in os.walk(path):
        found.extend(os.path.join(dirpath, f) for f in files)
    return found


def plan(moddir, remove, keep):
    """What to delete under MODDIR: (paths, module paths, dependents).

    paths: the listed paths that exist (relative to MODDIR); modules:
    every module file they hold plus the dependents, relative to MODDIR;
    dependents: modules outside the listed paths that need one of them.
    """
    paths = [rel for rel in remove
             if os.path.lexists(os.path.join(moddir, rel))]
    gone = set()
    for rel in paths:
        for f in _walk_files(os.path.join(moddir, rel)):
            if is_module(f):
                gone.add(os.path.relpath(f, moddir))
    deps = read_deps(moddir)
    dependents = set()
    changed = True
    while changed:
        changed = False
        for mod, needs in deps.items():
            if mod not in gone and gone.intersection(needs):
                if os.path.lexists(os.path.join(moddir, mod)):
                    dependents.add(mod)
                gone.add(mod)
                changed = True
    # A dependent never on disk (a stale index) is not removed or shown.
    modules = {m for m in gone if os.path.lexists(os.path.join(moddir, m))}
    lost = sorted(m for m in modules if module_name(m) in keep)
    if lost:
        raise TrimError('%s: would remove %s, which a Trove guest needs; '
                        'fix the list' % (moddir, ', '.join(lost)))
    return paths, sorted(modules), sorted(dependents)


def stale_index(moddir):
    """True if modules.dep names a module that is not there."""
    return any(not os.path.lexists(os.path.join(moddir, mod))
               for mod in read_deps(moddir))


def _size(path):
    return sum(os.lstat(f).st_size for f in _walk_files(path))


def _delete(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def run(cmd):
    subprocess.run(cmd, check=True)


def trim(root, remove, keep, dry_run=False):
    """Trim every kernel under ROOT; returns the summary line."""
    versions = kernels(root)
    plans = {}
    for version in versions:
        # Every kernel is checked before anything is removed.
        moddir = os.path.join(root, MODULES_DIR, version)
        plans[version] = plan(moddir, remove, keep)
    count = freed = 0
    dependents = []
    stale = []
    for version in versions:
        moddir = os.path.join(root, MODULES_DIR, version)
        paths, modules, deps = plans[version]
        count += len(modules)
        dependents += [module_name(d) for d in deps]
        for rel in paths + deps:
            freed += _size(os.path.join(moddir, rel))
            if not dry_run:
                _delete(os.path.join(moddir, rel))
        if paths or deps or stale_index(moddir):
            stale.append(version)
    if not dry_run:
        for version in stale:
            run(['depmod', '-b', root, '-a', version])
        if stale:
            cmd = ['update-initramfs', '-u', '-k', 'all']
            run(cmd if os.path.realpath(root) == '/' else
                ['chroot', root] + cmd)
    line = ('trove-guest: %s %d kernel modules (%.1f MiB) from %d of %d '
            'kernels' % ('would remove' if dry_run else 'removed', count,
                         freed / 2.0 ** 20,
                         len([v for v in versions if plans[v][1]]),
                         len(versions)))
    if dependents:
        line += '; needing a removed one: %s' % ' '.join(sorted(
            set(dependents)))
    return line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('list', help='trim-modules.yaml')
    parser.add_argument('--root', default='/',
                        help='the image root (default /)')
    parser.add_argument('--dry-run', action='store_true',
                        help='say what would go; remove nothing')
    args = parser.parse_args(argv)
    try:
        remove, keep = load_list(args.list)
        print(trim(args.root, remove, keep, dry_run=args.dry_run),
              flush=True)
    except (TrimError, OSError, subprocess.CalledProcessError) as e:
        print('trove-guest: trimming kernel modules: %s' % e,
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
