"""The installed version, from pbr's metadata."""

import pbr.version


def version_string():
    try:
        return pbr.version.VersionInfo(
            'trove-image-builder').version_string()
    except Exception:  # not installed: running from a bare checkout
        return 'unknown'
