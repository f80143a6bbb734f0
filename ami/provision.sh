#!/bin/sh
# Turns a Debian 12 or Fedora/RHEL system into a worker image: installs the
# ib-worker package (with its dependencies from the distribution), enables
# the first-boot setup and the periodic machine check, creates the cache,
# and leaves nothing instance-specific behind. Run as root on the image
# being built: by Packer over ssh, or in a chroot by packer/build.sh local.
# Usage: provision.sh PKGDIR    (a folder with ib-worker_*.deb or *.rpm)
#        provision.sh --installed   (the package is already in place)
set -eu

arg=${1:?usage: provision.sh PKGDIR | --installed}
export DEBIAN_FRONTEND=noninteractive

newest() {
	find "$1" -maxdepth 1 -type f -name "$2" | sort | tail -n 1
}

if [ "$arg" != --installed ]; then
	deb=$(newest "$arg" 'ib-worker_*.deb')
	rpm=$(newest "$arg" 'ib-worker-*.rpm')
	if [ -n "$deb" ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "$deb"
	elif [ -n "$rpm" ] && command -v dnf >/dev/null; then
		dnf install -y "$rpm"
	else
		echo "provision.sh: no package in $arg for this system" >&2
		exit 1
	fi
fi
command -v ib-worker >/dev/null || {
	echo "provision.sh: ib-worker is not installed" >&2
	exit 1
}

# The worker itself is enabled by the first boot, once it knows its composer.
# The agent runs only in a build VM (the ib.role credential; its unit says).
systemctl enable ib-worker-firstboot.service ib-vmcheck.timer ib-agent.service
install -d -m 0700 /var/cache/osbuild-worker /etc/osbuild-worker
install -d -m 0700 /var/lib/ib-worker
rm -f /var/lib/ib-worker/firstboot.done

# Nothing of this build machine goes into the image.
if command -v apt-get >/dev/null; then
	apt-get clean
	rm -rf /var/lib/apt/lists/*
fi
if command -v cloud-init >/dev/null; then
	cloud-init clean --logs >/dev/null 2>&1 || true
fi
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
echo "provision.sh: worker image provisioned"
