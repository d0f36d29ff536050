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

"""oslo.config set-up: one ConfigOpts per run, no module-level state.

Also the one way a step's request is made from configuration and flags:
a request is a frozen dataclass whose fields name their option with
option("group.name"), so the option is the only place a default is
written; Request.from_conf(conf, **flags) takes every option's value
and lets each flag that is not None win.
"""

import dataclasses
import os

from oslo_config import cfg

from trove_image_builder.conf import opts

PROJECT = 'trove-image-builder'
DEFAULT_CONFIG_FILE = '/etc/trove-image-builder/trove-image-builder.conf'


def make_conf(config_files=None, config_dirs=None):
    """Return a loaded ConfigOpts.

    Without explicit files, the system file is read when it exists. The
    command line is parsed by cliff, so oslo.config sees no arguments;
    commands give their flags precedence over these values.
    """
    conf = cfg.ConfigOpts()
    for group, group_opts in opts.list_opts():
        conf.register_group(group)
        conf.register_opts(group_opts, group=group)
    if not config_files and not config_dirs:
        config_files = [f for f in (DEFAULT_CONFIG_FILE,)
                        if os.path.exists(f)]
    args = []
    for path in config_files or ():
        args += ['--config-file', path]
    for path in config_dirs or ():
        args += ['--config-dir', path]
    conf(args=args, project=PROJECT, default_config_files=[],
         default_config_dirs=[], validate_default_values=True)
    # oslo.config converts a value when it is first read: read them all
    # now, so a bad one is a configuration error before any work starts.
    for group, group_opts in opts.list_opts():
        for opt in group_opts:
            conf[group.name][opt.dest]
    return conf


_OPTION = 'trove_image_builder.option'


def _frozen(value):
    """An option value as a frozen dataclass holds it.

    Lists become tuples, dicts sorted tuples of (key, value).
    """
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    return value


def _find(name):
    group, _dot, dest = name.partition('.')
    for opt_group, group_opts in opts.list_opts():
        if opt_group.name == group:
            for opt in group_opts:
                if opt.dest == dest:
                    return opt
    raise LookupError('no option %s' % name)


def default(name):
    """The default of the option name ("group.option").

    The option is the one place each default is written; dataclasses
    that need it as theirs take it from here.
    """
    return _frozen(_find(name).default)


def option(name, required=False):
    """A request field whose value is the option name ("group.option").

    Its default, for requests made without a configuration (tests), is
    the option's own; required fields have none.
    """
    metadata = {_OPTION: name}
    if required:
        _find(name)
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default(name), metadata=metadata)


class FromConf:
    """Mixed into a request dataclass whose fields use option()."""

    @classmethod
    def from_conf(cls, conf, **flags):
        """Configured values, overridden by every flag that is not None."""
        values = {}
        for field in dataclasses.fields(cls):
            name = field.metadata.get(_OPTION)
            if name:
                group, _dot, dest = name.partition('.')
                values[field.name] = _frozen(conf[group][dest])
        values.update({k: v for k, v in flags.items() if v is not None})
        return cls(**values)
