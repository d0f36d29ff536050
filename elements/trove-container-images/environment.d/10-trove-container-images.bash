# Defaults for the trove-container-images element.

# Host paths of container image archives (docker-archive or OCI archive
# tarballs), colon-separated, copied into the image at build time and
# loaded into docker at first boot. Empty: nothing is embedded.
export DIB_TROVE_CONTAINER_ARCHIVES=${DIB_TROVE_CONTAINER_ARCHIVES:-}
