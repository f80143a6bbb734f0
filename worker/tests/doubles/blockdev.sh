# test double: blkid, mkfs.ext4, mount, mountpoint and nvme for the
# first-boot tests, which cannot format or mount a real EBS volume here.
# Run as `sh blockdev.sh TOOL ARGS...` (t_firstboot writes one-line wrappers
# named after each tool). State lives in $IB_TEST_BLOCKDEV_STATE: a file per
# formatted device (its UUID), "mounted" once a mount succeeded, and every
# call appended to "calls". $IB_TEST_EBS_NAMES maps NVMe disks to EBS names,
# e.g. "nvme0n1=xvda nvme1n1=/dev/sdf".
set -eu

state=${IB_TEST_BLOCKDEV_STATE:?}
tool=$1
shift
printf '%s %s\n' "$tool" "$*" >>"$state/calls"

# fs_file DEV: where the double remembers DEV's file system.
fs_file() {
	printf '%s/fs.%s' "$state" "$(printf '%s' "$1" | tr '/' '_')"
}

last() {
	for a in "$@"; do
		l=$a
	done
	printf '%s' "$l"
}

case $tool in
blkid)
	# blkid [-p] [-s TAG -o value] DEV. A device listed in
	# $IB_TEST_PARTITIONED holds a partition table (a root disk).
	dev=$(last "$@")
	tag=""
	prev=""
	for a in "$@"; do
		[ "$prev" != -s ] || tag=$a
		prev=$a
	done
	[ -b "$dev" ] || exit 4
	case " ${IB_TEST_PARTITIONED:-} " in
	*" $dev "*)
		case $tag in
		"") printf '%s: PTTYPE="dos"\n' "$dev" ;;
		PTTYPE) echo dos ;;
		*) exit 2 ;;
		esac
		exit 0 ;;
	esac
	[ -f "$(fs_file "$dev")" ] || exit 2
	case $tag in
	"") printf '%s: TYPE="ext4"\n' "$dev" ;;
	TYPE) echo ext4 ;;
	UUID) cat "$(fs_file "$dev")" ;;
	*) exit 2 ;;
	esac ;;
mkfs.ext4)
	dev=$(last "$@")
	[ -b "$dev" ] || exit 1
	printf '0b5c7e2a-4d1f-4c3e-9a6b-%012d\n' "$$" >"$(fs_file "$dev")" ;;
mount)
	# mount -t ext4 -o OPTS DEV DIR: DEV is the one before the last.
	dev=""
	prev=""
	for a in "$@"; do
		dev=$prev
		prev=$a
	done
	[ -b "$dev" ] && [ -f "$(fs_file "$dev")" ] || exit 32
	: >"$state/mounted" ;;
mountpoint)
	[ -f "$state/mounted" ] ;;
nvme)
	# nvme id-ctrl --raw-binary DEV: 4096 bytes, the EBS name at 3072.
	dev=$(basename "$(last "$@")")
	name=""
	for m in ${IB_TEST_EBS_NAMES:-}; do
		[ "${m%%=*}" != "$dev" ] || name=${m#*=}
	done
	head -c 3072 /dev/zero
	printf '%-32s' "$name"
	head -c 992 /dev/zero ;;
*)
	echo "blockdev double: unknown tool $tool" >&2
	exit 2 ;;
esac
