#!/usr/bin/python3
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

"""kpartx and dmsetup for build hosts whose kernel has no device-mapper.

diskimage-builder maps the partitions of its image with ``kpartx -uvs
/dev/loopN`` and then uses /dev/mapper/loopNpM.  Without device-mapper
this program stands in: each partition becomes a loop device of its own
over the image FILE (``losetup -o OFFSET --sizelimit SIZE``) and
/dev/mapper/loopNpM is a symlink to it.  Mapping over the file rather
than over the parent loop device keeps discard working, so fstrim passes.

Installed as PREFIX/sbin/kpartx and PREFIX/sbin/dmsetup (symlinks to one
copy of this file), it dispatches on the name it was called by, or on its
first argument: kpartx, dmsetup, release FILE..., install [PREFIX],
uninstall [PREFIX].  It runs standalone (standard library only) because
sudo runs it outside any virtualenv.

Safety rule: a loop device is only ever detached when a link of ours
points to it AND its backing file is the file the caller is working on.
"""

import collections
import getopt
import os
import re
import subprocess
import sys
import tempfile

# Module-level so the unit tests can point them at a fake tree.
SYS_BLOCK = '/sys/block'
DEV_DIR = '/dev'
MAPPER_DIR = '/dev/mapper'
PROC_MISC = '/proc/misc'
PROC_FILESYSTEMS = '/proc/filesystems'

# Where it is installed unless told otherwise: sudo's secure_path has
# PREFIX/sbin before /usr/sbin.
PREFIX = '/usr/local'
PROGRAM = os.path.join('libexec', 'trove-image-builder', 'partmap')
COMMANDS = ('kpartx', 'dmsetup')
# partx (libblkid) counts in 512-byte sectors whatever the logical sector
# size of the device, so no scaling by queue/logical_block_size.
PARTX_SECTOR = 512
# MBR extended-partition containers: their logical partitions are mapped,
# the containers themselves are not (kpartx does the same).
EXTENDED_TYPES = frozenset((0x05, 0x0f, 0x85))
DELETED = ' (deleted)'
LOOP_RE = re.compile(r'loop\d+$')
# dmsetup remove gets only a name: the parent is what precedes pM.
PART_NAME_RE = re.compile(r'(loop\d+)p(\d+)$')

Loop = collections.namedtuple('Loop', 'name file offset sizelimit')
Partition = collections.namedtuple('Partition', 'number start size')


class PartmapError(Exception):
    """A failure reported as one line on stderr; exit status 1."""


class UsageError(PartmapError):
    """Arguments this program does not support; exit status 2."""


# Host probes -------------------------------------------------------------

