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

"""The datastore / version / OS catalogue, read from the elements.

Each datastore element declares its versions in ``datastore.yaml``; the
trove-guest element lists the operating systems in ``os-releases.yaml``.
Nothing here repeats those facts.
"""

import dataclasses
import os

import yaml

from trove_image_builder import errors

GENERIC = 'generic'
DATASTORE_FILE = 'datastore.yaml'
OS_FILE = os.path.join('trove-guest', 'os-releases.yaml')


@dataclasses.dataclass(frozen=True)
class ContainerBuild:
    """How `container-image build` makes a version's image offline."""

    debian_release: str
    packages: tuple
    path: str = ''


@dataclasses.dataclass(frozen=True)
class Version:
    datastore: str
    name: str
    version_number: str
    manager: str
    container_image: str
    validation_rules: str
    default: bool
    # How `container-image build` makes its image from Debian packages,
    # or None and why not.
    container_build: ContainerBuild = None
    container_build_note: str = ''


@dataclasses.dataclass(frozen=True)
class Datastore:
    name: str
    manager: str
    element: str
    versions: tuple

    def version(self, name=None):
        """The named version, or the declared default when name is None."""
        for ver in self.versions:
            if (name is None and ver.default) or ver.name == name:
                return ver
        raise errors.InputError(
            'unknown version %r of datastore %s (known: %s)'
            % (name, self.name, ', '.join(v.name for v in self.versions)))

    @property
    def default_version(self):
        return self.version(None)


@dataclasses.dataclass(frozen=True)
class OperatingSystem:
    name: str
    element: str
    releases: tuple
    default_release: str

    def release(self, name=None):
        name = name or self.default_release
        if name not in self.releases:
            raise errors.InputError(
                'unknown %s release %r (known: %s)'
                % (self.name, name, ', '.join(self.releases)))
        return name


def split_spec(spec):
    """"DATASTORE[:VERSION]" -> (datastore, version or None)."""
    datastore, _sep, version = (spec or '').partition(':')
    if not datastore:
        raise errors.InputError('expected DATASTORE[:VERSION], got %r'
                                % (spec or ''))
    return datastore, version or None


def _load_yaml(path):
    try:
        with open(path, encoding='utf-8') as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise errors.HostError('cannot read %s: %s' % (path, exc))


def _need(data, key, path):
    value = data.get(key) if isinstance(data, dict) else None
    if value in (None, ''):
        raise errors.HostError('%s: missing %r' % (path, key))
    return value


def _container_build(item, path):
    build = item.get('container_build')
    if build is None:
        return None
    _need(build, 'debian_release', path)
    packages = _need(build, 'packages', path)
    if not isinstance(packages, list) or not all(
            isinstance(p, str) for p in packages):
        raise errors.HostError('%s: container_build packages must be a '
                               'list of package names' % path)
    return ContainerBuild(debian_release=str(build['debian_release']),
                          packages=tuple(packages),
                          path=str(build.get('path', '')))


def parse_datastore(data, element, path):
    """Validate one datastore.yaml document and return a Datastore."""
    name = str(_need(data, 'datastore', path))
    manager = str(_need(data, 'manager', path))
    versions = []
    for item in _need(data, 'versions', path):
        versions.append(Version(
            datastore=name,
            name=str(_need(item, 'name', path)),
            version_number=str(_need(item, 'version_number', path)),
            manager=manager,
            container_image=str(_need(item, 'container_image', path)),
            validation_rules=str(item.get('validation_rules') or ''),
            default=bool(item.get('default', False)),
            container_build=_container_build(item, path),
            container_build_note=str(item.get('container_build_note')
                                     or '')))
    names = [v.name for v in versions]
    if len(set(names)) != len(names):
        raise errors.HostError('%s: duplicate version names' % path)
    if sum(v.default for v in versions) != 1:
        raise errors.HostError('%s: exactly one version must be default'
                               % path)
    return Datastore(name=name, manager=manager, element=element,
                     versions=tuple(versions))


def parse_os(data, path):
    systems = {}
    for name, item in (_need(data, 'os', path) or {}).items():
        releases = tuple(str(r) for r in _need(item, 'releases', path))
        systems[name] = OperatingSystem(
            name=name, element=str(_need(item, 'element', path)),
            releases=releases,
            default_release=str(_need(item, 'default_release', path)))
        systems[name].release()  # the default must be a known release
    default = str(_need(data, 'default_os', path))
    if default not in systems:
        raise errors.HostError('%s: default_os %r is not listed'
                               % (path, default))
    return systems, default


class Catalog:
    """Datastores and operating systems found in one elements directory."""

    def __init__(self, datastores, systems, default_os):
        self.datastores = datastores
        self.systems = systems
        self.default_os = default_os

    @classmethod
    def load(cls, elements_dir):
        datastores = {}
        for element in sorted(os.listdir(elements_dir)):
            path = os.path.join(elements_dir, element, DATASTORE_FILE)
            if os.path.isfile(path):
                ds = parse_datastore(_load_yaml(path), element, path)
                if ds.name in datastores:
                    raise errors.HostError('datastore %s declared twice'
                                           % ds.name)
                datastores[ds.name] = ds
        os_path = os.path.join(elements_dir, OS_FILE)
        systems, default_os = parse_os(_load_yaml(os_path), os_path)
        return cls(datastores, systems, default_os)

    def datastore(self, name):
        try:
            return self.datastores[name]
        except KeyError:
            raise errors.InputError(
                'unknown datastore %r (known: %s)'
                % (name, ', '.join([GENERIC] + sorted(self.datastores))))

    def operating_system(self, name=None):
        name = name or self.default_os
        try:
            return self.systems[name]
        except KeyError:
            raise errors.InputError(
                'unknown OS %r (known: %s)'
                % (name, ', '.join(sorted(self.systems))))
