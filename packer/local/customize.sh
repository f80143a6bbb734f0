#!/bin/sh
# mmdebstrap customize hook of the local worker image (packer/build.sh
# local): what a bootable qemu guest needs beyond the packages. $1 is the
# root of the tree.
set -eu

root=${1:?usage: customize.sh ROOT}

cat >"$root/etc/fstab" <<'FSTAB'
# The root file system made by packer/build.sh (guestfish, label ib-root).
LABEL=ib-root / ext4 defaults,errors=remount-ro 0 1
FSTAB
echo ib-worker >"$root/etc/hostname"
cat >"$root/etc/hosts" <<'HOSTS'
127.0.0.1 localhost
127.0.1.1 ib-worker
::1 localhost ip6-localhost ip6-loopback
HOSTS

# Any wired interface by DHCP; names resolved by systemd-resolved (the
# /etc/resolv.conf link is made on the disk, after mmdebstrap cleans up).
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/80-ib-worker.network" <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=yes
NET
chroot "$root" systemctl enable systemd-networkd.service \
    systemd-resolved.service serial-getty@ttyS0.service >/dev/null 2>&1
