#!/bin/bash
# Build the Debian package trove-image-builder_<version>_<arch>.deb from
# this checkout with standard Debian tooling (debian/, dpkg-buildpackage,
# dh-virtualenv). The version is pbr's: the release for a tagged commit
# (0.1.0), a dev version otherwise (0.0.1.dev23 -> 0.0.1~dev23, which
# sorts before the release, as Debian versions must).
#
#   tools/build-deb.sh [OUTPUT_DIR]      (default: dist/)
#
# Needs: dpkg-dev, debhelper, dh-virtualenv, python3-venv, python3-pbr,
# git, and PyPI (the venv is filled from it, pinned by
# upper-constraints.txt). Prints the path of the .deb last.
set -eu -o pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(mkdir -p "${1:-$TOP/dist}" && cd "${1:-$TOP/dist}" && pwd)
# Debian's interpreter, not one earlier on PATH (pyenv, a tox venv).
PY=/usr/bin/python3

for tool in dpkg-buildpackage dh dh_virtualenv git; do
    if ! command -v "$tool" >/dev/null; then
        echo "build-deb.sh: $tool missing; apt-get install dpkg-dev" \
            "debhelper dh-virtualenv git python3-venv python3-pbr" >&2
        exit 3
    fi
done

cd "$TOP"
read -r PY_VERSION DEB_VERSION < <("$PY" -c '
import pbr.packaging, pbr.version
v = pbr.packaging.get_version("trove-image-builder")
print(v, pbr.version.SemanticVersion.from_pip_string(v).debian_string())')

# dpkg-buildpackage writes beside the source tree and debian/ gets build
# state, so build a copy of the committed and staged files in a private
# directory, never in the checkout itself.
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tib-deb.XXXXXXXX")
trap 'rm -rf "$WORK"' EXIT
SRC="$WORK/trove-image-builder-$DEB_VERSION"
mkdir "$SRC"
git ls-files -z --cached | (cd "$TOP" && xargs -0 cp --parents -a -t "$SRC")
# Working-tree files listed by git but deleted make cp fail above, so
# what is built is exactly what `git ls-files` names.

cat > "$SRC/debian/changelog" <<CHANGELOG
trove-image-builder ($DEB_VERSION) unstable; urgency=medium

  * Built from $(git describe --always --dirty 2>/dev/null || echo unknown) by tools/build-deb.sh.

 -- trove-image-builder developers <openstack-discuss@lists.openstack.org>  $(date -R)
CHANGELOG

echo "build-deb.sh: building trove-image-builder $DEB_VERSION (pbr $PY_VERSION)"
(cd "$SRC" && PBR_VERSION=$PY_VERSION PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    dpkg-buildpackage -b -us -uc)
DEB=$(ls "$WORK"/trove-image-builder_"${DEB_VERSION}"_*.deb)
cp "$DEB" "$OUT/"
echo "$OUT/$(basename "$DEB")"
