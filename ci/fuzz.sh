#!/bin/sh
# Builds every worker/tests/fuzz/fuzz_NAME.c as a libFuzzer target (clang,
# ASan+UBSan) and runs each for FUZZ_SECONDS (default 60) from its seeds;
# fails when any target crashes, leaks, hangs or does not build.
#
# A target lists the worker sources it needs on one line of its own:
#   /* fuzz-sources: worker/lib/util.c worker/lib/log.c worker/lib/toml.c */
# Optional beside it: seeds/NAME/ (seed inputs, never written to) and
# NAME.dict (a libFuzzer dictionary). Outputs go to $B/fuzz/: the binaries,
# the grown corpus (corpus-NAME/, kept between runs), logs and crash inputs.
# Usage: ci/fuzz.sh [NAME...]   (default: every target)
set -eu

cd "$(dirname "$0")/.."
B=${B:-build}
out="$B/fuzz"
secs=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
dir=worker/tests/fuzz

command -v "$cc" >/dev/null 2>&1 || {
	echo "fuzz.sh: $cc not found (ci/deps.sh build installs it)" >&2
	exit 1
}
pkgs="libcurl json-c openssl"
cflags="-std=gnu11 -g -O1 -D_GNU_SOURCE -Iworker -Iworker/lib -Iworker/cloud -Iworker/daemon -Wall -Wextra -Werror
-Wno-unused-parameter -fno-omit-frame-pointer
-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
$(pkg-config --cflags "$pkgs")"
libs="$(pkg-config --libs "$pkgs") -lpthread -lm"

if [ $# -gt 0 ]; then
	targets=""
	for n in "$@"; do
		targets="$targets $dir/fuzz_${n#fuzz_}.c"
	done
else
	targets=$(ls "$dir"/fuzz_*.c 2>/dev/null || true)
fi
[ -n "$targets" ] || { echo "fuzz.sh: no fuzz targets in $dir" >&2; exit 1; }

mkdir -p "$out"
failed=""
for src in $targets; do
	[ -f "$src" ] || { echo "fuzz.sh: $src: no such target" >&2; exit 1; }
	base=$(basename "$src" .c)
	name=${base#fuzz_}
	sources=$(sed -n 's|^/\*[[:space:]]*fuzz-sources:\(.*\)\*/.*$|\1|p' \
	    "$src" | head -n 1)
	bin="$out/$base"
	echo "fuzz.sh: building $base from $src$sources"
	# shellcheck disable=SC2086 # flag and file lists split on purpose
	if ! "$cc" $cflags -o "$bin" "$src" $sources $libs; then
		failed="$failed $base(build)"
		continue
	fi

	corpus="$out/corpus-$name"
	mkdir -p "$corpus"
	set -- "$corpus"
	[ -d "$dir/seeds/$name" ] && set -- "$@" "$dir/seeds/$name"
	dict=""
	[ -f "$dir/$name.dict" ] && dict="-dict=$dir/$name.dict"
	log="$out/$base.log"
	echo "fuzz.sh: running $base for ${secs}s (log: $log)"
	# The target's own stderr (warnings about unknown keys...) is closed:
	# libFuzzer and the sanitizers still report through their own copy.
	# shellcheck disable=SC2086 # empty $dict must vanish
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=8192 -close_fd_mask=2 -print_final_stats=1 \
	    -artifact_prefix="$out/$base-" $dict "$@" >"$log" 2>&1; then
		grep -E '^stat::number_of_executed_units|^Done' "$log" || true
	else
		echo "fuzz.sh: $base FAILED; the end of $log:" >&2
		tail -n 60 "$log" >&2
		failed="$failed $base"
	fi
done

if [ -n "$failed" ]; then
	echo "fuzz.sh: failed:$failed" >&2
	exit 1
fi
echo "fuzz.sh: all targets ran clean"
