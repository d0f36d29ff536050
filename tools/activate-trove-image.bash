#!/bin/bash
# Make a registered datastore version the datastore's default (Trove spec
# name for `trove-image-builder activate`).
#
#   tools/activate-trove-image.bash DATASTORE DATASTORE_VERSION [options]
#   tools/activate-trove-image.bash --help
set -eu -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tib-wrapper.bash"
tib_exec activate "$@"
