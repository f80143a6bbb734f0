#!/bin/sh
# ib-build beside its floor, measured in one run on this machine: the same
# bootable Debian 12 qcow2 (the package set of
# worker/builder/tests/mkmanifest.py, pinned from this machine's apt
# mirror; the same dpkg path filters, initramfs settings, hostname, marker
# unit, fstab and kernel command line) made by
#   - ib-build: cold (empty store), warm (the same manifest again) and
#     changed (another hostname: resumes after the package install);
#   - the floor, mmdebstrap + disk: mmdebstrap from the mirror into a
#     directory, then a disk of ib-build's size made by hand (MBR, mke2fs
#     -d with its defaults, extlinux, qemu-img convert -c). It keeps
#     nothing between runs, so it is run cold and changed (warm is the
#     same work; BENCH_FLOOR_WARM=1 measures it too).
# Each image of a changed build is booted under TCG to the marker unit's
# line with its hostname (BENCH_BOOT=0: not booted, "boots" null).
# Prints a table; writes $B/bench/builders.json:
#   {"ib-build": {"cold_s","warm_s","changed_s","qcow2_bytes","boots",
#                 "cpu_cold_s","cpu_changed_s"}, "floor": {same},
#    "packages", "load"}
# (cpu_*: user+system seconds of a build, which the load of a shared
# machine does not inflate the way it does wall time).
# Needs root, mmdebstrap, qemu, extlinux and the mirror. Usage:
#   ci/bench-builders.sh        (B=build dir, default build)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) babs=$B ;; *) babs="$top/$B" ;; esac
ib="$babs/ib-build"
[ -x "$ib" ] || { echo "bench-builders: $ib is not built (make)" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "bench-builders: needs root" >&2; exit 77; }
for t in mmdebstrap qemu-system-x86_64 qemu-img extlinux sfdisk mke2fs; do
	command -v "$t" >/dev/null 2>&1 ||
	    { echo "bench-builders: $t is not installed" >&2; exit 77; }
done
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -r "$mbr" ] || { echo "bench-builders: $mbr is missing" >&2; exit 77; }
export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"
boot_check=${BENCH_BOOT:-1}
mkdir -p "$babs/bench"
json="$babs/bench/builders.json"

