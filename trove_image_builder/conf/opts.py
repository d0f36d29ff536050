"""All option groups, for oslo-config-generator and for registration."""

from trove_image_builder.conf import build
from trove_image_builder.conf import dib
from trove_image_builder.conf import guest_agent
from trove_image_builder.conf import mirrors

MODULES = (build, guest_agent, mirrors, dib)


def list_opts():
    result = []
    for module in MODULES:
        result.extend(module.list_opts())
    return result
