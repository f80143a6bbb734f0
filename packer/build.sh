#!/bin/sh
# Builds the worker image (called by `make ami`; env PLATFORM, B).
#   PLATFORM=aws (default): the AMI, with Packer (packer/worker.pkr.hcl),
#     when AWS credentials are in the environment. CHANNEL (dev, the
#     default, stage or prod) is tagged on it as Channel, with
#     Project=ib-worker: what the fleet module's ami_filter looks for.
#   PLATFORM=local: $B/images/worker.qcow2 offline, without Packer's qemu
#     builder (which boots an installer and waits for ssh, slow under TCG):
#     mmdebstrap makes a Debian 12 root file system with the ib-worker .deb
#     (make deb) and its runtime dependencies, ami/provision.sh runs in it,
#     and guestfish (libguestfs, TCG) partitions a disk, copies the tree in
#     and installs extlinux (x86_64: MBR, BIOS) or GRUB's EFI build
#     (aarch64: GPT, an ESP with BOOTAA64.EFI made by the host's
#     grub-mkimage from the image's grub-efi-arm64-bin modules, UEFI only).
#     No loop device or host mount is used. aarch64 is a foreign tree:
#     mmdebstrap runs its maintainer scripts through qemu-user (binfmt_misc,
#     ci/deps.sh arm64); the image goes to build-arm64/images/ (make ami
#     ARCH=aarch64 PLATFORM=local sets B).
# Env: ARCH x86_64 (default) or aarch64 (the AMI's architecture, Debian's
# arm64 source AMI, a Graviton build instance, the arm64 .deb).
# Env for local: IB_MIRROR (Debian mirror), IB_IMAGE_SIZE (virtual size,
# default: what the tree needs plus room, at most 1536M).
# shellcheck disable=SC2016  # mmdebstrap hooks expand $1 themselves
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
B=${B:-build}
case $B in /*) babs=$B ;; *) babs="$top/$B" ;; esac
platform=${PLATFORM:-aws}
[ -n "$platform" ] || platform=aws
# ARCH: the worker's architecture, x86_64 (default) or aarch64 (Graviton);
# dpkg's and EC2's names are accepted too.
case ${ARCH:-x86_64} in
x86_64 | amd64 | "") ec2_arch=x86_64 deb_arch=amd64 ;;
aarch64 | arm64) ec2_arch=arm64 deb_arch=arm64 ;;
*) printf 'build.sh: ARCH must be x86_64 or aarch64, not %s\n' "$ARCH" >&2
   exit 1 ;;
esac

log() {
	printf 'build.sh: %s\n' "$*" >&2
}

die() {
	log "$*"
	exit 1
}

# The newest package of the given kind, built now if there is none for the
# current commit.
package() {
	kind=$1
	hash=$(git rev-parse --short=8 HEAD 2>/dev/null || echo local)
	case $kind in
	deb) pat="ib-worker_*g${hash}_${deb_arch}.deb" ;;
	rpm) pat="ib-worker-*g${hash}.*.rpm" ;;
	esac
	pkg=$(find "$babs/pkg" -maxdepth 1 -name "$pat" 2>/dev/null | sort |
	    tail -n 1)
	if [ -z "$pkg" ]; then
		log "building the $kind package"
		pkg=$(B="$B" ./ci/package.sh "$kind" | tail -n 1)
	fi
	[ -f "$pkg" ] || die "no $kind package"
	echo "$pkg"
}

build_aws() {
	channel=${CHANNEL:-dev}
	case $channel in
	dev | stage | prod) ;;
	*) die "CHANNEL must be dev, stage or prod (the AMI's Channel tag)" ;;
	esac
	missing=""
	if [ -z "${AWS_PROFILE:-}" ]; then
		[ -n "${AWS_ACCESS_KEY_ID:-}" ] ||
			missing="$missing AWS_ACCESS_KEY_ID"
		[ -n "${AWS_SECRET_ACCESS_KEY:-}" ] ||
			missing="$missing AWS_SECRET_ACCESS_KEY"
	fi
	if [ -n "$missing" ]; then
		log "PLATFORM=aws needs AWS credentials in the environment:"
		log "  set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and"
		log "  AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE;"
		log "  missing:$missing. AWS_REGION picks the region."
		log "  For an image without AWS: make ami PLATFORM=local"
		exit 1
	fi
	command -v packer >/dev/null || die "packer is not installed (make deps)"
	command -v aws >/dev/null ||
		die "the aws CLI is not installed (needed to require IMDSv2)"
	deb=$(package deb)
	dir="$babs/pkg-ami"
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$deb" "$dir/"
	commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
	start=$(date +%s)
	packer build -only=amazon-ebs.worker \
	    -var "git_commit=$commit" -var "package_dir=$dir" \
	    -var "channel=$channel" -var "arch=$ec2_arch" \
	    -var "aws_region=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}" \
	    packer/worker.pkr.hcl
	log "AMI built in $(($(date +%s) - start)) s; see build/packer-manifest.json"
}

build_local() {
	for tool in mmdebstrap guestfish qemu-img; do
		command -v "$tool" >/dev/null ||
			die "$tool is not installed (make deps)"
	done
	mbr=/usr/lib/syslinux/mbr/mbr.bin
	case $deb_arch in
	amd64)
		[ -f "$mbr" ] ||
			die "$mbr is missing (apt-get install syslinux-common)"
		;;
	arm64)
		command -v grub-mkimage >/dev/null ||
			die "grub-mkimage is not installed (apt-get install grub-common)"
		[ "$(dpkg --print-architecture)" = arm64 ] ||
		    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] ||
			die "arm64 trees need qemu-aarch64 in binfmt_misc" \
			    "(ci/deps.sh arm64)"
		;;
	esac
	export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg

	start=$(date +%s)
	deb=$(package deb)
	mkdir -p "$babs/images"
	work=$(mktemp -d "$babs/images/.work.XXXXXX")
	# shellcheck disable=SC2064  # expand now: work is fixed
	trap "rm -rf '$work'" EXIT
	# Our own copy: a parallel `make deb` may replace the one in $B/pkg.
	cp "$deb" "$work/"
	deb="$work/$(basename "$deb")"
	mirror=${IB_MIRROR:-http://deb.debian.org/debian}
	# The package's own Depends (shared libraries included) go in with the
	# root file system, so provisioning never needs the network.
	debdeps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' |
	    sed 's/|.*//; s/(.*//; s/[[:space:]]//g' | grep -v '^$' |
	    paste -sd, -)

	# What a worker needs at run time beyond the package's own Depends,
	# plus what makes the disk boot and reachable.
	pkgs="systemd,systemd-sysv,udev,dbus,linux-image-$deb_arch,initramfs-tools"
	pkgs="$pkgs,cloud-init,cloud-guest-utils,openssh-server,ca-certificates"
	pkgs="$pkgs,libcurl4,libjson-c5,libguestfs0,qemu-utils,curl,jq,kmod,nvme-cli"
	pkgs="$pkgs,iproute2,netbase,e2fsprogs,procps,systemd-resolved"
	[ -z "$debdeps" ] || pkgs="$pkgs,$debdeps"
	# arm64: GRUB's arm64-efi modules, which grub-mkimage makes the ESP's
	# loader of (copied out of the tree by a hook, as ib-build does).
	grub_hook=true
	if [ "$deb_arch" = arm64 ]; then
		pkgs="$pkgs,grub-efi-arm64-bin"
		grub_hook="cp -r \"\$1/usr/lib/grub/arm64-efi\" '$work/grub-mods'"
	fi

	log "making the root file system (mmdebstrap, $mirror)"
	t0=$(date +%s)
	mmdebstrap --variant=minbase --architectures="$deb_arch" \
	    --include="$pkgs" \
	    --aptopt='APT::Install-Recommends "false"' \
	    --dpkgopt='path-exclude=/usr/share/man/*' \
	    --dpkgopt='path-exclude=/usr/share/locale/*' \
	    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
	    --dpkgopt='path-exclude=/usr/share/doc/*' \
	    --dpkgopt='path-include=/usr/share/doc/ib-worker/*' \
	    --dpkgopt='path-exclude=/usr/share/info/*' \
	    --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/gpu/*' \
	    --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/media/*' \
	    --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/net/wireless/*' \
	    --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/infiniband/*' \
	    --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/staging/*' \
	    --dpkgopt='path-exclude=/lib/modules/*/kernel/sound/*' \
	    --dpkgopt='path-exclude=/lib/firmware/*' \
	    --setup-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"' \
	    --setup-hook="cp '$top/packer/local/initramfs.conf' \"\$1/etc/initramfs-tools/conf.d/ib-worker\"" \
	    --setup-hook="install -m 0755 '$top/packer/local/initramfs-hook' \"\$1/etc/initramfs-tools/hooks/ib-worker\"" \
	    --customize-hook="mkdir -p \"\$1/tmp/ib-ami\" && cp -r '$top/ami/.' \"\$1/tmp/ib-ami/\"" \
	    --customize-hook="cp '$deb' \"\$1/tmp/ib-ami/\"" \
	    --customize-hook='chroot "$1" sh /tmp/ib-ami/provision.sh /tmp/ib-ami' \
	    --customize-hook="sh '$top/packer/local/customize.sh' \"\$1\" $deb_arch" \
	    --customize-hook="$grub_hook" \
	    --customize-hook='rm -rf "$1/tmp/ib-ami"' \
	    bookworm "$work/rootfs.tar" "$mirror" >"$work/mmdebstrap.log" 2>&1 || {
		tail -n 40 "$work/mmdebstrap.log" >&2
		die "mmdebstrap failed"
	}
	t1=$(date +%s)
	log "root file system: $(du -m "$work/rootfs.tar" | cut -f1) MiB tar in $((t1 - t0)) s"

	# The disk: the tree plus a quarter and 256 MiB for logs and the first
	# builds' cache, at most 1.5 GiB (grow the qcow2 for real work:
	# cloud-init's growpart extends the root at boot).
	tree_mb=$(du -m "$work/rootfs.tar" | cut -f1)
	size_mb=$((tree_mb + tree_mb / 4 + 256))
	[ "$size_mb" -le 1536 ] || size_mb=1536
	size=${IB_IMAGE_SIZE:-${size_mb}M}
	kver=$(tar -tf "$work/rootfs.tar" | sed -n 's|^\./boot/vmlinuz-||p' |
	    sort -V | tail -n 1)
	[ -n "$kver" ] || die "no kernel in the root file system"

	log "making the disk ($size, guestfish with TCG)"
	if [ "$deb_arch" = arm64 ]; then
		disk_uefi "$size" "$kver"
	else
		disk_bios "$size" "$kver"
	fi
	t2=$(date +%s)
	log "disk made in $((t2 - t1)) s"

	out="$babs/images/worker.qcow2"
	qemu-img convert -c -O qcow2 "$work/disk.raw" "$out.tmp"
	mv -f "$out.tmp" "$out"
	end=$(date +%s)
	log "$out: $(qemu-img info --output=json "$out" |
	    jq -r '"\(.["virtual-size"] / 1048576 | floor) MiB virtual, \(.["actual-size"] / 1048576 | floor) MiB on disk"')"
	log "local $ec2_arch image built in $((end - start)) s (rootfs $((t1 - t0)) s, disk $((t2 - t1)) s, qcow2 $((end - t2)) s)"
}

# disk_bios SIZE KVER: $work/disk.raw, MBR, extlinux, the root file system.
disk_bios() {
	size=$1 kver=$2
	cat >"$work/extlinux.conf" <<-EOF
	DEFAULT worker
	TIMEOUT 10
	PROMPT 0
	LABEL worker
	  LINUX /boot/vmlinuz-$kver
	  INITRD /boot/initrd.img-$kver
	  APPEND root=LABEL=ib-root ro console=tty0 console=ttyS0,115200n8
	EOF
	guestfish -N "$work/disk.raw=disk:$size" -- <<-EOF >"$work/guestfish.log" 2>&1 || {
	part-init /dev/sda mbr
	part-add /dev/sda p 2048 -1
	part-set-bootable /dev/sda 1 true
	mkfs ext4 /dev/sda1 label:ib-root
	mount /dev/sda1 /
	tar-in $work/rootfs.tar / xattrs:true acls:true
	ln-sf /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
	mkdir-p /boot/extlinux
	upload $work/extlinux.conf /boot/extlinux/extlinux.conf
	extlinux /boot/extlinux
	upload $mbr /boot/extlinux/mbr.bin
	copy-file-to-device /boot/extlinux/mbr.bin /dev/sda size:440
	rm /boot/extlinux/mbr.bin
	umount-all
	EOF
		cat "$work/guestfish.log" >&2
		die "guestfish failed"
	}
}

# disk_uefi SIZE KVER: $work/disk.raw, GPT with a 64 MiB ESP holding
# GRUB (EFI/BOOT/BOOTAA64.EFI, the removable-media path AAVMF and EC2's
# UEFI boot without NVRAM entries) and its grub.cfg, and the root file
# system (the arm64 root partition type).
disk_uefi() {
	size=$1 kver=$2
	mkdir -p "$work/esp"
	grub-mkimage -d "$work/grub-mods" -O arm64-efi -p /EFI/BOOT \
	    -o "$work/esp/BOOTAA64.EFI" part_gpt fat ext2 normal linux \
	    search search_label configfile echo test gzio \
	    >"$work/grub.log" 2>&1 || {
		cat "$work/grub.log" >&2
		die "grub-mkimage failed"
	}
	cat >"$work/esp/grub.cfg" <<-EOF
	set timeout=1
	search --no-floppy --set=root --label ib-root
	menuentry worker {
	  linux /boot/vmlinuz-$kver root=LABEL=ib-root ro console=tty0 console=ttyAMA0,115200n8
	  initrd /boot/initrd.img-$kver
	}
	EOF
	guestfish -N "$work/disk.raw=disk:$size" -- <<-EOF >"$work/guestfish.log" 2>&1 || {
	part-init /dev/sda gpt
	part-add /dev/sda p 2048 133119
	part-add /dev/sda p 133120 -34
	part-set-gpt-type /dev/sda 1 C12A7328-F81F-11D2-BA4B-00A0C93EC93B
	part-set-gpt-type /dev/sda 2 B921B045-1DF0-41C3-AF44-4C6F280D3FAE
	mkfs vfat /dev/sda1 label:ESP
	mkfs ext4 /dev/sda2 label:ib-root
	mount /dev/sda2 /
	tar-in $work/rootfs.tar / xattrs:true acls:true
	ln-sf /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
	mkdir-p /boot/efi
	mount /dev/sda1 /boot/efi
	mkdir-p /boot/efi/EFI/BOOT
	upload $work/esp/BOOTAA64.EFI /boot/efi/EFI/BOOT/BOOTAA64.EFI
	upload $work/esp/grub.cfg /boot/efi/EFI/BOOT/grub.cfg
	umount-all
	EOF
		cat "$work/guestfish.log" >&2
		die "guestfish failed"
	}
}

case $platform in
aws) build_aws ;;
local) build_local ;;
*) die "PLATFORM must be aws or local, not $platform" ;;
esac
