#!/bin/sh
# Worker figures on loopback against the local queue (queue/ib-queue), with
# the goals beside them. Prints; asserts nothing.
#   - idle RSS: VmRSS after 10 s of idle long-polling
#   - idle CPU: utime+stime (/proc/PID/stat) over 60 s of idle long-polling
#   - pickup latency p50/p99 over 200 file-resolve jobs, each enqueued while
#     the worker's long poll is held open (the queue's metrics say so):
#     queue side = the queue's "started" (dequeue) minus its "created"
#     (enqueue), both from the admin API `show`; worker side = the worker's
#     "job accepted" log line minus the same "created" (same host clock).
# Then runs every other ci/bench-*.sh there is, each bounded, so that the
# whole stays under 10 minutes.
# Usage: ci/bench.sh   (B=build dir, default build; BENCH=NAME runs only
# ci/bench-NAME.sh; BENCH_JOBS=200,
# BENCH_IDLE=60, BENCH_BUDGET=570 s for everything, BENCH_EACH=210 s at
# most per other script)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
worker="$top/$B/ib-worker"
queue="$top/queue/ib-queue"
jobs=${BENCH_JOBS:-200}
idle=${BENCH_IDLE:-60}
budget=${BENCH_BUDGET:-570}
each=${BENCH_EACH:-210}
started=$(date +%s)
deadline=$((started + budget))
# BENCH=NAME: only ci/bench-NAME.sh (make bench BENCH=builders), unbounded.
if [ -n "${BENCH:-}" ]; then
	case $BENCH in
	*[!a-z0-9-]*) echo "bench: BENCH=$BENCH is not a bench name" >&2; exit 1 ;;
	esac
	[ -x "$top/ci/bench-$BENCH.sh" ] ||
	    { echo "bench: there is no ci/bench-$BENCH.sh" >&2; exit 1; }
	exec env B="$B" "$top/ci/bench-$BENCH.sh"
fi
[ -x "$worker" ] || { echo "bench: $worker is not built" >&2; exit 1; }

