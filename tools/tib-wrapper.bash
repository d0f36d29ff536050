#!/bin/bash
# Shared by the spec-named wrappers: run one trove-image-builder verb.
# Sourced, not executed.

# tib_exec VERB [ARGS...]: replace this shell with `trove-image-builder VERB`.
function tib_exec {
    local verb=$1
    shift
    local tib=${TROVE_IMAGE_BUILDER:-trove-image-builder}
    if ! command -v "$tib" >/dev/null; then
        echo "trove-image-builder is not installed; run tools/setup-host.sh" >&2
        exit 127
    fi
    exec "$tib" "$verb" "$@"
}
