"""oslo.config set-up: one ConfigOpts per run, no module-level state."""

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
    return conf
