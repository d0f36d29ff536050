#!/bin/bash
# Run the devstack plugin's phases the way stack.sh, unstack.sh and
# clean.sh call them, with fake-devstack-functions standing in for
# devstack's library. The settings come from the environment, as
# local.conf's would.
#
#   tests/devstack/run-plugin.bash stack|unstack|clean
#
# Stricter than devstack (which runs with errexit only): the plugin must
# also hold up under nounset and pipefail.
set -eu -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PLUGIN=$TOP/devstack/plugin.sh

source "$HERE/fake-devstack-functions"
source "$TOP/devstack/settings"

case "${1:-}" in
    stack)
        for phase in pre-install install post-config extra test-config; do
            source "$PLUGIN" stack "$phase"
        done
        ;;
    unstack|clean)
        source "$PLUGIN" "$1"
        ;;
    *)
        echo "usage: run-plugin.bash stack|unstack|clean" >&2
        exit 2
        ;;
esac