tmp=$(mktemp -d "$babs/bench-builders.XXXXXX")
qpid=""
cleanup() {
	[ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$top/worker/builder/tests/mkmanifest.py" --formats qcow2 \
    --hostname bench-1 >"$tmp/req.json"
for h in 1 2; do
	sed "s/\"bench-1\"/\"bench-$h\"/" "$tmp/req.json" |
	    IB_BUILD="$ib" "$top/worker/builder/manifest-gen" >"$tmp/m$h.json"
done
npkg=$(grep -c '"checksum"' "$tmp/req.json")

# cputime CMD...: runs CMD; "WALL CPU" seconds in $tmp/time.
cputime() {
	/usr/bin/time -f '%e %U %S' -o "$tmp/time.raw" "$@"
	awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' "$tmp/time.raw" >"$tmp/time"
}

# boots IMAGE HOSTNAME: 0 when the image boots under TCG to the marker.
boots() {
	serial="$1.serial"
	rm -f "$serial"
	qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -display none \
	    -no-reboot -monitor none -serial "file:$serial" \
	    -drive "file=$1,if=virtio,format=qcow2,snapshot=on" \
	    >/dev/null 2>&1 &
	qpid=$!
	i=0
	rc=1
	while [ "$i" -lt 80 ] && kill -0 "$qpid" 2>/dev/null; do
		if grep -q "IB-BOOT-MARKER $2" "$serial" 2>/dev/null; then
			rc=0
			break
		fi
		sleep 3
		i=$((i + 1))
	done
	kill "$qpid" 2>/dev/null || true
	wait "$qpid" 2>/dev/null || true
	qpid=""
	return "$rc"
}

# ib NAME MANIFEST: one ib-build of the qcow2 export.
ib() {
	cputime "$ib" --store "$tmp/store" --output-directory "$tmp/ib-$1" \
	    --export qcow2 --json --monitor=JSONSeqMonitor --monitor-fd=3 \
	    - <"$2" >"$tmp/ib-$1.json" 2>"$tmp/ib-$1.log" \
	    3>"$tmp/ib-$1.mon" || {
		tail -n 20 "$tmp/ib-$1.log" >&2
		echo "bench-builders: ib-build $1 failed" >&2
		exit 1
	}
	read -r wall cpu <"$tmp/time"
	eval "ib_$1=\$wall ib_cpu_$1=\$cpu"
}

# The floor's steps, one file: floor.sh REQ ROOT RAW NAMES HOST SIZE MBR
# OPTS SETUP CUSTOM (SETUP, CUSTOM: files synced into the tree before the
# install and after it).
cat >"$tmp/floor.sh" <<'EOF'
set -eu
req=$1 root=$2 raw=$3 names=$4 host=$5 size=$6 mbr=$7 opts=$8
setup=$9
shift 9
custom=$1
uuid=6e1f2ff1-34c8-4b6b-9d0e-1b1d2c3e4f50
echo "$host" >"$custom/etc/hostname"
printf 'UUID=%s\t/\text4\tdefaults\t0\t1\n' "$uuid" >"$custom/etc/fstab"
# shellcheck disable=SC2046  # one dpkg option a line
mmdebstrap --quiet --mode=root --variant=custom --include="$names" \
    --aptopt='Acquire::Languages "none"' \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt=force-unsafe-io $(cat "$opts") \
    --setup-hook="sync-in $setup /" \
    --customize-hook="sync-in $custom /" \
    --customize-hook='systemctl --root="$1" enable ib-boot-marker.service' \
    bookworm "$root" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
kver=$(find "$root/boot" -name 'vmlinuz-*' -printf '%f\n' |
    sed 's/^vmlinuz-//' | sort -V | tail -n 1)
mkdir -p "$root/boot/extlinux"
printf 'DEFAULT linux\nTIMEOUT 1\nPROMPT 0\nLABEL linux\n  LINUX /boot/vmlinuz-%s\n  INITRD /boot/initrd.img-%s\n  APPEND root=UUID=%s ro console=ttyS0,115200n8\n' \
    "$kver" "$kver" "$uuid" >"$root/boot/extlinux/extlinux.conf"
truncate -s "$size" "$raw"
echo '2048,,L,*' | sfdisk -q --label dos "$raw" >/dev/null
mke2fs -q -t ext4 -F -b 4096 -U "$uuid" -L root -E offset=1048576 \
    -d "$root" "$raw" "$(( (size - 1048576) / 1024 ))k"
# shellcheck disable=SC2016  # expanded by the inner shell
unshare --mount sh -eu -c '
    mkdir -p "$1.mnt"
    mount -o loop,offset=1048576 "$1" "$1.mnt"
    extlinux --install "$1.mnt/boot/extlinux" >/dev/null 2>&1
    umount "$1.mnt"' sh "$raw"
dd if="$mbr" of="$raw" bs=440 count=1 conv=notrunc status=none
qemu-img convert -c -f raw -O qcow2 -o compat=1.1 "$raw" "${raw%.raw}.qcow2"
EOF

# The floor's files: the same setup files, marker unit and dpkg filters.
/usr/bin/python3 - "$tmp/req.json" "$tmp/setup" "$tmp/custom" \
    "$tmp/dpkgopts" "$tmp/names" <<'EOF'
import json, os, sys
req = json.load(open(sys.argv[1]))
def put(root, path, data):
    os.makedirs(os.path.dirname(root + path), exist_ok=True)
    with open(root + path, "w") as f:
        f.write(data)
for f in req["setup_files"]:
    put(sys.argv[2], f["path"], f["content"])
for f in req["customizations"]["files"]:
    put(sys.argv[3], f["path"], f["data"])
os.makedirs(sys.argv[3] + "/etc", exist_ok=True)
with open(sys.argv[4], "w") as f:
    f.write("".join("--dpkgopt=%s\n" % o for o in req["dpkg_opts"]))
with open(sys.argv[5], "w") as f:
    f.write(",".join(p["name"] for p in
                     req["depsolve"]["package_specs"]["os"]))
EOF

# floor NAME HOSTNAME: mmdebstrap + disk, from nothing.
floor() {
	mkdir -p "$tmp/floor-$1"
	cputime sh "$tmp/floor.sh" "$tmp/req.json" "$tmp/floor-$1/root" \
	    "$tmp/floor-$1/disk.raw" "$(cat "$tmp/names")" "$2" "$size" \
	    "$mbr" "$tmp/dpkgopts" "$tmp/setup" "$tmp/custom" \
	    >"$tmp/floor-$1.log" 2>&1 || {
		tail -n 20 "$tmp/floor-$1.log" >&2
		echo "bench-builders: floor $1 failed" >&2
		exit 1
	}
	# shellcheck disable=SC2034  # read by the eval below
	read -r wall cpu <"$tmp/time"
	eval "fl_$1=\$wall fl_cpu_$1=\$cpu"
	rm -rf "$tmp/floor-$1/root"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "builders bench: $npkg packages, qcow2, load $load0"
ib cold "$tmp/m1.json"
ib warm "$tmp/m1.json"
ib changed "$tmp/m2.json"
ib_qcow2="$tmp/ib-changed/qcow2/disk.qcow2"
ib_bytes=$(stat -c %s "$ib_qcow2")
size=$(find "$tmp/store/objects" -path '*/tree/disk.raw' -printf '%s\n' |
    head -n 1)
floor cold bench-1
rm -rf "$tmp/floor-cold"
floor changed bench-2
fl_warm=null
if [ "${BENCH_FLOOR_WARM:-0}" = 1 ]; then
	floor warm bench-2
	rm -rf "$tmp/floor-warm"
fi
fl_qcow2="$tmp/floor-changed/disk.qcow2"
fl_bytes=$(stat -c %s "$fl_qcow2")
ib_boots=null fl_boots=null
if [ "$boot_check" = 1 ]; then
	ib_boots=false fl_boots=false
	! boots "$ib_qcow2" bench-2 || ib_boots=true
	! boots "$fl_qcow2" bench-2 || fl_boots=true
fi
# shellcheck disable=SC2154  # set by eval in ib and floor
{
	f='%-9s %8s %8s %9s %12s %6s %10s %13s\n'
	# shellcheck disable=SC2059  # the one format, kept in f
	printf "$f" "" cold_s warm_s changed_s qcow2_bytes boots cpu_cold_s \
	    cpu_changed_s
	# shellcheck disable=SC2059
	printf "$f" ib-build "$ib_cold" "$ib_warm" "$ib_changed" "$ib_bytes" \
	    "$ib_boots" "$ib_cpu_cold" "$ib_cpu_changed"
	# shellcheck disable=SC2059
	printf "$f" floor "$fl_cold" "$fl_warm" "$fl_changed" "$fl_bytes" \
	    "$fl_boots" "$fl_cpu_cold" "$fl_cpu_changed"
	echo "$ib_cold $fl_cold $ib_changed $ib_bytes $fl_bytes" | awk '{
	    printf "cold %.2fx the floor, changed %.2f s (goal <= 3), " \
	        "qcow2 %.2fx the floor'"'"'s\n", $1 / $2, $3, $4 / $5 }'
}
# Where the changed build's time went: each stage that ran.
/usr/bin/python3 - "$tmp/ib-changed.mon" <<'EOF'
import json, sys
recs = [json.loads(r) for r in open(sys.argv[1], "rb").read().split(b"\x1e")
        if r.strip()]
print("changed: " + ", ".join(
    "%s %.2f s" % (r["result"]["name"].split(".")[-1], r["duration"])
    for r in recs if "duration" in r and r.get("result")) +
    ", whole %.2f s" % (recs[-1]["timestamp"] - recs[0]["timestamp"]))
EOF
cat >"$json" <<EOF
{"ib-build": {"cold_s": $ib_cold, "warm_s": $ib_warm, "changed_s": $ib_changed, "qcow2_bytes": $ib_bytes, "boots": $ib_boots, "cpu_cold_s": $ib_cpu_cold, "cpu_changed_s": $ib_cpu_changed},
 "floor": {"cold_s": $fl_cold, "warm_s": $fl_warm, "changed_s": $fl_changed, "qcow2_bytes": $fl_bytes, "boots": $fl_boots, "cpu_cold_s": $fl_cpu_cold, "cpu_changed_s": $fl_cpu_changed},
 "packages": $npkg, "load": "$load0 -> $(cut -d' ' -f1-3 /proc/loadavg)"}
EOF
echo "wrote $json"
