# Defaults for the trove-guest element; every value can be overridden
# from the build environment.

# Trove hands its guest config over via the config drive (ConfigDrive,
# OpenStack); NoCloud lets a seed ISO stand in for it in local tests.
export DIB_CLOUD_INIT_DATASOURCES=${DIB_CLOUD_INIT_DATASOURCES:-"ConfigDrive, OpenStack, NoCloud"}

# cloud-init writes the interface configuration for whatever NIC the
# guest has; static eth0/eth1 stanzas from debootstrap would only fight
# with it (the NIC is called ens3 or similar under KVM).
export DIB_APT_MINIMAL_CREATE_INTERFACES=${DIB_APT_MINIMAL_CREATE_INTERFACES:-0}

# Kernel and getty on the first serial port so that
# `openstack console log show` has the whole boot and a login prompt.
case "${ARCH:-amd64}" in
    amd64|x86_64|i386)
        export DIB_BOOTLOADER_SERIAL_CONSOLE=${DIB_BOOTLOADER_SERIAL_CONSOLE:-"ttyS0,115200"}
        ;;
esac

# Nobody watches the GRUB menu of a database instance; do not wait 5 s.
export DIB_GRUB_TIMEOUT=${DIB_GRUB_TIMEOUT:-1}

# Kernel package for Debian images instead of debian-minimal's
# linux-image-$ARCH; empty keeps that. Debian 12's VM flavour
# (linux-image-cloud-amd64: ~105 MiB unpacked against ~400 MiB of
# modules) has no AHCI driver, so on a
# q35 machine (Nova's SATA config drive) the guest never sees Trove's
# injected config: opt in only for clouds on the pc machine type.
# Ubuntu has DIB_UBUNTU_KERNEL for the same.
export DIB_TROVE_GUEST_KERNEL=${DIB_TROVE_GUEST_KERNEL:-}

# Remove kernel modules no Trove guest needs (sound, media, wireless,
# Bluetooth, InfiniBand, real GPUs...: trove-guest-lib/trim-modules.yaml)
# and rebuild the module index and initramfs; 0 keeps every module.
export DIB_TROVE_GUEST_TRIM_MODULES=${DIB_TROVE_GUEST_TRIM_MODULES:-1}

# Packages purged after the install, with what only they needed (space
# separated; empty keeps them): DIB's base element installs
# software-properties-common (add-apt-repository) on Debian and Ubuntu,
# and with it PackageKit, GStreamer, ICU and python3-apt.
export DIB_TROVE_GUEST_PURGE=${DIB_TROVE_GUEST_PURGE-software-properties-common}
