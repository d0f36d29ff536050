#!/bin/bash
# Prepare a Debian/Ubuntu host to build Trove guest images: the packages
# DIB needs, a venv with trove-image-builder, the config directory, and
# (only where the kernel lacks device-mapper) the partition mapper.
# Safe to run again: every step skips what is already done.
#
#   tools/setup-host.sh [--tests]
#
# --tests also installs what the test suite needs (tox, MariaDB, busybox,
# RabbitMQ for the conformance check, parted for the partition mapper's
# tests): in CI a test that misses a tool fails (TIB_NO_SKIP).
# TIB_VENV (default /opt/trove-image-builder/venv) picks the venv.
set -eu -o pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${TIB_VENV:-/opt/trove-image-builder/venv}
WITH_TESTS=0
case "${1:-}" in
    --tests) WITH_TESTS=1 ;;
    "") ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup-host.sh: unknown option $1" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
    echo "setup-host.sh: run as root (it installs packages)" >&2
    exit 1
fi

# Packages are installed without their Recommends (qemu's alone pull in
# GTK, gstreamer and mesa), so everything used is named here.
# Building needs the first two lines (debootstrap checks Debian's
# Release files against debian-archive-keyring, only a Recommends of
# debootstrap; Ubuntu hosts lack it). `verify` (booting an image) needs
# the third: qemu loads SeaBIOS (`-machine pc`) and iPXE's virtio-net
# option ROM, named although today they are Depends of qemu-system-x86;
# socat carries the conformance check's broker into the guest.
PACKAGES="python3 python3-venv python3-dev sudo git curl qemu-utils \
debootstrap debian-archive-keyring kpartx squashfs-tools dosfstools gdisk \
e2fsprogs util-linux fdisk mount procps xz-utils ca-certificates \
qemu-system-x86 seabios ipxe-qemu genisoimage socat"
if [ "$WITH_TESTS" = 1 ]; then
    # MariaDB for the small test cloud, busybox for test containers,
    # RabbitMQ for `verify --conformance`, Debian's packaging tools for
    # the .deb (tox -e package; dpkg-buildpackage insists on
    # build-essential, only a Recommends of dpkg-dev), parted for the
    # partition mapper's tests (tests/functional/test_partmap.py).
    PACKAGES="$PACKAGES mariadb-server busybox-static rabbitmq-server parted"
    PACKAGES="$PACKAGES dpkg-dev build-essential debhelper dh-virtualenv"
    PACKAGES="$PACKAGES python3-pbr"
fi
missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | \
        grep -q "ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "setup-host.sh: installing$missing" \
        "(with their dependencies, without Recommends)"
    apt-get update -q
    # rabbitmq-server's postinst would start a broker on every interface;
    # the conformance check runs private nodes on 127.0.0.1 instead. An
    # existing policy-rc.d is left as it is.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 0755 "$policy"
        made_policy=1
        trap 'rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends $missing
    if [ "$made_policy" = 1 ]; then
        rm -f "$policy"
        trap - EXIT
    fi
fi
# Never a system-wide broker at boot either.
if [ -e /lib/systemd/system/rabbitmq-server.service ]; then
    systemctl disable rabbitmq-server.service >/dev/null 2>&1 || true
fi

if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -c "$TOP/upper-constraints.txt" "$TOP"
if [ "$WITH_TESTS" = 1 ]; then
    "$VENV/bin/pip" install -q "tox>=4.0"
fi
ln -sfn "$VENV/bin/trove-image-builder" /usr/local/bin/trove-image-builder

install -d -m 0755 /etc/trove-image-builder
if [ ! -e /etc/trove-image-builder/trove-image-builder.conf ]; then
    install -m 0644 \
        "$TOP/etc/trove-image-builder/trove-image-builder.conf.sample" \
        /etc/trove-image-builder/trove-image-builder.conf
fi

"$VENV/bin/trove-image-builder" host-setup
"$VENV/bin/trove-image-builder" host-check
