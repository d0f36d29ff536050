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

"""Facts about the build host: privileges, tools, kernel, apt mirrors."""

import configparser
import glob
import os
import shutil
import socket
import sys

from trove_image_builder.build import partmap
from trove_image_builder import errors

# command -> Debian package that provides it
BUILD_TOOLS = {
    'sudo': 'sudo',
    'qemu-img': 'qemu-utils',
    'debootstrap': 'debootstrap',
    'losetup': 'mount',
    'partx': 'util-linux',
    'sgdisk': 'gdisk',
    'mkfs.ext4': 'e2fsprogs',
    'kpartx': 'kpartx',
}
EFI_TOOLS = {'mkfs.vfat': 'dosfstools'}
SBIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


def require_root(geteuid=None):
    if (geteuid or os.geteuid)() != 0:
        raise errors.HostError(
            'building an image needs root (DIB uses loop devices, mounts '
            'and chroot); run it with sudo')


def disk_image_create(configured=None):
    """Path of disk-image-create: configured, beside us, or on PATH."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise errors.HostError('disk-image-create not executable: %s'
                                   % configured)
        return configured
    beside = os.path.join(os.path.dirname(sys.executable),
                          'disk-image-create')
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which('disk-image-create')
    if not found:
        raise errors.HostError(
            'disk-image-create not found: pip install diskimage-builder '
            '(tools/setup-host.sh does it)')
    return found


def missing_tools(tools, which=shutil.which):
    """Map each missing command to the package that provides it."""
    # sbin is searched too: non-root PATHs often lack it, sudo's does not.
    path = os.environ.get('PATH', '') + ':' + SBIN_PATH
    return {cmd: pkg for cmd, pkg in sorted(tools.items())
            if not which(cmd, path=path)}


def block_device(choice, has_vfat=None):
    """Resolve 'auto' to a layout this host can build."""
    if choice != 'auto':
        return choice
    if has_vfat is None:
        has_vfat = partmap.host_has_vfat()
    return 'efi' if has_vfat else 'mbr'


def unresolved_hostname(resolve=socket.getaddrinfo,
                        hostname=socket.gethostname):
    """This host's name when it does not resolve, else None.

    sudo then warns on stderr at every call, and DIB reads the warning
    as part of a command's output (a loop device's path, for one): the
    build fails late, deep in its log.
    """
    name = hostname()
    try:
        resolve(name, None)
    except (socket.gaierror, UnicodeError):
        return name
    return None


def check_build_host(layout, prefix=partmap.PREFIX):
    """Raise HostError naming what to install before a build can work."""
    name = unresolved_hostname()
    if name:
        raise errors.HostError(
            "this host's name %r does not resolve, so sudo warns at every "
            'call and DIB misreads its commands; add it to /etc/hosts'
            % name)
    tools = dict(BUILD_TOOLS)
    if layout == 'efi':
        tools.update(EFI_TOOLS)
        if not partmap.host_has_vfat():
            raise errors.HostError(
                'this kernel cannot mount vfat, so EFI images cannot be '
                'built here; use --block-device mbr (or gpt)')
    missing = missing_tools(tools)
    if missing:
        raise errors.HostError(
            'missing host tools: %s; install with: apt-get install %s'
            % (', '.join(missing), ' '.join(sorted(set(missing.values())))))
    if (not partmap.host_has_device_mapper()
            and not partmap.is_installed(prefix)):
        raise errors.HostError(
            'this kernel has no device-mapper, which DIB needs for '
            'partitions; run "trove-image-builder host-setup" to install '
            'the loop-device partition mapper')


# --- Debian mirrors from the host's apt sources --------------------------

def _deb822_entries(text):
    entry = {}
    for line in text.splitlines() + ['']:
        if line.lstrip().startswith('#'):
            continue  # a comment inside a stanza does not end it
        line = line.rstrip()
        if not line.strip():
            if entry:
                yield entry
            entry = {}
            continue
        if ':' in line and not line[0].isspace():
            key, value = line.split(':', 1)
            entry[key.strip().lower()] = value.split()
    if entry:
        yield entry


def _one_line_entries(text):
    for line in text.splitlines():
        words = line.split('#', 1)[0].split()
        if not words or words[0] != 'deb':
            continue
        words = words[1:]
        if words and words[0].startswith('['):
            while words and not words[0].endswith(']'):
                words.pop(0)
            words = words[1:]
        if len(words) >= 2:
            yield {'uris': [words[0]], 'suites': [words[1]],
                   'types': ['deb']}


def apt_source_entries(root='/'):
    """Yield dicts with 'uris' and 'suites' from the host's apt sources."""
    base = os.path.join(root, 'etc/apt')
    for path in [os.path.join(base, 'sources.list')] + sorted(
            glob.glob(os.path.join(base, 'sources.list.d', '*.list'))):
        if os.path.isfile(path):
            with open(path, encoding='utf-8', errors='replace') as f:
                yield from _one_line_entries(f.read())
    for path in sorted(glob.glob(os.path.join(base, 'sources.list.d',
                                              '*.sources'))):
        with open(path, encoding='utf-8', errors='replace') as f:
            for entry in _deb822_entries(f.read()):
                if 'deb' in entry.get('types', []):
                    yield entry


