#!/bin/sh
# Runs every test that needs no VM: the cmocka unit binaries given as
# arguments, then every executable named t_* under a tests/ folder of the
# project (exit 0 pass, 77 skipped, anything else fail). Ends with the line
# "N passed, M failed, K skipped".
# TESTS=pattern limits the t_* scripts to names matching the pattern.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export B="${B:-build}"
export IB_TOP="$top"
logdir="$top/$B/test-logs"
mkdir -p "$logdir"

pass=0 fail=0 skip=0 failed=""

run_one() {
	name=$1
	shift
	start=$(date +%s)
	log="$logdir/$(echo "$name" | tr '/' '_').log"
	"$@" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $name (${secs}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP $name (${secs}s): $(tail -n 1 "$log")" ;;
	*) fail=$((fail + 1)); failed="$failed $name"
	   echo "FAIL $name (${secs}s, exit $rc); last lines of $log:"
	   tail -n 30 "$log" | sed 's/^/    /' ;;
	esac
}

for bin in "$@"; do
	run_one "unit/$(basename "$bin")" "$bin"
done

for t in $(find worker queue ami packer terraform ci -path '*/tests/t_*' \
    -type f -perm -u+x 2>/dev/null | sort); do
	case "$(basename "$t")" in
	${TESTS:-*}) ;;
	*) continue ;;
	esac
	run_one "$t" timeout "${TEST_TIMEOUT:-900}" "$t"
done

[ -z "$failed" ] || echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
