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

"""The Debian package as an admin meets it: tools/build-deb.sh builds it,
apt-get installs it into a clean Debian 12 chroot, the CLI works there,
apt-get purge takes it away again. Root, the Debian archive and PyPI.

The debootstrapped chroot and the .debs apt downloads into it are cached
in /var/cache/trove-image-builder/deb-test, so a rerun spends its time on
the package, not on debootstrap. TIB_DEB=/path/to.deb tests a .deb built
before instead of building one.
"""

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time

import testtools

from tests import skips

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CACHE = os.environ.get('TIB_DEB_TEST_CACHE',
                       '/var/cache/trove-image-builder/deb-test')
MIRROR = os.environ.get('TIB_DEB_TEST_MIRROR', 'http://deb.debian.org/debian')
SUITE = 'bookworm'
# A week-old base is refreshed: apt-get upgrades on top of an old one
# would cost more than debootstrap does.
BASE_MAX_AGE = 7 * 86400
PACKAGE = 'trove-image-builder'
CONFFILE = '/etc/trove-image-builder/trove-image-builder.conf'
VENV = '/opt/venvs/trove-image-builder'
# Paths that change on their own (package database, logs, apt's lists
# and caches, scratch) and say nothing about what the package left.
VOLATILE = ('proc/', 'dev/', 'sys/', 'run/', 'tmp/', 'var/tmp/', 'root/',
            'var/log/', 'var/lib/dpkg/', 'var/lib/apt/', 'var/cache/',
            'etc/ld.so.cache')
ENV = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
       'HOME': '/root', 'LANG': 'C.UTF-8', 'DEBIAN_FRONTEND': 'noninteractive'}


def _sources():
    return ('deb {m} {s} main\ndeb {m} {s}-updates main\n'
            'deb {sec} {s}-security main\n').format(
                m=MIRROR, s=SUITE,
                sec=MIRROR.replace('/debian', '/debian-security'))


