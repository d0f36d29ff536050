# Defaults for the trove-guest-agent element. The trove-image-builder CLI
# passes its options through these variables.

# Production: `trove==VERSION` from the package index.
export DIB_TROVE_GUEST_AGENT_VERSION=${DIB_TROVE_GUEST_AGENT_VERSION:-26.0.0}
# Development: absolute host path of a Trove source tree; copied into the
# image at build time and installed from that copy instead.
export DIB_TROVE_GUEST_AGENT_SOURCE=${DIB_TROVE_GUEST_AGENT_SOURCE:-}
# Host path of a pip constraints file (e.g. upper-constraints.txt).
export DIB_TROVE_GUEST_AGENT_CONSTRAINTS=${DIB_TROVE_GUEST_AGENT_CONSTRAINTS:-}
# Package index for the guest agent's venv; empty means pip's default.
export DIB_TROVE_PIP_INDEX_URL=${DIB_TROVE_PIP_INDEX_URL:-}
# Host path of a file holding the index URL instead, when it carries
# credentials: staged into the build like the CA bundle, then removed.
export DIB_TROVE_PIP_INDEX_FILE=${DIB_TROVE_PIP_INDEX_FILE:-}
# Host path of the CA bundle pip verifies the index with during the build
# (needed behind TLS-inspecting proxies; not left in the image). Defaults
# to the host pip's own bundle, as the image's bundle lacks local CAs.
export DIB_TROVE_PIP_CA_BUNDLE=${DIB_TROVE_PIP_CA_BUNDLE:-${PIP_CERT:-${REQUESTS_CA_BUNDLE:-}}}

# The agent runs as this user. Trove writes the injected config files
# with owner `injected_config_owner` (trove.conf, default "ubuntu"), and
# cloud-init fails if that user does not exist: keep the two equal.
export DIB_TROVE_GUEST_AGENT_USER=${DIB_TROVE_GUEST_AGENT_USER:-ubuntu}
# The agent runs datastore containers as user/group "database" with this
# id (trove.conf `database_service_uid`, default 1001).
export DIB_TROVE_DATABASE_UID=${DIB_TROVE_DATABASE_UID:-1001}

# 1: keep the wheels of a production install in a wheelhouse under
# $DIB_IMAGE_CACHE/trove-wheels on the build host and install from it
# (see README.rst); 0: download them from the index on every build.
export DIB_TROVE_WHEEL_CACHE=${DIB_TROVE_WHEEL_CACHE:-1}
