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

"""Registering datastore versions with Trove, two ways.

A Registrar reads what Trove holds for a datastore and writes versions,
configuration parameters and the default version. The decisions (create
or update, what changed, which version number) are made here once, so
the api registrar (python-troveclient) and the manage registrar
(trove-manage) behave the same.
"""

import abc
import dataclasses
import json
import urllib.parse

from keystoneauth1 import exceptions as ksa_exc

from trove_image_builder import conf as conf_mod
from trove_image_builder import errors
from trove_image_builder.register import params

# The registrars, and "auto": the API when it answers, else trove-manage.
AUTO = 'auto'
KINDS = ('api', 'manage')
# Trove's API accepts at most 5 image tags of at most 20 characters.
MAX_TAGS = 5
MAX_TAG_LENGTH = 20


@dataclasses.dataclass(frozen=True)
class Wanted:
    """The version as load wants it registered."""

    datastore: str
    name: str
    version_number: str
    manager: str
    image_id: str = ''
    image_tags: tuple = ()
    active: bool = True


@dataclasses.dataclass(frozen=True)
class Registered:
    """A datastore version as Trove holds it."""

    id: str
    datastore: str
    name: str
    version_number: str
    manager: str
    image_id: str
    image_tags: tuple
    active: bool
    default: bool = False

    def image_ref(self):
        if self.image_id:
            return 'image %s' % self.image_id
        return 'image tags %s' % ','.join(self.image_tags)


@dataclasses.dataclass(frozen=True)
class Outcome:
    action: str  # created | updated | unchanged
    version: Registered
    previous: Registered = None
    changes: tuple = ()
    notes: tuple = ()


def check_tags(tags):
    if len(tags) > MAX_TAGS:
        raise errors.InputError('Trove takes at most %d image tags, not %d'
                                % (MAX_TAGS, len(tags)))
    long_tags = [t for t in tags if len(t) > MAX_TAG_LENGTH]
    if long_tags:
        raise errors.InputError(
            'image tag %r is longer than Trove\'s %d characters: register '
            'by image id (--register-by id)' % (long_tags[0],
                                                MAX_TAG_LENGTH))