def _kernel_has(proc_file, word, module):
    try:
        with open(proc_file) as f:
            if any(word in line.split() for line in f):
                return True
    except OSError:
        pass
    try:
        # -n: only say whether the module could be loaded.
        return subprocess.run(['modprobe', '-n', '-q', module],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def host_has_device_mapper():
    """True when the real kpartx/dmsetup can work on this kernel."""
    return _kernel_has(PROC_MISC, 'device-mapper', 'dm_mod')


def host_has_vfat():
    """True when this kernel can mount vfat (EFI system partitions)."""
    return _kernel_has(PROC_FILESYSTEMS, 'vfat', 'vfat')


# Commands and sysfs ----------------------------------------------------

def _run(argv):
    """Run argv; return its stdout, or raise PartmapError with stderr."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              universal_newlines=True)
    except OSError as e:
        raise PartmapError('cannot run %s: %s' % (argv[0], e.strerror))
    if proc.returncode:
        raise PartmapError('%s failed (exit %d): %s'
                           % (' '.join(argv), proc.returncode,
                              proc.stderr.strip()))
    return proc.stdout


def _read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _sys(name, *rel):
    return os.path.join(SYS_BLOCK, name, *rel)


def _dev(name):
    return os.path.join(DEV_DIR, name)


def loop_info(name):
    """The Loop attached as /dev/NAME, or None when it is not attached."""
    if not name or not LOOP_RE.match(name):
        return None
    backing = _read(_sys(name, 'loop', 'backing_file'))
    if not backing:
        return None
    return Loop(name, backing,
                int(_read(_sys(name, 'loop', 'offset'), '0')),
                int(_read(_sys(name, 'loop', 'sizelimit'), '0')))


def attached_loops():
    """Every attached loop device, in name order."""
    try:
        names = sorted(os.listdir(SYS_BLOCK))
    except OSError:
        return []
    return [info for info in map(loop_info, names) if info]


def _devnum(name):
    return _read(_sys(name, 'dev'), '?:?')


def _detach(name):
    _run(['losetup', '-d', _dev(name)])


# Partition table ---------------------------------------------------------

def _is_extended(ptype):
    # GPT types are GUIDs; only MBR types look like 0xNN.
    if not ptype.lower().startswith('0x'):
        return False
    return int(ptype, 16) in EXTENDED_TYPES


def parse_partx(text):
    """Partitions (bytes from the device start) from partx -g -r output.

    Columns: NR START SECTORS TYPE; extended containers are left out.
    """
    parts = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) == 3:
            fields.append('')
        if len(fields) != 4 or not all(f.isdigit() for f in fields[:3]):
            raise PartmapError('unexpected partx output: %r' % line)
        number, start, sectors = (int(f) for f in fields[:3])
        if _is_extended(fields[3]) or sectors == 0:
            continue
        parts.append(Partition(number, start * PARTX_SECTOR,
                               sectors * PARTX_SECTOR))
    return parts


def read_table(device):
    """The partitions of DEVICE, read by partx in user space."""
    # DIB writes the MBR through the image file; drop any block cache the
    # loop device holds so partx sees what is on disk now.
    _run(['blockdev', '--flushbufs', device])
    return parse_partx(_run(['partx', '-g', '-r', '-o',
                             'NR,START,SECTORS,TYPE', device]))


def _name_prefix(parent, sep):
    # kpartx puts 'p' between a name ending in a digit and the number.
    if sep is None:
        sep = 'p' if parent[-1:].isdigit() else ''
    return parent + sep


def part_name(parent, number, sep=None):
    """kpartx's name for partition NUMBER of PARENT (loop0 -> loop0p1)."""
    return '%s%d' % (_name_prefix(parent, sep), number)


def placement(parent, part):
    """(offset, size) in bytes of PART within the parent's backing file."""
    offset = parent.offset + part.start
    size = part.size
    if parent.sizelimit:
        size = min(size, parent.offset + parent.sizelimit - offset)
    if size <= 0:
        raise PartmapError('partition %d lies beyond the end of /dev/%s'
                           % (part.number, parent.name))
    return offset, size


# /dev/mapper links ---------------------------------------------------------

def _link(name):
    return os.path.join(MAPPER_DIR, name)


def link_target(name):
    """The loop name /dev/mapper/NAME points to, or None if no entry.

    Raises PartmapError when the entry exists but is not one of ours
    (a real device-mapper node or a foreign symlink).
    """
    path = _link(name)
    if not os.path.lexists(path):
        return None
    target = os.readlink(path) if os.path.islink(path) else ''
    loop = os.path.basename(target)
    if os.path.dirname(target) != DEV_DIR or not LOOP_RE.match(loop):
        raise PartmapError('%s is not a partmap link; left alone' % path)
    return loop


def _make_link(name, loop):
    os.makedirs(MAPPER_DIR, mode=0o755, exist_ok=True)
    tmp = _link('.%s.partmap-tmp' % name)
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(_dev(loop), tmp)
    os.replace(tmp, _link(name))


def our_links():
    """{mapping name: loop name} for every partmap link."""
    try:
        names = sorted(os.listdir(MAPPER_DIR))
    except OSError:
        return {}
    links = {}
    for name in names:
        try:
            loop = link_target(name)
        except PartmapError:
            continue
        if loop:
            links[name] = loop
    return links


def _links_of(parent, sep):
    pattern = re.compile(re.escape(_name_prefix(parent, sep)) + r'(\d+)$')
    return {name: int(pattern.match(name).group(1))
            for name in our_links() if pattern.match(name)}


def unmap(name, expected_file):
    """Remove /dev/mapper/NAME and detach the loop device behind it.

    Returns False when there is no such link.  A loop device is detached
    only if its backing file is EXPECTED_FILE; a link to a loop device
    that is no longer attached is simply removed.
    """
    loop = link_target(name)
    if loop is None:
        return False
    info = loop_info(loop)
    if info is not None:
        if expected_file is None or info.file != expected_file:
            raise PartmapError(
                '%s -> /dev/%s backs %s, not %s; left alone'
                % (_link(name), loop, info.file, expected_file or '?'))
        _detach(loop)
    os.unlink(_link(name))
    return True


# kpartx ------------------------------------------------------------------

def parent_loop(device):
    """The attached Loop for DEVICE (/dev/loopN or a link to it)."""
    name = os.path.basename(os.path.realpath(device))
    info = loop_info(name)
    if info is None:
        raise PartmapError('%s is not an attached loop device (only loop '
                           'devices are supported without device-mapper)'
                           % device)
    return info


def _attach(parent, offset, size, read_only):
    argv = ['losetup', '--find', '--show', '--offset', str(offset),
            '--sizelimit', str(size), '--sector-size',
            _read(_sys(parent.name, 'queue', 'logical_block_size'), '512')]
    if read_only:
        argv.append('--read-only')
    dev = _run(argv + [parent.file]).strip()
    return os.path.basename(dev)


def map_partitions(parent, sep=None, read_only=False):
    """kpartx -a/-u: map every partition of the PARENT Loop; idempotent.

    Returns [(name, loop, Partition)] in table order.
    """
    if parent.file.endswith(DELETED):
        raise PartmapError('the backing file of /dev/%s was deleted'
                           % parent.name)
    read_only = read_only or _read(_sys(parent.name, 'ro')) == '1'
    table = read_table(_dev(parent.name))
    mapped = []
    for part in table:
        name = part_name(parent.name, part.number, sep)
        offset, size = placement(parent, part)
        loop = link_target(name)
        current = loop_info(loop)
        if current != Loop(loop, parent.file, offset, size):
            # A stale mapping of the same file (the table changed) is
            # ours to drop; a loop over any other file is not.
            if current is not None and current.file == parent.file:
                _detach(loop)
            loop = _attach(parent, offset, size, read_only)
            _make_link(name, loop)
        mapped.append((name, loop, part))
    numbers = set(part.number for part in table)
    for name, number in _links_of(parent.name, sep).items():
        if number not in numbers:
            unmap(name, parent.file)
    return mapped


def unmap_partitions(parent, sep=None):
    """kpartx -d: remove every mapping of the PARENT Loop.

    Returns the names removed.
    """
    removed, errors = [], []
    for name in sorted(_links_of(parent.name, sep)):
        try:
            unmap(name, parent.file)
            removed.append(name)
        except PartmapError as e:
            errors.append(str(e))
    if errors:
        raise PartmapError('; '.join(errors))
    return removed


def _map_line(parent, name, loop, part):
    # The shape of kpartx -v output, in 512-byte sectors.
    return ('add map %s (%s): 0 %d linear %s %d'
            % (name, _devnum(loop), part.size // 512,
               _devnum(parent), part.start // 512))


def kpartx_main(args, out):
    try:
        opts, rest = getopt.getopt(args, 'adulvsnrp:')
    except getopt.GetoptError as e:
        raise UsageError(str(e))
    flags = set(opt[1] for opt, _ in opts)
    sep = dict(opts).get('-p')
    actions = flags & set('adul')
    if len(actions) != 1 or len(rest) != 1:
        raise UsageError('usage: kpartx -a|-u|-d|-l [-v] [-s] [-r] '
                         '[-p SEP] /dev/loopN')
    action, parent = actions.pop(), parent_loop(rest[0])
    verbose = 'v' in flags
    if action == 'd':
        for name in unmap_partitions(parent, sep):
            if verbose:
                print('del devmap : %s' % name, file=out)
        return 0
    if action == 'l':
        for part in read_table(_dev(parent.name)):
            print('%s : 0 %d %s %d'
                  % (part_name(parent.name, part.number, sep),
                     part.size // 512, _dev(parent.name),
                     part.start // 512), file=out)
        return 0
    for name, loop, part in map_partitions(parent, sep, 'r' in flags):
        if verbose:
            print(_map_line(parent.name, name, loop, part), file=out)
    return 0


# dmsetup -----------------------------------------------------------------

def remove_mapping(name):
    """dmsetup remove NAME; returns False when NAME is not mapped."""
    match = PART_NAME_RE.match(name)
    parent = loop_info(match.group(1)) if match else None
    # With the parent gone the expected file is unknown: only a link to
    # a detached loop device can then be removed.
    return unmap(name, parent.file if parent else None)


def dmsetup_main(args, out):
    try:
        opts, rest = getopt.gnu_getopt(args, 'fv', ['noudevsync', 'force',
                                                    'verbose'])
    except getopt.GetoptError as e:
        raise UsageError(str(e))
    command = rest[0] if rest else ''
    if command == 'mknodes':
        # The links are made synchronously by kpartx; nothing to do.
        return 0
    if command == 'ls' and len(rest) == 1:
        links = our_links()
        for name, loop in sorted(links.items()):
            print('%s\t(%s)' % (name, _devnum(loop)), file=out)
        if not links:
            print('No devices found', file=out)
        return 0
    if command == 'remove' and len(rest) > 1:
        for name in rest[1:]:
            if not remove_mapping(name):
                print('dmsetup: %s: no such mapping (nothing to do)'
                      % name, file=sys.stderr)
        return 0
    raise UsageError('only "remove NAME", "mknodes" and "ls" are '
                     'supported without device-mapper')


# Release after a failed build ---------------------------------------------

def release_file(path):
    """Detach every loop device over PATH and drop links to them.

    Partition loops (with an offset or size limit) go before whole-file
    ones.  Returns the /dev/loopX paths detached, in that order.
    """
    real = os.path.realpath(path)
    return release_loops([info for info in attached_loops()
                          if info.file in (real, real + DELETED)])


def _remove_holders(name):
    """dmsetup remove each device-mapper device built on /dev/NAME.

    With the real kpartx a partition is a dm device holding its parent
    open: losetup -d would only mark the parent for autoclear.
    """
    try:
        holders = sorted(os.listdir(_sys(name, 'holders')))
    except OSError:
        return
    for holder in holders:
        dm_name = _read(_sys(holder, 'dm', 'name'))
        if dm_name:
            _run(['dmsetup', 'remove', dm_name])


def release_loops(victims):
    """Detach the Loops in VICTIMS and drop the links to them.

    A device is only detached while it still backs exactly what the
    caller saw (the number may have been freed and reused meanwhile).
    Partition loops go first.  Returns the /dev/loopX paths detached.
    """
    victims = sorted(victims, key=lambda i: (
        i.offset == 0 and i.sizelimit == 0, int(i.name[4:])))
    released, errors = [], []
    for info in victims:
        if loop_info(info.name) != info:
            continue
        try:
            _remove_holders(info.name)
            _detach(info.name)
        except PartmapError as e:
            errors.append(str(e))
            continue
        released.append(info.name)
    for name, loop in our_links().items():
        # Links to what was released, and links named after a released
        # parent whose loop device is already gone.
        match = PART_NAME_RE.match(name)
        orphan = (match and match.group(1) in released
                  and loop_info(loop) is None)
        if loop in released or orphan:
            os.unlink(_link(name))
    if errors:
        raise PartmapError('; '.join(errors))
    return [_dev(name) for name in released]


def release_main(args, out):
    if not args:
        raise UsageError('usage: partmap release FILE...')
    for path in args:
        for dev in release_file(path):
            print('released %s (%s)' % (dev, path), file=out)
    return 0


# Install -----------------------------------------------------------------

def _install_paths(prefix):
    program = os.path.join(prefix, PROGRAM)
    return program, [os.path.join(prefix, 'sbin', c) for c in COMMANDS]


def _is_ours(link, program):
    return (os.path.islink(link)
            and os.path.realpath(link) == os.path.realpath(program))


def is_installed(prefix=PREFIX):
    """True when PREFIX/sbin/kpartx and dmsetup lead to our program."""
    program, links = _install_paths(prefix)
    return os.path.isfile(program) and all(_is_ours(link, program)
                                           for link in links)


def install(prefix=PREFIX):
    """Install this file as PREFIX/libexec/... and link kpartx, dmsetup.

    Idempotent; raises PartmapError, changing nothing, when a kpartx or
    dmsetup that is not ours is in PREFIX/sbin.  Returns the program path.
    """
    program, links = _install_paths(prefix)
    foreign = [link for link in links
               if os.path.lexists(link) and not _is_ours(link, program)]
    if foreign:
        raise PartmapError('refusing to replace %s: not installed by '
                           'partmap' % ', '.join(foreign))
    with open(os.path.abspath(__file__), 'rb') as f:
        source = f.read()
    if _read_bytes(program) != source:
        os.makedirs(os.path.dirname(program), mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(program))
        with os.fdopen(fd, 'wb') as f:
            f.write(source)
        os.chmod(tmp, 0o755)
        os.replace(tmp, program)
    os.chmod(program, 0o755)
    for link in links:
        if not _is_ours(link, program):
            os.makedirs(os.path.dirname(link), mode=0o755, exist_ok=True)
            tmp = link + '.partmap-tmp'
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(program, tmp)
            os.replace(tmp, link)
    return program


def _read_bytes(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return None


def uninstall(prefix=PREFIX):
    """Remove what install() made (only that); returns removed paths."""
    program, links = _install_paths(prefix)
    removed = [link for link in links if _is_ours(link, program)]
    for link in removed:
        os.unlink(link)
    if os.path.lexists(program):
        os.unlink(program)
        removed.append(program)
        try:
            os.rmdir(os.path.dirname(program))
        except OSError:
            pass
    return removed


def _prefix_main(action):
    def main(args, out):
        if len(args) > 1:
            raise UsageError('usage: partmap install|uninstall [PREFIX]')
        result = action(*args)
        for path in [result] if isinstance(result, str) else result:
            print(path, file=out)
        return 0
    return main


HANDLERS = {
    'kpartx': kpartx_main,
    'dmsetup': dmsetup_main,
    'release': release_main,
    'install': _prefix_main(install),
    'uninstall': _prefix_main(uninstall),
}


def main(argv=None, out=None):
    argv = sys.argv if argv is None else argv
    out = sys.stdout if out is None else out
    prog, args = os.path.basename(argv[0]), list(argv[1:])
    if prog not in COMMANDS:
        if not args or args[0] not in HANDLERS:
            print('usage: partmap {%s} ARGS...' % ','.join(HANDLERS),
                  file=sys.stderr)
            return 2
        prog = args.pop(0)
    try:
        return HANDLERS[prog](args, out)
    except UsageError as e:
        print('%s: %s' % (prog, e), file=sys.stderr)
        return 2
    except PartmapError as e:
        print('%s: %s' % (prog, e), file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
