#!/bin/bash
#
# devstack plugin of trove-image-builder: Trove guest images built from
# this repository's elements (or a prebuilt one), loaded into Glance,
# registered with Trove and made the datastores' defaults.
#
# stack.sh sources this file once per phase ("stack install", ...) in its
# own shell, so it sets no shell options (errexit etc. are devstack's)
# and holds no logic: lib/trove-image-builder passes the settings to the
# trove-image-builder command, which does the work.

# Save trace setting
_XTRACE_TIB_PLUGIN=$(set +o | grep xtrace)
set +o xtrace

source "$(dirname "${BASH_SOURCE[0]}")/lib/trove-image-builder"

if is_service_enabled trove; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing trove-image-builder"
        install_trove_image_builder
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring Trove for trove-image-builder's images"
        configure_trove_image_builder
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Building and registering Trove guest images"
        deploy_trove_image_builder
    elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
        if is_service_enabled tempest; then
            echo_summary "Configuring Tempest for trove-image-builder"
            configure_tempest_trove_image_builder
        fi
    fi

    if [[ "$1" == "unstack" ]]; then
        undeploy_trove_image_builder
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_trove_image_builder
    fi
fi

# Restore xtrace
$_XTRACE_TIB_PLUGIN

# Tell emacs to use shell-script-mode
## Local variables:
## mode: shell-script
## End:
