"""[mirrors]: package archives the image is built from."""

from oslo_config import cfg

GROUP = cfg.OptGroup('mirrors', title='Package mirror options')

OPTS = [
    cfg.BoolOpt('from_host', default=True,
                help='Take unset settings from the host: Debian mirrors '
                     'from its apt sources (on Debian hosts), and the pip '
                     'index and CA bundle from its pip configuration.'),
    cfg.URIOpt('debian', help='Debian archive (default: the host\'s, '
                              'else deb.debian.org).'),
    cfg.URIOpt('debian_security',
               help='Debian security archive (default: the host\'s, '
                    'else DIB\'s default).'),
    cfg.URIOpt('ubuntu', help='Ubuntu archive (default: DIB\'s).'),
]


def list_opts():
    return [(GROUP, OPTS)]
