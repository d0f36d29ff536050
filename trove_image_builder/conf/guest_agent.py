"""[guest_agent]: how Trove's guest agent gets into the image."""

from oslo_config import cfg

GROUP = cfg.OptGroup('guest_agent', title='Trove guest agent options')

OPTS = [
    cfg.StrOpt('version', default='26.0.0',
               help='Version of the trove package installed from PyPI '
                    '(production mode).'),
    cfg.StrOpt('constraints',
               help='pip constraints file for the agent\'s venv. Unset: '
                    'the upper-constraints file shipped with this tool.'),
    cfg.StrOpt('pip_index_url',
               help='pip index used inside the image build. Unset: the '
                    'host pip\'s own index-url (PIP_INDEX_URL or '
                    'pip.conf), else PyPI.'),
    cfg.StrOpt('pip_ca_bundle',
               help='CA bundle pip uses to verify the index during the '
                    'build (TLS-inspecting proxies, private indexes). '
                    'Unset: the host pip\'s own (PIP_CERT or pip.conf '
                    'cert), if any. Verification is never turned off.'),
    cfg.BoolOpt('dev_mode', default=False,
                help='Install the agent from a local Trove source tree '
                     'instead of PyPI.'),
    cfg.StrOpt('source',
               help='Local Trove source tree used in dev mode; copied '
                    'into the image at build time.'),
]


def list_opts():
    return [(GROUP, OPTS)]
