#!/bin/bash
# Build a Trove guest image (Trove spec name for `trove-image-builder build`).
#
#   tools/trove-image-builder.bash [DATASTORE] [build options]
#   tools/trove-image-builder.bash --help
#
# Options are those of `trove-image-builder build`; defaults come from
# /etc/trove-image-builder/trove-image-builder.conf.
set -eu -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tib-wrapper.bash"
tib_exec build "$@"
