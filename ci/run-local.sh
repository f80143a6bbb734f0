#!/bin/sh
# make run: the main job on the embedded default. Starts the local queue
# (queue/ib-queue) and one worker on loopback, submits a sample job, shows
# its result, then stops both. Everything lands under $B/run/ (emptied at
# the start): the queue's state, both logs, the worker's config and cache.
# The sample job is the sample_* functions below: swap them to run another
# kind of job (an image build) without touching the rest.
# Usage: ci/run-local.sh   (B=build dir, default build; RUN_TIMEOUT=600 s
# for the job)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
worker="$top/$B/ib-worker"
queue="$top/queue/ib-queue"
run="$top/$B/run"
timeout=${RUN_TIMEOUT:-600}
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

sample_setup() {
	mkdir -p "$run/files"
	printf 'hello from make run\n' >"$run/files/hello.txt"
	head -c 4096 /dev/urandom >"$run/files/random.bin"
	(cd "$run/files" &&
	    exec /usr/bin/python3 -u -m http.server --bind 127.0.0.1 0) \
	    >"$run/files.log" 2>&1 &
	fpid=$!
	i=0
	until files_port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' \
	    "$run/files.log" | head -n 1) && [ -n "$files_port" ]; do
		i=$((i + 1))
		[ "$i" -lt 150 ] || { echo "run: the file server did not start" >&2; exit 1; }
		sleep 0.1
	done
	files="http://127.0.0.1:$files_port"
	echo "file server:  $files/ serving $run/files (pid $fpid)"
}

sample_enqueue() {
	q enqueue --type file-resolve --args \
	    "{\"urls\":[\"$files/hello.txt\",\"$files/random.bin\"]}"
}

sample_summary() {
	# Sizes from the base64 length: @base64d makes text of binary data.
	jq -r '
	  def bytes: length / 4 * 3 -
	    (if endswith("==") then 2 elif endswith("=") then 1 else 0 end);
	  (.results // [])[] |
	  if .content != null then
	    "  \(.url): \(.content | bytes) bytes" +
	    (if (.url | endswith(".txt")) then
	      ", \"\(.content | @base64d | rtrimstr("\n"))\"" else "" end)
	  else "  \(.url): error: \(.target_error.reason)" end,
	  (if .job_error then
	    "  job_error \(.job_error.id): \(.job_error.reason)" else empty end)
	' "$1"
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
[worker]
cache_directory = "$run/cache"
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
q wait "$id" --timeout "$timeout" >/dev/null || rc=$?
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
stop_pid "$fpid"
fpid=""
stop_pid "$qpid"
qpid=""
echo "stopped:      worker, file server and queue"
echo "state:        $run/queue-state (queue/ib-queue serve --state-dir it to look again)"
echo "result:       $run/result.json, the whole job in $run/job.json"
echo "logs:         $run/queue.log $run/worker.log"
[ "$rc" -eq 0 ] && [ "$state" = success ]
