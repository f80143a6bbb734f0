#!/bin/sh
# Runs every test that needs no VM: the cmocka unit binaries given as
# arguments and every executable named t_* under a tests/ folder of the
# project (exit 0 pass, 77 skipped, anything else fail). Ends with the line
# "N passed, M failed, K skipped".
# Tests run CHECK_JOBS at a time (default 4: most wait on sockets, child
# processes and timers rather than on the 2 cores CI has). A t_* script
# with a line "# check: serial" (the builder's boot and loop-device tests,
# libguestfs appliances: heavy on CPU or on global resources) runs in the
# serial lane: one such test at a time, never two together, started first
# (they are the longest) while the others share the remaining
# CHECK_JOBS - 1 slots. CHECK_SERIAL_ALONE=1 (or CHECK_JOBS=1) runs them
# after the others, alone, as before. Each test's output goes to
# $B/test-logs/NAME.log; a PASS, FAIL or SKIP line is printed as each one
# ends, and the run's slowest tests are listed at its end.
# TESTS="pattern ..." limits the t_* scripts to names matching any pattern;
# TEST_SKIP="pattern ..." leaves out those matching any of the patterns;
# TEST_TIMEOUT=seconds bounds each test (default 900).
set -u
# Patterns below are for case, never file names.
set -f

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
export B="${B:-build}"
export IB_TOP="$top"
logdir="$top/$B/test-logs"
mkdir -p "$logdir"
jobs=${CHECK_JOBS:-4}
case $jobs in
'' | *[!0-9]* | 0) echo "CHECK_JOBS must be a positive number" >&2; exit 2 ;;
esac
timeout_s=${TEST_TIMEOUT:-900}
# One status file per running test: "rc seconds" when it has ended.
state=$(mktemp -d "$logdir/.run.XXXXXX") || exit 2

pass=0 fail=0 skip=0 failed=""
running=""	# "index:name" of the tests under way
n=0

stop_all() {
	for r in $running; do
		[ -s "$state/${r%%:*}.pid" ] && kill "$(cat "$state/${r%%:*}.pid")" \
		    2>/dev/null
	done
	wait
	rm -rf "$state"
	exit 2
}
trap stop_all INT TERM HUP

logname() {
	echo "$logdir/$(echo "$1" | tr '/' '_').log"
}

# start NAME COMMAND...: runs it in the background under timeout.
start() {
	name=$1
	shift
	n=$((n + 1))
	(
		t0=$(date +%s)
		timeout "$timeout_s" "$@" >"$(logname "$name")" 2>&1 </dev/null &
		echo $! >"$state/$n.pid"
		wait $!
		rc=$?
		echo "$rc $(($(date +%s) - t0))" >"$state/$n.tmp"
		mv "$state/$n.tmp" "$state/$n.done"
	) &
	running="$running $n:$name"
	last=$n
}

# report NAME RC SECONDS: the test's line, and its log's tail on failure.
report() {
	log=$(logname "$1")
	echo "$3 $1" >>"$state/times"
	case $2 in
	0) pass=$((pass + 1)); echo "PASS $1 (${3}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP $1 (${3}s): $(tail -n 1 "$log")" ;;
	*) fail=$((fail + 1)); failed="$failed $1"
	   echo "FAIL $1 (${3}s, exit $2); last lines of $log:"
	   tail -n 30 "$log" | sed 's/^/    /' ;;
	esac
}

# reap: reports the tests that have ended; prints how many still run.
reap() {
	still=""
	for r in $running; do
		i=${r%%:*}
		if [ -f "$state/$i.done" ]; then
			read -r rc secs <"$state/$i.done"
			report "${r#*:}" "$rc" "$secs"
		else
			still="$still $r"
		fi
	done
	running=$still
}

count() {
	# shellcheck disable=SC2086  # one word per test
	set -- $running
	echo $#
}

# wait_below LIMIT: returns once fewer than LIMIT tests run.
wait_below() {
	while :; do
		reap
		[ "$(count)" -ge "$1" ] || return 0
		sleep 0.2
	done
}

selected() {
	found=""
	for pat in ${TESTS:-*}; do
		# shellcheck disable=SC2254  # the pattern is meant to match
		case "$(basename "$1")" in
		$pat) found=1 ;;
		esac
	done
	for pat in ${TEST_SKIP:-}; do
		# shellcheck disable=SC2254  # the pattern is meant to match
		case "$(basename "$1")" in
		$pat) found="" ;;
		esac
	done
	[ -n "$found" ]
}

scripts=$(find worker queue loadtest ami packer terraform ci ops -path '*/tests/t_*' \
    -type f -perm -u+x 2>/dev/null | sort)
serial="" others=""
for t in $scripts; do
	selected "$t" || continue
	if grep -q '^# check: serial' "$t"; then
		serial="$serial $t"
	else
		others="$others $t"
	fi
done
for bin in "$@"; do
	others="$others unit:$bin"
done

# The serial lane: the index of its running test ("" when none). A
# serial test takes a slot of the CHECK_JOBS.
lane=""
lane_busy() {
	[ -n "$lane" ] && [ ! -f "$state/$lane.done" ]
}
# lane_next: starts the next serial test when the lane is free; true when
# it started one.
lane_next() {
	lane_busy && return 1
	# shellcheck disable=SC2086  # one word per test
	set -- $serial
	[ $# -gt 0 ] || { lane=""; return 1; }
	start "$1" "$1"
	lane=$last
	shift
	serial="$*"
}

start_other() {
	case $1 in
	unit:*) start "unit/$(basename "${1#unit:}")" "${1#unit:}" ;;
	*) start "$1" "$1" ;;
	esac
}

if [ "${CHECK_SERIAL_ALONE:-0}" = 1 ] || [ "$jobs" -eq 1 ]; then
	for t in $others; do
		wait_below "$jobs"
		start_other "$t"
	done
	wait_below 1
	for t in $serial; do
		start "$t" "$t"
		wait_below 1
	done
else
	lane_next || :
	for t in $others; do
		wait_below "$jobs"
		! lane_next || wait_below "$jobs"
		start_other "$t"
	done
	while [ -n "$serial" ] || lane_busy; do
		wait_below "$jobs"
		lane_next || sleep 0.2
	done
	wait_below 1
fi

if [ -s "$state/times" ]; then
	echo "slowest:"
	sort -rn "$state/times" | head -n 8 | sed 's/^/    /'
fi
rm -rf "$state"

[ -z "$failed" ] || echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