def os_release(root='/'):
    """The host's /etc/os-release as a dict ({} when unreadable)."""
    fields = {}
    try:
        with open(os.path.join(root, 'etc/os-release'),
                  encoding='utf-8') as f:
            for line in f:
                if '=' in line:
                    k, v = line.rstrip('\n').split('=', 1)
                    fields[k.strip()] = v.strip().strip('"\'')
    except OSError:
        pass
    return fields


def debian_mirrors(root='/'):
    """(archive, security) URIs used by this Debian host, or Nones."""
    archive = security = None
    if os_release(root).get('ID') != 'debian':
        return archive, security
    for entry in apt_source_entries(root):
        for uri in entry.get('uris', []):
            uri = uri.rstrip('/')
            for suite in entry.get('suites', []):
                if suite.endswith('-security') or suite.endswith(
                        '/updates'):
                    security = security or uri
                elif not suite.endswith('-backports'):
                    archive = archive or uri
    return archive, security


# --- pip settings from the host ------------------------------------------

PIP_CONFIG_FILES = ('/etc/pip.conf', '/etc/xdg/pip/pip.conf',
                    '~/.config/pip/pip.conf', '~/.pip/pip.conf')


def pip_setting(name, environ=None, files=PIP_CONFIG_FILES):
    """The host pip's value for a [global] option, as pip would see it.

    The environment (PIP_<NAME>) wins over config files; among files the
    last one read wins, as in pip.
    """
    environ = os.environ if environ is None else environ
    env_name = 'PIP_' + name.upper().replace('-', '_')
    if environ.get(env_name):
        return environ[env_name]
    value = None
    for path in files:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(os.path.expanduser(path), encoding='utf-8')
        except configparser.Error:
            continue
        if parser.has_option('global', name):
            value = parser.get('global', name).strip() or value
    return value


def pip_index_url(environ=None, files=PIP_CONFIG_FILES):
    """The host's index URL when the build chroot can use it too."""
    url = pip_setting('index-url', environ, files)
    # A file:// index exists only on the host, not in the chroot.
    return url if url and url.startswith(('http://', 'https://')) else None


def pip_ca_bundle(environ=None, files=PIP_CONFIG_FILES):
    path = pip_setting('cert', environ, files)
    return path if path and os.path.isfile(path) else None


# --- caches under [build] cache_dir --------------------------------------

# $DIB_IMAGE_CACHE/<these>: the guest agent's wheelhouses (the
# trove-guest-agent element) and DIB's apt archive cache (its dpkg
# element, DIB_APT_LOCAL_CACHE), one directory per distribution.
WHEEL_CACHE = 'trove-wheels'
APT_CACHE = 'apt'
# What marks a complete wheelhouse (written last by its fill).
WHEELHOUSE_MANIFEST = 'SHA256SUMS'


def tree_size(path):
    """Bytes of the regular files under path (0 if it does not exist)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue  # removed while we looked
            if not os.path.islink(os.path.join(dirpath, name)):
                total += st.st_size
    return total


def wheel_cache_usage(cache_dir):
    """(path, complete wheelhouses, bytes) of the wheel cache."""
    path = os.path.join(cache_dir, WHEEL_CACHE)
    houses = 0
    if os.path.isdir(path):
        houses = sum(1 for name in os.listdir(path) if os.path.isfile(
            os.path.join(path, name, WHEELHOUSE_MANIFEST)))
    return path, houses, tree_size(path)


def apt_cache_usage(cache_dir):
    """(path, .deb files, bytes) of DIB's apt archive cache."""
    path = os.path.join(cache_dir, APT_CACHE)
    debs = 0
    for _dirpath, _dirs, files in os.walk(path):
        debs += sum(1 for name in files if name.endswith('.deb'))
    return path, debs, tree_size(path)


def base_usage(base_dir):
    """(bases, bytes on disk) of the shared bases (raw and sparse).

    The bytes count each base's packed qcow2 copy too.
    """
    count = used = 0
    if os.path.isdir(base_dir):
        for name in os.listdir(base_dir):
            if name.startswith('.') or not name.endswith(('.raw', '.qcow2')):
                continue
            count += name.endswith('.raw')
            used += os.lstat(os.path.join(base_dir, name)).st_blocks * 512
    return count, used


def mib(size):
    return '%.1f MiB' % (size / (1 << 20))
