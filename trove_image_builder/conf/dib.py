"""[dib]: how diskimage-builder is run."""

from oslo_config import cfg

GROUP = cfg.OptGroup('dib', title='diskimage-builder options')

OPTS = [
    cfg.StrOpt('disk_image_create',
               help='Path of disk-image-create. Unset: the one installed '
                    'beside this tool, else the one on PATH.'),
    cfg.BoolOpt('debootstrap_cache', default=True,
                help='Keep and reuse DIB\'s debootstrap tarball.'),
    cfg.IntOpt('debug_trace', default=0, min=0, max=2,
               help='DIB_DEBUG_TRACE for element scripts.'),
    cfg.DictOpt('extra_env', default={},
                help='More DIB_* variables, e.g. DIB_APT_LOCAL_CACHE:0. '
                     'Only names starting with DIB_ are accepted.'),
    cfg.IntOpt('stop_timeout', default=120, min=1,
               help='Seconds DIB gets to clean up after SIGTERM before it '
                    'is killed.'),
]


def list_opts():
    return [(GROUP, OPTS)]
