#!/bin/sh
# Install every package the build, the tests and the main job need, on Debian 12.
# Idempotent: installs only what is missing, so `make` can call it every time.
# Usage: ci/deps.sh [build|deb|rpm|arm64|all]
#   build: compiler, libraries and the unit-test and sanitizer tools (make)
#   arm64: the cross toolchain and qemu-user (make ARCH=arm64; the arm64
#        libraries are unpacked by ci/arm64-sysroot.sh from apt's arm64
#        lists, which this adds)
#   deb, rpm: what the package builds need (make deb, make rpm): compiler,
#        libraries (ami/debian/control's Build-Depends) and the packager
set -eu

want=${1:-all}

lib_pkgs="gcc make pkg-config libc6-dev libcurl4-openssl-dev libjson-c-dev
libssl-dev libxml2-dev libsystemd-dev libguestfs-dev libsolv-dev libsolvext-dev
zlib1g-dev libkrb5-dev"
build_pkgs="$lib_pkgs clang libclang-rt-14-dev libcmocka-dev libvirt-dev"
# find-debuginfo (debugedit) needs eu-strip (elfutils).
deb_pkgs="$lib_pkgs git debhelper dpkg-dev"
rpm_pkgs="$lib_pkgs git rpm debugedit elfutils"

test_pkgs="python3 openssl curl ca-certificates procps iproute2 util-linux
e2fsprogs xz-utils zstd shellcheck jq file dpkg-dev rpm
qemu-system-x86 qemu-utils linux-image-amd64 libguestfs-tools
libvirt-daemon-system libvirt-clients mmdebstrap cloud-image-utils extlinux
packer awscli docker-registry skopeo ostree createrepo-c valgrind syslinux-common
apt-utils gpgv gnupg debian-archive-keyring systemd-journal-remote
debhelper debugedit elfutils lintian rpmlint devscripts man-db groff-base gnuplot-nox
ovmf grub-common grub-efi-amd64-bin dosfstools mtools prometheus krb5-kdc
krb5-admin-server qemu-system-arm qemu-efi-aarch64 qemu-user-static binfmt-support
arch-test"
arm64_pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
binfmt-support arch-test"

case $want in
build) pkgs=$build_pkgs ;;
deb) pkgs=$deb_pkgs ;;
rpm) pkgs=$rpm_pkgs ;;
arm64) pkgs=$arm64_pkgs ;;
all) pkgs="$build_pkgs $test_pkgs" ;;
*) echo "usage: ci/deps.sh [build|deb|rpm|arm64|all]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if ! command -v node >/dev/null 2>&1 && [ "$want" = all ]; then
	missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "ci/deps.sh: missing packages:$missing (run as root to install)" >&2
		exit 1
	fi
	echo "ci/deps.sh: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The arm64 sysroot (ci/arm64-sysroot.sh) and the aarch64 boot case's
# repository (test-vm/mkrepo.sh) resolve against apt's arm64 lists.
if [ "$want" = arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64
then
	if [ "$(id -u)" != 0 ]; then
		echo "ci/deps.sh: dpkg --add-architecture arm64 needs root" >&2
		exit 1
	fi
	dpkg --add-architecture arm64
	apt-get update -qq
fi
# arm64 images (ib-build's foreign tree: mmdebstrap runs the maintainer
# scripts through qemu-user) need qemu-aarch64 registered with binfmt_misc,
# which a container may not have mounted.
if [ "$want" = arm64 ] && [ "$(id -u)" = 0 ] &&
    [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
	[ -e /proc/sys/fs/binfmt_misc/register ] ||
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
		echo "ci/deps.sh: cannot mount binfmt_misc" >&2
	update-binfmts --enable qemu-aarch64 ||
		echo "ci/deps.sh: cannot register qemu-aarch64" >&2
fi
