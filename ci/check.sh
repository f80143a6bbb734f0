#!/bin/sh
# Runs every test that needs no VM: the cmocka unit binaries given as
# arguments, then every executable named t_* under a tests/ folder of the
# project (exit 0 pass, 77 skipped, anything else fail). Ends with the line
# "N passed, M failed, K skipped".
# TESTS=pattern limits the t_* scripts to names matching the pattern;
# TEST_SKIP="pattern ..." leaves out those matching any of the patterns.
set -u
# Patterns below are for case, never file names.
set -f

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
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
	# shellcheck disable=SC2254  # the pattern is meant to match
	case "$(basename "$t")" in
	${TESTS:-*}) ;;
	*) continue ;;
	esac
	skipped_by_name=0
	for pat in ${TEST_SKIP:-}; do
		# shellcheck disable=SC2254  # the pattern is meant to match
		case "$(basename "$t")" in
		$pat) skipped_by_name=1 ;;
		esac
	done
	[ "$skipped_by_name" -eq 0 ] || continue
	run_one "$t" timeout "${TEST_TIMEOUT:-900}" "$t"
done

[ -z "$failed" ] || echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