tmp=$(mktemp -d /tmp/ib-bench.XXXXXX)
qpid="" wpid=""
cleanup() {
	[ -z "$wpid" ] || kill "$wpid" 2>/dev/null || true
	[ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section() {
	printf '\n== %s\n' "$1"
}

# utime + stime of a process, in clock ticks (fields 14 and 15; the
# command name in field 2 cannot hold ") " here).
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

section "worker idle (queue $queue, worker $worker)"
"$queue" serve --listen 127.0.0.1:0 --port-file "$tmp/port" \
    --state-dir "$tmp/state" >"$tmp/queue.log" 2>&1 &
qpid=$!
i=0
while [ ! -s "$tmp/port" ]; do
	i=$((i + 1))
	[ "$i" -lt 150 ] || { echo "bench: the queue did not start" >&2; exit 1; }
	sleep 0.1
done
url="http://127.0.0.1:$(cat "$tmp/port")"

cat >"$tmp/worker.toml" <<EOF
[worker]
cache_directory = "$tmp/cache"
cache_min_free = 0
EOF
"$worker" -c "$tmp/worker.toml" "$url" >"$tmp/worker.log" 2>&1 &
wpid=$!
i=0
until curl -fsS "$url/metrics" 2>/dev/null |
    grep -q '^composer_waiting_requests [1-9]'; do
	i=$((i + 1))
	if [ "$i" -ge 150 ] || ! kill -0 "$wpid" 2>/dev/null; then
		echo "bench: the worker never polled; its log:" >&2
		tail -n 20 "$tmp/worker.log" >&2
		exit 1
	fi
	sleep 0.1
done

# The queue logs a request when it is answered: a held long poll is not
# counted until it ends.
calls() {
	grep -c ' /api/worker/v1/' "$tmp/queue.log" || true
}

hz=$(getconf CLK_TCK)
t0=$(cpu_ticks "$wpid")
c0=$(calls)
sleep 10
status=$(cat "/proc/$wpid/status")
pss=$(awk '$1 == "Pss:" { print $2 }' "/proc/$wpid/smaps_rollup" \
    2>/dev/null || echo 0)
sleep $((idle - 10))
t1=$(cpu_ticks "$wpid")
c1=$(calls)
kb() {
	echo "$status" | awk -v k="$1:" '$1 == k { print $2 }'
}
awk -v rss="$(kb VmRSS)" -v anon="$(kb RssAnon)" -v file="$(kb RssFile)" \
    -v pss="${pss:-0}" -v t="$((t1 - t0))" -v hz="$hz" -v s="$idle" -v calls="$((c1 - c0))" \
    'BEGIN {
	mib = rss / 1024
	printf "idle RSS (VmRSS after 10 s):  %.2f MiB   goal < 8 MiB: %s\n",
	    mib, mib < 8 ? "met" : "MISSED"
	printf "  of which anonymous:         %.2f MiB (heap, stacks)\n",
	    anon / 1024
	printf "  of which file-backed:       %.2f MiB (the binary, shared " \
	    "libraries)\n", file / 1024
	if (pss > 0)
		printf "  PSS (shared pages split):   %.2f MiB\n", pss / 1024
	printf "idle CPU over %d s:           %.2f s (%.3f%% of one core)\n",
	    s, t / hz, 100 * t / hz / s
	printf "worker API calls answered:    %d in %d s\n", calls, s
}'

section "pickup latency over $jobs jobs"
/usr/bin/python3 - "$url" "$jobs" "$tmp/worker.log" <<'EOF'
import datetime, json, re, sys, time, urllib.request

url, n, wlog = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 240


def call(method, path, body=None, timeout=30):
    req = urllib.request.Request(
        url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def stamp(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def idle():
    # The worker's long poll is held open again after the last job.
    while time.monotonic() < deadline:
        m = call("GET", "/metrics").decode()
        if re.search(r"^composer_waiting_requests [1-9]", m, re.M):
            return
        time.sleep(0.002)
    sys.exit("bench: timed out waiting for the worker to poll again")


ids, failed = [], 0
for i in range(n):
    idle()
    jid = json.loads(call("POST", "/api/queue/v1/jobs", {
        "type": "file-resolve", "arch": "x86_64",
        "args": {"urls": [url + "/metrics"]}}))["id"]
    job = json.loads(call("GET", "/api/queue/v1/jobs/%s/wait?timeout=20"
                          % jid, timeout=40))
    if job.get("state") != "success":
        failed += 1
    ids.append(jid)

queue_ms, created = [], {}
for jid in ids:
    job = json.loads(call("GET", "/api/queue/v1/jobs/" + jid))
    created[jid] = stamp(job["created"])
    queue_ms.append((stamp(job["started"]) - created[jid]).total_seconds()
                    * 1000)
worker_ms = []
rx = re.compile(r"^(\S+Z) \S+ job accepted: .* job_id=(\S+)")
for line in open(wlog, errors="replace"):
    m = rx.match(line)
    if m and m.group(2) in created:
        worker_ms.append((stamp(m.group(1)) - created[m.group(2)])
                         .total_seconds() * 1000)


def pct(v, p):
    v = sorted(v)
    return v[max(0, -(-len(v) * p // 100) - 1)]


print("jobs: %d (%d did not succeed)" % (n, failed))
print("queue side  (created -> dequeued):       p50 %5.1f ms  p99 %5.1f ms"
      "  max %5.1f ms" % (pct(queue_ms, 50), pct(queue_ms, 99),
                          max(queue_ms)))
if len(worker_ms) != n:
    print("worker side: only %d of %d 'job accepted' lines found"
          % (len(worker_ms), n))
if worker_ms:
    p99 = pct(worker_ms, 99)
    print("worker side (created -> job accepted):   p50 %5.1f ms  p99 %5.1f ms"
          "  max %5.1f ms   goal p99 < 50 ms: %s"
          % (pct(worker_ms, 50), p99, max(worker_ms),
             "met" if p99 < 50 else "MISSED"))
print("(timestamps: the queue's created/started from the admin API `show`, "
      "the worker's log line; millisecond resolution, one host clock)")
EOF

kill "$wpid" 2>/dev/null || true
kill "$qpid" 2>/dev/null || true
wait 2>/dev/null || true
wpid="" qpid=""

# The whole bench stays under 10 minutes: each other script gets at most
# BENCH_EACH seconds and never more than what is left of the budget.
for b in "$top"/ci/bench-*.sh; do
	[ -e "$b" ] || { section "other benches"; echo "none (no ci/bench-*.sh)"; break; }
	section "$(basename "$b")"
	left=$((deadline - $(date +%s)))
	if [ "$left" -lt 20 ]; then
		echo "(not run: the ${budget} s bench budget is spent)"
		continue
	fi
	[ "$left" -lt "$each" ] || left=$each
	rc=0
	B=$B timeout --kill-after=10 "$left" "$b" || rc=$?
	case $rc in
	0) ;;
	77) echo "(skipped by the script)" ;;
	124|137) echo "(stopped after $left s: the bench budget)" ;;
	*) echo "(exited $rc)" ;;
	esac
done
echo
echo "bench: $(($(date +%s) - started)) s in all"
