#!/bin/bash
# The whole test suite, from a fresh Debian host: set the host up, then run
# every tox environment (lint, unit, real builds and boots).
#
#   tools/run-tests.sh [TOX_ENVS]
set -eu -o pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${TIB_VENV:-/opt/trove-image-builder/venv}
ENVS=${1:-pep8,bashate,dib-lint,genconfig,py3,functional,integration,devstack}

"$TOP/tools/setup-host.sh" --tests
cd "$TOP"
exec "$VENV/bin/tox" -e "$ENVS"
