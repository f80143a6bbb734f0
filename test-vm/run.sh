#!/bin/sh
# The end-to-end tests in local libvirt VMs (`make check-vm`): builds the
# harness (test-vm/*.c, on the libvirt API) into $B/test-vm/, makes sure the
# local worker image $B/images/worker.qcow2 is newer than what goes into it
# (else `packer/build.sh` with PLATFORM=local rebuilds it), that the
# composes' Debian repository is there (test-vm/mkrepo.sh) and that s3rver
# is installed, then runs the harness. Arguments are test names (default:
# all) and -k (keep the work directory: overlays, consoles, logs).
# Env: B (build directory), IB_VMTEST_TIMEOUT (s, default 2400),
# IB_VMTEST_REBUILD=no (use the image as it is, even when stale).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
B=${B:-build}
case $B in /*) babs=$B ;; *) babs="$top/$B" ;; esac

log() {
	printf 'test-vm: %s\n' "$*" >&2
}

for tool in virsh libvirtd virtlogd qemu-system-x86_64 qemu-img node cc \
    pkg-config; do
	if ! command -v "$tool" >/dev/null; then
		log "$tool is not installed (make deps)"
		exit 1
	fi
done

# The harness.
mkdir -p "$babs/test-vm"
# shellcheck disable=SC2046  # pkg-config prints several words on purpose
cc -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
    -D_GNU_SOURCE -O2 -g -Iworker -Iworker/lib \
    $(pkg-config --cflags libvirt json-c libguestfs) \
    -o "$babs/test-vm/ib-vmtest" test-vm/*.c worker/lib/util.c worker/lib/log.c \
    $(pkg-config --libs libvirt json-c libguestfs) -lpthread

# The worker image, rebuilt when something that goes into it is newer.
img="$babs/images/worker.qcow2"
stale=""
if [ ! -f "$img" ]; then
	stale="it does not exist"
elif [ "${IB_VMTEST_REBUILD:-yes}" != no ]; then
	newer=$(find ami packer/build.sh packer/local "$babs/ib-worker" \
	    "$babs/ib-vmcheck" "$babs/ib-build" "$babs/ib-depsolve" \
	    -path ami/tests -prune -o -type f \
	    -newer "$img" -print 2>/dev/null | head -n 1)
	[ -z "$newer" ] || stale="$newer is newer"
fi
if [ -n "$stale" ]; then
	log "building $img ($stale)"
	B="$B" PLATFORM=local ./packer/build.sh
fi

# The Debian repository the composes install from (downloaded once into
# $B/test-vm/repo, through this machine's apt).
# The aarch64 case (named only) also needs the arm64 packages, and the
# emulator and firmware of that architecture.
# The aarch64-worker case (named only) boots the arm64 worker image,
# build-arm64/images/worker.qcow2, built here as the x86_64 one above
# (make ami ARCH=aarch64 PLATFORM=local) when it is missing or stale.
arm64=0 armworker=0
for a in "$@"; do
	[ "$a" != aarch64 ] || arm64=1
	[ "$a" != aarch64-worker ] || armworker=1
done
if [ "$arm64" = 1 ] || [ "$armworker" = 1 ]; then
	for f in /usr/bin/qemu-system-aarch64 /usr/share/AAVMF/AAVMF_CODE.fd \
	    /proc/sys/fs/binfmt_misc/qemu-aarch64; do
		[ -e "$f" ] || {
			log "$f is missing (ci/deps.sh all, ci/deps.sh arm64)"
			exit 1
		}
	done
fi
if [ "$armworker" = 1 ]; then
	armimg="$top/build-arm64/images/worker.qcow2"
	stale=""
	if [ ! -f "$armimg" ]; then
		stale="it does not exist"
	elif [ "${IB_VMTEST_REBUILD:-yes}" != no ]; then
		newer=$(find ami packer/build.sh packer/local worker \
		    -path ami/tests -prune -o -path '*/tests' -prune -o \
		    -type f -newer "$armimg" -print 2>/dev/null | head -n 1)
		[ -z "$newer" ] || stale="$newer is newer"
	fi
	if [ -n "$stale" ]; then
		log "building $armimg ($stale)"
		./ci/arm64-sysroot.sh "$top/build-arm64/sysroot" >&2
		B="$top/build-arm64" ARCH=aarch64 PLATFORM=local ./packer/build.sh
	fi
fi
log "the Debian repository for the composes"
IB_MKREPO_ARM64=$arm64 ./test-vm/mkrepo.sh "$babs/test-vm/repo" >&2

# s3rver, from the lock file the worker's tests use.
if [ ! -f worker/tests/node/node_modules/s3rver/bin/s3rver.js ]; then
	log "installing s3rver (npm ci in worker/tests/node)"
	(cd worker/tests/node && npm ci --no-audit --no-fund >/dev/null)
fi

# The harness stops its VMs and servers itself on SIGTERM; the timeout is
# the suite's budget, the KILL only a backstop.
rc=0
IB_TOP="$top" B="$babs" timeout -k 120 "${IB_VMTEST_TIMEOUT:-2400}" \
    "$babs/test-vm/ib-vmtest" "$@" || rc=$?
exit "$rc"