def read_rules(path):
    """The validation rules JSON: a list of parameter dicts."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        rules = data['configuration-parameters']
        if not isinstance(rules, list):
            raise ValueError('configuration-parameters is not a list')
        for rule in rules:
            rule['name'], rule['type']  # noqa: both are required
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise errors.InputError('unusable validation rules %s: %s'
                                % (path, exc))
    return rules


def _differences(prev, want):
    changes = []
    if prev.manager != want.manager:
        changes.append('manager %s -> %s' % (prev.manager, want.manager))
    if (prev.image_id or '') != (want.image_id or '') or \
            tuple(prev.image_tags) != tuple(want.image_tags):
        new = Registered('', '', '', '', '', want.image_id,
                         tuple(want.image_tags), True)
        changes.append('%s -> %s' % (prev.image_ref(), new.image_ref()))
    if prev.active != want.active:
        changes.append('active %s -> %s' % (prev.active, want.active))
    return changes


class Registrar(abc.ABC):
    """What both registrars do; subclasses talk to Trove."""

    name = None

    # -- reading ------------------------------------------------------

    @abc.abstractmethod
    def versions(self, datastore):
        """Registered versions of datastore; None if no such datastore."""

    def version(self, datastore, name, version_number=None):
        """The one version called name (and version_number, if given)."""
        found = self.versions(datastore)
        if found is None:
            raise errors.Refused('datastore %s is not registered with '
                                 'Trove' % datastore)
        same = [v for v in found if v.name == name and (
            version_number is None or v.version_number == version_number)]
        if not same:
            known = ', '.join(sorted({v.name for v in found})) or 'none'
            raise errors.Refused('datastore version %s %s is not registered '
                                 '(registered: %s)' % (datastore, name,
                                                       known))
        if len(same) > 1:
            raise errors.Refused(
                'datastore %s has %d versions named %s (version numbers %s);'
                ' give --version-number' % (
                    datastore, len(same), name,
                    ', '.join(v.version_number for v in same)))
        return same[0]

    # -- writing ------------------------------------------------------

    @abc.abstractmethod
    def _create(self, want, datastore_exists):
        """Create the version (and the datastore when it is absent)."""

    @abc.abstractmethod
    def _update(self, prev, want):
        """Update prev in place to want (version number unchanged)."""

    # The data types _apply_rules can write (params.ALL_TYPES: every one).
    param_types = params.ALL_TYPES
    # True: an integer parameter needs a max (Trove's API refuses one
    # without: "max_size is required for integer data type").
    param_bounded = False

    @abc.abstractmethod
    def _parameters(self, version):
        """The version's configuration parameters: name -> params.normal()."""

    @abc.abstractmethod
    def _apply_rules(self, version, rules_path, change):
        """Make Trove hold what change (from rules_path) says."""

    @abc.abstractmethod
    def _set_default(self, version):
        """Make version its datastore's default."""

    def rules_path(self, spec):
        """A local path for a validation rules spec, or None.

        "trove:RELATIVE" names a file inside the trove package; only a
        registrar that can see that package resolves it.
        """
        if spec and not spec.startswith('trove:'):
            return spec
        return None

    def register(self, want):
        """Create or update want's version; an Outcome says which."""
        if want.image_tags:
            check_tags(want.image_tags)
        found = self.versions(want.datastore)
        same = [v for v in found or () if v.name == want.name]
        notes = []
        if len(same) > 1:
            exact = [v for v in same
                     if v.version_number == want.version_number]
            if len(exact) != 1:
                raise errors.Refused(
                    'datastore %s already has %d versions named %s; '
                    'refusing to guess which to update'
                    % (want.datastore, len(same), want.name))
            same = exact
        if not same:
            self._create(want, datastore_exists=found is not None)
            return Outcome('created', self.version(
                want.datastore, want.name, want.version_number))
        prev = same[0]
        if prev.version_number != want.version_number:
            # Neither the API nor trove-manage can change a version's
            # number, and a second row with the same name would make the
            # name ambiguous for Trove's users.
            notes.append(
                'kept version number %s (Trove cannot change it; the '
                'image says %s)' % (prev.version_number,
                                    want.version_number))
            want = dataclasses.replace(want,
                                       version_number=prev.version_number)
        changes = _differences(prev, want)
        if not changes:
            return Outcome('unchanged', prev, prev, (), tuple(notes))
        self._update(prev, want)
        return Outcome('updated', self.version(
            want.datastore, want.name, want.version_number), prev,
            tuple(changes), tuple(notes))

    def load_rules(self, version, spec):
        """Make the version's configuration parameters those of spec.

        Returns a params.Change: what was (or, loaded False, could not
        be) done. Nothing is written when Trove already holds the file.
        """
        path = self.rules_path(spec)
        if not path:
            return params.Change(total=0, loaded=False, notes=(
                'configuration parameters not loaded: %s is inside the '
                'trove package, which this registrar cannot read here; give '
                '--validation-rules FILE' % spec,))
        rules = read_rules(path)
        change = params.plan(rules, self._parameters(version),
                             self.param_types, self.param_bounded)
        if change.changes:
            self._apply_rules(version, path, change)
        if change.skipped:
            change = dataclasses.replace(change, notes=(
                '%d configuration parameter(s) not loaded, the %s '
                'registrar cannot write them: %s (the manage registrar '
                'loads them)' % (len(change.skipped), self.name,
                                 ', '.join(change.skipped)),))
        return change

    def set_default(self, version):
        self._set_default(version)


@dataclasses.dataclass(frozen=True)
class Settings(conf_mod.FromConf):
    """Which registrar, and the trove-manage the manage registrar runs."""

    kind: str = conf_mod.option('trove.registrar')
    trove_manage: str = conf_mod.option('trove.trove_manage')
    config_file: str = conf_mod.option('trove.config_file')

    def make(self, conn):
        return make(self.kind, conn, self.trove_manage, self.config_file)


def choose(conn, wanted, say):
    """wanted, or for "auto": api when Trove's API answers, else manage.

    In devstack, Trove's own plugin starts trove-api in the same phase as
    ours, so whether it is up yet depends on the order of the plugins.
    """
    if wanted != AUTO:
        return wanted
    try:
        url = conn.endpoint_for('database')
    except Exception:  # noqa: no catalog entry, whatever the SDK raises
        url = None
    if not url:
        say('no Trove endpoint in the catalog: registering with '
            'trove-manage')
        return 'manage'
    parts = urllib.parse.urlsplit(url)
    root = '%s://%s/' % (parts.scheme, parts.netloc)
    try:
        resp = conn.session.get(root, authenticated=False, raise_exc=False,
                                connect_retries=0, timeout=10)
    except (ksa_exc.ConnectFailure, ksa_exc.ConnectTimeout,
            ksa_exc.RetriableConnectionFailure):
        resp = None
    if resp is None or resp.status_code >= 500:
        say('Trove API at %s is not answering (yet): registering with '
            'trove-manage' % root)
        return 'manage'
    return 'api'


def make(kind, conn, trove_manage, config_file):
    """The registrar called kind ('api' or 'manage').

    trove_manage and config_file: the [trove] settings, for manage.
    """
    if kind == 'api':
        from trove_image_builder.register import api
        return api.ApiRegistrar(conn)
    if kind == 'manage':
        from trove_image_builder.register import manage
        return manage.ManageRegistrar(trove_manage, config_file)
    raise errors.InputError('unknown registrar %r (api or manage)' % kind)
