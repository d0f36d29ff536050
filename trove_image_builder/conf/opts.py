"""All option groups, for oslo-config-generator and for registration."""

from trove_image_builder.conf import build
from trove_image_builder.conf import cloud
from trove_image_builder.conf import conformance
from trove_image_builder.conf import container_images
from trove_image_builder.conf import dib
from trove_image_builder.conf import guest_agent
from trove_image_builder.conf import mirrors
from trove_image_builder.conf import trove
from trove_image_builder.conf import verify

MODULES = (build, guest_agent, mirrors, dib, container_images, verify,
           conformance, cloud, trove)


def list_opts():
    result = []
    for module in MODULES:
        result.extend(module.list_opts())
    return result
