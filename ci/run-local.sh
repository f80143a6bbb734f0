#!/bin/sh
# make run: the main job on the embedded default. Starts the local queue
# (queue/ib-queue) and one worker on loopback, submits a sample job, shows
# its result, then stops both. Everything lands under $B/run/ (emptied at
# the start): the queue's state, both logs, the worker's config and cache.
# The sample job is the sample_* functions below: swap them to run another
# kind of job (an image build) without touching the rest.
# Usage: ci/run-local.sh   (B=build dir, default build; RUN_TIMEOUT=3600 s
# for the job; IB_MIRROR=Debian mirror URL)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
worker="$top/$B/ib-worker"
queue="$top/queue/ib-queue"
run="$top/$B/run"
timeout=${RUN_TIMEOUT:-3600}
# Kept between runs: a second run reuses downloads and unchanged stages.
cache="$top/$B/run-cache"
[ -x "$worker" ] || { echo "run: $worker is not built (make all)" >&2; exit 1; }

qpid="" wpid="" fpid=""
stop_pid() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$1" 2>/dev/null || true
}
cleanup() {
	stop_pid "$wpid"
	stop_pid "$fpid"
	stop_pid "$qpid"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to 15 s for a file to hold something.
wait_file() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ "$i" -lt 150 ] || return 1
		sleep 0.1
	done
}

q() {
	"$queue" --url "$url" "$@"
}

# --- the sample job ----------------------------------------------------
# sample_setup: start what the job needs; sample_enqueue: submit it and
# print its id; sample_summary FILE: describe the result in FILE (JSON).
# The sample is a compose: a bootable Debian 12 qcow2 from the Debian
# mirror apt uses here, through the same chain a composer makes (depsolve
# by ib-depsolve, the manifest by the queue, the build by ib-build), with
# the image uploaded back to the queue (org.osbuild.worker.server).

sample_setup() {
	mirror=${IB_MIRROR:-$(sed -n 's|^URIs: *\(http[^ ]*/debian\)/*$|\1|p; s|^deb \(http[^ ]*/debian\)/* bookworm .*|\1|p' \
	    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	    head -n 1)}
	mirror=${mirror:-http://deb.debian.org/debian}
	echo "mirror:       $mirror"
}

sample_enqueue() {
	q compose "{\"distribution\": \"debian-12\", \"image_type\": \"qcow2\",
	    \"mirror\": \"$mirror\",
	    \"customizations\": {\"hostname\": \"ib-run\",
	      \"kernel\": {\"append\": \"console=ttyS0,115200n8\"},
	      \"files\": [{\"path\": \"/etc/motd\", \"data\": \"built by make run\\n\"}]},
	    \"targets\": [{\"type\": \"org.osbuild.worker.server\"}]}"
}

sample_summary() {
	jq -r '(.target_results // [])[] | "  target \(.name): \(.options // {} |
	    tostring)\(if .target_error then " error: \(.target_error.reason)"
	    else "" end)", (if .job_error then "  job_error \(.job_error.id): \(
	    .job_error.reason)" else empty end)' "$1"
	name=$(jq -r '(.target_results // [])[0].options.artifact_relative_path
	    // empty' "$1")
	[ -n "$name" ] || return 0
	q artifact "$id" "$name" -o "$run/$name" >/dev/null
	echo "image:        $run/$name ($(du -h "$run/$name" | cut -f1) on disk)"
	echo "boot it:      qemu-system-x86_64 -accel tcg -m 1024 -nographic" \
	    "-snapshot -drive file=$run/$name,format=qcow2,if=virtio"
	echo "              (to log in, add a user with an ssh key or password"\
	    "in the compose's customizations.user)"
}
# ------------------------------------------------------------------------

rm -rf "$run"
mkdir -p "$run"
echo "make run: the local queue and a worker on loopback; state and logs in $run"

"$queue" serve --listen 127.0.0.1:0 --port-file "$run/queue.port" \
    --state-dir "$run/queue-state" >"$run/queue.log" 2>&1 &
qpid=$!
wait_file "$run/queue.port" || { echo "run: the queue did not start; see $run/queue.log" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$run/queue.port")"
echo "queue:        $url (pid $qpid)"

cat >"$run/worker.toml" <<EOF
# Written by ci/run-local.sh for one local run.
dnf-json = "$top/$B/ib-depsolve"
[worker]
osbuild = "$top/$B/ib-build"
cache_directory = "$cache"
cache_min_free = 0
EOF
"$worker" -c "$run/worker.toml" "$url" >"$run/worker.log" 2>&1 &
wpid=$!
i=0
until grep -q 'registered as worker' "$run/worker.log"; do
	i=$((i + 1))
	if [ "$i" -ge 150 ] || ! kill -0 "$wpid" 2>/dev/null; then
		echo "run: the worker did not register; the end of its log:" >&2
		tail -n 20 "$run/worker.log" >&2
		exit 1
	fi
	sleep 0.1
done
echo "worker:       pid $wpid, $(sed -n 's/.*\(registered as worker [^ ]*\).*/\1/p' \
    "$run/worker.log" | head -n 1)"

sample_setup
start=$(date +%s)
id=$(sample_enqueue)
echo "submitted:    job $id"
rc=0
# A line each time the job (or the depsolve and manifest before it) moves.
# (sh has no pipefail: the exit status goes through a file.)
rm -f "$run/watch.rc"
{ q watch "$id" --timeout "$timeout" || echo "$?" >"$run/watch.rc"; } |
    sed -n 's/^\[/progress:     [/p'
[ ! -f "$run/watch.rc" ] || rc=$(cat "$run/watch.rc")
q show "$id" >"$run/job.json"
state=$(jq -r .state "$run/job.json")
case $rc in
0|1) q result "$id" >"$run/result.json"
     echo "finished:     job $id: $state after $(($(date +%s) - start)) s"
     sample_summary "$run/result.json" ;;
2)   echo "run: job $id still $state after ${timeout}s" >&2 ;;
*)   echo "run: the queue did not answer about job $id (exit $rc)" >&2 ;;
esac

stop_pid "$wpid"
wpid=""
stop_pid "$qpid"
qpid=""
echo "stopped:      worker and queue"
echo "state:        $run/queue-state (queue/ib-queue serve --state-dir it to look again)"
echo "result:       $run/result.json, the whole job in $run/job.json"
echo "logs:         $run/queue.log $run/worker.log"
echo "cache:        $cache (kept: the next run reuses it)"
[ "$rc" -eq 0 ] && [ "$state" = success ]
