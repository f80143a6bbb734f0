#!/bin/sh
# Install every package the build, the tests and the main job need, on Debian 12.
# Idempotent: installs only what is missing, so `make` can call it every time.
# Usage: ci/deps.sh [build|all]   (build: compiler and libraries only)
set -eu

want=${1:-all}

build_pkgs="gcc make pkg-config libc6-dev clang libclang-rt-14-dev
libcurl4-openssl-dev libjson-c-dev libssl-dev libxml2-dev libcmocka-dev libsystemd-dev
libguestfs-dev libvirt-dev libsolv-dev libsolvext-dev zlib1g-dev"

test_pkgs="python3 openssl curl ca-certificates procps iproute2 util-linux
e2fsprogs xz-utils zstd shellcheck jq file dpkg-dev rpm
qemu-system-x86 qemu-utils linux-image-amd64 libguestfs-tools
libvirt-daemon-system libvirt-clients mmdebstrap cloud-image-utils extlinux
packer awscli docker-registry skopeo ostree createrepo-c valgrind syslinux-common
apt-utils gpgv gnupg debian-archive-keyring systemd-journal-remote gnuplot-nox"

pkgs=$build_pkgs
[ "$want" = build ] || pkgs="$pkgs $test_pkgs"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if ! command -v node >/dev/null 2>&1 && [ "$want" != build ]; then
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
