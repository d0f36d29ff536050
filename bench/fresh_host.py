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

"""README command 1 on a fresh Debian 12 userland, timed.

A new Debian 12 root (debootstrap minbase with python3, git and
ca-certificates, which every machine of this kind starts with) gets the
host's apt sources, resolver and pip settings and a clone of the
checkout's HEAD; then, chrooted into it with /proc, /sys and /dev
mounted, `tools/setup-host.sh` and `trove-image-builder build` run
exactly as the README says, each timed. Nothing is cached: apt, pip,
debootstrap and the agent's wheels all download, as on a fresh machine.
The kernel is the host's (loop devices, no device-mapper: setup-host
installs the partition mapper, as it would there).

Making the root is not timed. Everything is unmounted, every loop device
over the root detached, and the root removed afterwards.
"""

import os
import shutil
import subprocess
import time

from trove_image_builder.build import sweep

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = 'bookworm'
MIRROR = 'http://deb.debian.org/debian'
# What a new machine of this kind has before anyone installs anything.
PRESENT = 'python3,ca-certificates,git'
# Host files a fresh machine has too: where packages and wheels come
# from, its own name (sudo warns when it does not resolve), and the local
# CAs its trust store holds (the egress proxy's).
SOURCES = 'etc/apt/sources.list.d/debian.sources'
HOST_FILES = ('etc/resolv.conf', 'etc/pip.conf', SOURCES, 'etc/hosts',
              'etc/hostname')
LOCAL_CAS = 'usr/local/share/ca-certificates'
CHECKOUT = 'root/trove-image-builder'
# Where the build in the root logs its base (the default cache_dir).
BASES = 'var/cache/trove-image-builder/bases'
PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


class FreshHost:

    def __init__(self, root):
        self.root = root

    def make(self):
        self.remove()
        subprocess.run(['debootstrap', '--variant=minbase',
                        '--include=' + PRESENT, RELEASE, self.root, MIRROR],
                       check=True, stdout=subprocess.DEVNULL)
        for rel in HOST_FILES:
            src = os.path.join('/', rel)
            if os.path.isfile(src):
                os.makedirs(os.path.dirname(os.path.join(self.root, rel)),
                            exist_ok=True)
                shutil.copyfile(src, os.path.join(self.root, rel))
        if os.path.isfile(os.path.join(self.root, SOURCES)):
            os.unlink(os.path.join(self.root, 'etc/apt/sources.list'))
        if os.path.isdir(os.path.join('/', LOCAL_CAS)):
            shutil.copytree(os.path.join('/', LOCAL_CAS),
                            os.path.join(self.root, LOCAL_CAS),
                            dirs_exist_ok=True)
            subprocess.run(['chroot', self.root, 'update-ca-certificates'],
                           check=True, stdout=subprocess.DEVNULL)
        subprocess.run(['git', 'clone', '--quiet', TOP,
                        os.path.join(self.root, CHECKOUT)], check=True)
        for args, rel in ((['-t', 'proc', 'proc'], 'proc'),
                          (['-t', 'sysfs', 'sysfs'], 'sys'),
                          (['--bind', '/dev'], 'dev'),
                          (['--bind', '/dev/pts'], 'dev/pts')):
            target = os.path.join(self.root, rel)
            subprocess.run(['mount'] + args + [target], check=True)

    def run(self, command, log):
        """Seconds `command` took in the root's checkout (bash -c)."""
        started = time.monotonic()
        script = 'cd /%s && %s' % (CHECKOUT, command)
        subprocess.run(
            ['chroot', self.root, 'env', '-i', 'PATH=' + PATH, 'HOME=/root',
             'LANG=C.UTF-8', 'bash', '-c', script],
            check=True, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        return time.monotonic() - started

    def remove(self):
        # The build's own sweep: mounts deepest first, then the loops over
        # the root (also those whose tmpfs is gone), never rm through a
        # mount.
        sweep.release(self.root)
        sweep.remove_tree(self.root)


def readme_command_1(work_dir, log_path):
    """(setup-host seconds, build seconds) on a fresh root.

    The root's build logs are kept beside log_path.
    """
    host = FreshHost(os.path.join(work_dir, 'fresh-host'))
    try:
        host.make()
        with open(log_path, 'w') as log:
            setup = host.run('tools/setup-host.sh', log)
            build = host.run('trove-image-builder build', log)
        return setup, build
    finally:
        bases = os.path.join(host.root, BASES)
        if os.path.isdir(bases):
            for name in os.listdir(bases):
                if name.endswith('.log'):
                    shutil.copyfile(os.path.join(bases, name),
                                    '%s.%s' % (log_path, name))
        host.remove()
