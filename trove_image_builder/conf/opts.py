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
    """[(group, its options)]: each module of this package has one group."""
    return [(module.GROUP, module.OPTS) for module in MODULES]
