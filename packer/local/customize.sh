#!/bin/sh
# mmdebstrap customize hook of the local worker image (packer/build.sh
# local): what a bootable qemu guest needs beyond the packages. $1 is the
# root of the tree, $2 its Debian architecture (amd64 by default, or arm64:
# the serial console is the PL011 of qemu's virt machine and of Graviton,
# ttyAMA0, and the ESP is mounted).
set -eu

root=${1:?usage: customize.sh ROOT [ARCH]}
arch=${2:-amd64}
case $arch in
amd64) console=ttyS0 ;;
arm64) console=ttyAMA0 ;;
*) echo "customize.sh: ARCH must be amd64 or arm64, not $arch" >&2; exit 2 ;;
esac

cat >"$root/etc/fstab" <<'FSTAB'
# The root file system made by packer/build.sh (guestfish, label ib-root).
LABEL=ib-root / ext4 defaults,errors=remount-ro 0 1
FSTAB
[ "$arch" != arm64 ] ||
	echo 'LABEL=ESP /boot/efi vfat umask=0077,nofail 0 2' >>"$root/etc/fstab"
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
    systemd-resolved.service "serial-getty@$console.service" >/dev/null 2>&1
