#!/bin/sh
# ib-build figures: a small bootable Debian 12 qcow2 (the package set of
# worker/builder/tests/mkmanifest.py, pinned from this machine's apt
# mirror) built from an empty store (cold), then the same manifest again
# (warm: goal at least 10x faster), then with a changed hostname (partial:
# resumes after the package install). Prints seconds and bytes downloaded.
# Needs root, mmdebstrap, libguestfs and the mirror. Usage:
#   ci/bench-builder.sh        (B=build dir, default build)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) babs=$B ;; *) babs="$top/$B" ;; esac
ib="$babs/ib-build"
[ -x "$ib" ] || { echo "bench-builder: $ib is not built (make)" >&2; exit 77; }
export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"

tmp=$(mktemp -d "$babs/bench-builder.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

"$top/worker/builder/tests/mkmanifest.py" --formats qcow2 \
    --hostname bench-1 >"$tmp/req.json"
IB_BUILD="$ib" "$top/worker/builder/manifest-gen" <"$tmp/req.json" \
    >"$tmp/m1.json"
sed 's/"bench-1"/"bench-2"/' "$tmp/req.json" |
    IB_BUILD="$ib" "$top/worker/builder/manifest-gen" >"$tmp/m2.json"

# run NAME MANIFEST: one build of the qcow2 export into a fresh output.
run() {
	start=$(date +%s.%N)
	"$ib" --store "$tmp/store" --output-directory "$tmp/out-$1" \
	    --export qcow2 --json - <"$2" >"$tmp/$1.json" 2>"$tmp/$1.log" || {
		tail -n 20 "$tmp/$1.log" >&2
		echo "bench-builder: $1 build failed" >&2
		exit 1
	}
	end=$(date +%s.%N)
	secs=$(echo "$end $start" | awk '{ printf "%.2f", $1 - $2 }')
	bytes=$(sed -n 's/.*downloaded \([0-9]*\) bytes.*/\1/p' "$tmp/$1.log" |
	    tail -n 1)
	stages=$(sed -n 's/.*ran \([0-9]*\) stages.*/\1/p' "$tmp/$1.log" |
	    tail -n 1)
	printf '%-8s %8s s  %11s bytes downloaded  %2s stages run\n' \
	    "$1" "$secs" "$bytes" "$stages"
	eval "secs_$1=\$secs"
}

echo "ib-build bench: $(grep -c '"checksum"' "$tmp/req.json") packages," \
    "qcow2 export, load $(cut -d' ' -f1-3 /proc/loadavg)"
run cold "$tmp/m1.json"
run warm "$tmp/m1.json"
run partial "$tmp/m2.json"
# shellcheck disable=SC2154  # set by eval in run
echo "$secs_cold $secs_warm" |
    awk '{ printf "warm rebuild %.0fx faster than cold\n", $1 / ($2 > 0.01 ? $2 : 0.01) }'