@contextlib.contextmanager
def _locked(path):
    with open(path, 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def base_tarball():
    """A debootstrapped Debian 12 (minbase) as a tarball, cached."""
    os.makedirs(CACHE, mode=0o755, exist_ok=True)
    tarball = os.path.join(CACHE, '%s-amd64-minbase.tar.gz' % SUITE)
    with _locked(tarball + '.lock'):
        if (os.path.exists(tarball) and
                time.time() - os.path.getmtime(tarball) < BASE_MAX_AGE):
            return tarball
        work = tempfile.mkdtemp(prefix='tib-debootstrap.', dir='/var/tmp')
        try:
            root = os.path.join(work, 'root')
            subprocess.run(['debootstrap', '--variant=minbase', SUITE, root,
                            MIRROR], check=True, capture_output=True)
            with open(os.path.join(root, 'etc/apt/sources.list'), 'w') as f:
                f.write(_sources())
            # Nothing installed here starts services; say so to invoke-rc.d.
            policy = os.path.join(root, 'usr/sbin/policy-rc.d')
            with open(policy, 'w') as f:
                f.write('#!/bin/sh\nexit 101\n')
            os.chmod(policy, 0o755)
            # debootstrap keeps the .debs it installed; the tests bring
            # their own download cache, so they would only be dead weight.
            subprocess.run(['find', os.path.join(root, 'var/cache/apt'),
                            '-name', '*.deb', '-delete'], check=True)
            subprocess.run(['tar', '-C', root, '-czf', tarball + '.new',
                            '.'], check=True)
            os.rename(tarball + '.new', tarball)
        finally:
            subprocess.run(['rm', '-rf', '--one-file-system', work])
    return tarball


def build_deb(out_dir):
    if os.environ.get('TIB_DEB'):
        return os.path.abspath(os.environ['TIB_DEB'])
    proc = subprocess.run([os.path.join(TOP, 'tools', 'build-deb.sh'),
                           out_dir], capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError('build-deb.sh failed:\n%s%s' % (
            proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc.stdout.strip().splitlines()[-1]


class Chroot(object):
    """A throw-away Debian root.

    Each command runs in a private mount namespace (proc, apt's download
    cache), so no mount outlives it.
    """

    def __init__(self, path):
        self.path = path
        self.archives = os.path.join(CACHE, 'apt-archives')
        os.makedirs(os.path.join(self.archives, 'partial'), exist_ok=True)
        os.makedirs(path)
        subprocess.run(['tar', '-C', path, '-xzf', base_tarball()],
                       check=True)
        # A real host resolves its own name (host-check requires it: sudo
        # warns otherwise); debootstrap copies hostname, not hosts.
        shutil.copyfile('/etc/hosts', os.path.join(path, 'etc', 'hosts'))

    def run(self, script, check=True):
        proc = subprocess.run(
            ['unshare', '--mount', '--propagation', 'private', '--',
             '/bin/sh', '-c',
             'mount -t proc proc "$0/proc" && '
             'mount --bind "$1" "$0/var/cache/apt/archives" && '
             'exec chroot "$0" /bin/sh -ec "$2"',
             self.path, self.archives, script],
            capture_output=True, text=True, env=ENV)
        if check and proc.returncode:
            raise AssertionError('in the chroot: %s\nexit %d\n%s%s' % (
                script, proc.returncode, proc.stdout[-4000:],
                proc.stderr[-4000:]))
        return proc

    def exists(self, path):
        return os.path.lexists(self.path + path)

    def snapshot(self):
        """Every path of the root outside VOLATILE, relative to it."""
        out = subprocess.run(
            ['find', '.', '-xdev', '-printf', '%P\\n'],
            cwd=self.path, capture_output=True, text=True, check=True).stdout
        return {line for line in out.splitlines()
                if line and not line.startswith(VOLATILE)}


class TestDebianPackage(testtools.TestCase):

    def setUp(self):
        super().setUp()
        skips.require_root(self, 'debootstrap, chroot, dpkg')
        skips.require_tools(self, 'debootstrap', 'dpkg-buildpackage',
                            'unshare')
        # Private (0700, unpredictable name) scratch on disk, not tmpfs.
        self.scratch = tempfile.mkdtemp(prefix='tib-deb-test.',
                                        dir='/var/tmp')
        self.addCleanup(subprocess.run, ['rm', '-rf', '--one-file-system',
                                         self.scratch])

    def test_install_use_remove_purge(self):
        deb = build_deb(os.path.join(self.scratch, 'dist'))
        name = os.path.basename(deb)
        self.assertRegex(name, r'^trove-image-builder_[0-9][^_]*_amd64\.deb$')
        version = subprocess.run(['dpkg-deb', '-f', deb, 'Version'],
                                 capture_output=True, text=True,
                                 check=True).stdout.strip()
        fields = subprocess.run(['dpkg-deb', '-f', deb, 'Depends',
                                 'Recommends'], capture_output=True,
                                text=True, check=True).stdout
        for needed in ('qemu-utils', 'debootstrap', 'kpartx', 'sudo',
                       'gdisk', 'qemu-system-x86'):
            self.assertIn(needed, fields)

        root = Chroot(os.path.join(self.scratch, 'root'))
        fresh = root.snapshot()
        os.makedirs(root.path + '/var/tmp/deb', exist_ok=True)
        subprocess.run(['cp', deb, root.path + '/var/tmp/deb/'], check=True)
        install = ('apt-get update -q && apt-get install -y -q '
                   '--no-install-recommends /var/tmp/deb/%s' % name)

        # 1. Install and purge at once: every path it brought goes.
        root.run(install)
        owned = root.run('dpkg -L %s' % PACKAGE).stdout.split()
        self.assertIn('/usr/bin/trove-image-builder', owned)
        self.assertIn(CONFFILE, root.run(
            "dpkg-query -W -f '${Conffiles}' %s" % PACKAGE).stdout)
        root.run('apt-get purge -y -q %s' % PACKAGE)
        self.assertEqual([], [p for p in owned if p != '/.'
                              and root.exists(p)
                              and p.lstrip('/') not in fresh])
        # Its dependencies stay installed: the baseline for the rest.
        before = root.snapshot()

        # 2. Install again and use it as an admin would.
        root.run(install)
        # --version is pbr's version_string(): the release, without .devN.
        printed = root.run('trove-image-builder --version').stdout.split()
        self.assertTrue(printed and version.replace('~', '.').startswith(
            printed[-1]), (version, printed))
        listing = root.run('trove-image-builder list -f value').stdout
        self.assertIn('mariadb', listing)
        dry = root.run('trove-image-builder build --dry-run -f json').stdout
        self.assertIn(VENV + '/share/trove-image-builder/elements', dry)
        # This kernel may lack device-mapper: host-check then wants the
        # partition mapper, which host-setup installs and removes.
        root.run('trove-image-builder host-setup')
        check = root.run('trove-image-builder host-check -f value',
                         check=False)
        self.assertEqual(0, check.returncode, check.stdout + check.stderr)
        self.assertIn('disk-image-create %s/bin/disk-image-create' % VENV,
                      check.stdout)
        root.run('trove-image-builder host-setup --remove')

        # The admin edits the conffile and adds a file of their own.
        root.run('echo "[build]" >> %s && echo "datastore = mysql" >> %s'
                 % (CONFFILE, CONFFILE))
        root.run('echo "[build]" > /etc/trove-image-builder/site.conf')

        # 3. remove keeps the edited configuration; purge removes the
        # conffile too, edited or not (Debian policy: purge is the "and
        # its configuration" removal), and leaves only files dpkg never
        # owned: the admin's own.
        root.run('apt-get remove -y -q %s' % PACKAGE)
        self.assertFalse(root.exists(VENV))
        self.assertFalse(root.exists('/usr/bin/trove-image-builder'))
        self.assertIn('datastore = mysql', root.run('cat ' + CONFFILE).stdout)
        root.run('apt-get purge -y -q %s' % PACKAGE)
        after = root.snapshot()
        self.assertEqual(set(), before - after)
        left = after - before
        # /usr/local is the admin's: host-setup --remove took its files
        # away and may leave a directory it had to create.
        local = {p for p in left if p.startswith('usr/local/')}
        self.assertEqual([], [p for p in local
                              if not os.path.isdir(root.path + '/' + p)])
        self.assertEqual({'etc/trove-image-builder',
                          'etc/trove-image-builder/site.conf'},
                         left - local)
        self.assertNotIn(PACKAGE, root.run(
            'dpkg-query -W -f "${Package}\\n"').stdout.split())
