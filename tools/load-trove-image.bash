#!/bin/bash
# Upload a built image to Glance and register it with Trove (Trove spec
# name for `trove-image-builder load`).
#
#   tools/load-trove-image.bash IMAGE [load options]
#   tools/load-trove-image.bash --help
#
# The cloud comes from clouds.yaml (--os-cloud) or OS_* variables.
set -eu -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tib-wrapper.bash"
tib_exec load "$@"
