# Defaults for the trove-docker element. Sorts after ubuntu-common's
# 10-ubuntu-distro-name.bash, which sets DISTRO_NAME.

# Ubuntu ships docker.io in its universe component.
if [ "${DISTRO_NAME:-}" = "ubuntu" ]; then
    export DIB_DEBIAN_COMPONENTS=${DIB_DEBIAN_COMPONENTS:-main,universe}
fi
