#!/bin/sh
# Worker overhead of one build, measured on loopback against the local queue
# with the osbuild test double (osbuild cannot run here): a 1 GiB export
# uploaded with the worker.server target.
# Prints, from the worker's own log timestamps:
#   arrival->osbuild start, osbuild exit->result delivered (upload included),
#   the upload alone, and the worker's peak RSS (VmHWM) after the upload.
# Usage: ci/bench-build.sh [EXPORT_BYTES]   (B=build dir, default build)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
worker="$top/$B/ib-worker"
queue="$top/queue/ib-queue"
size=${1:-1073741824}
[ -x "$worker" ] || { echo "bench-build: $worker is not built" >&2; exit 77; }

tmp=$(mktemp -d /tmp/ib-bench-build.XXXXXX)
qpid="" wpid=""
cleanup() {
	[ -z "$wpid" ] || kill "$wpid" 2>/dev/null || true
	[ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$queue" serve --listen 127.0.0.1:0 --port-file "$tmp/port" \
    --state-dir "$tmp/state" >"$tmp/queue.log" 2>&1 &
qpid=$!
i=0
while [ ! -s "$tmp/port" ]; do
	i=$((i + 1))
	[ "$i" -lt 150 ] || { echo "bench-build: queue did not start" >&2; exit 1; }
	sleep 0.1
done
url="http://127.0.0.1:$(cat "$tmp/port")"

cat >"$tmp/worker.toml" <<EOF
[worker]
osbuild = "$top/worker/tests/doubles/osbuild"
cache_directory = "$tmp/cache"
cache_min_free = 0
EOF
IB_OSBUILD_DOUBLE_SIZE=$size "$worker" -d -c "$tmp/worker.toml" "$url" \
    >"$tmp/worker.log" 2>&1 &
wpid=$!

# The captured composer job, its manifest inline, a worker.server target.
/usr/bin/python3 - "$top/worker/tests/fixtures" >"$tmp/args.json" <<'EOF'
import json, os, sys
with open(os.path.join(sys.argv[1],
          "composer-v105-requestjob-osbuild-response.json")) as f:
    job = json.load(f)
args = job["args"]
args["manifest"] = job["dynamic_args"][0]["data"]
t = args["targets"][0]
t.update(name="org.osbuild.worker.server", image_name="disk.qcow2", options={})
print(json.dumps(args))
EOF
jid=$("$queue" --url "$url" enqueue --type osbuild --args "@$tmp/args.json")
"$queue" --url "$url" wait "$jid" >/dev/null
grep -q 'result delivered' "$tmp/worker.log" || sleep 1
hwm=$(awk '/^VmHWM/ { print $2 " " $3 }' "/proc/$wpid/status")
"$queue" --url "$url" result "$jid" >"$tmp/result.json"

/usr/bin/python3 - "$tmp/worker.log" "$tmp/result.json" "$size" "$hwm" <<'EOF'
import datetime, json, re, sys
log, result, size, hwm = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
res = json.load(open(result))
if not res.get("success"):
    sys.exit("bench-build: the build failed: %s" % json.dumps(res)[:500])
stamps = {}
upload_ms = None
for line in open(log, errors="replace"):
    m = re.match(r"(\S+Z) ", line)
    if not m:
        continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
    for key, rx in (("accepted", "job accepted"), ("start", r"osbuild: start(\s|$)"),
                    ("exited", "osbuild: exited"),
                    ("delivered", "result delivered")):
        if re.search(rx, line.rstrip()) and key not in stamps:
            stamps[key] = t
    m = re.search(r"worker\.server: uploaded \S+ in (\d+) ms", line)
    if m:
        upload_ms = int(m.group(1))
missing = [k for k in ("accepted", "start", "exited", "delivered")
           if k not in stamps]
if missing:
    sys.exit("bench-build: log lines missing: %s" % ", ".join(missing))
ms = lambda a, b: (stamps[b] - stamps[a]).total_seconds() * 1000
print("export size:                 %d bytes" % size)
print("arrival -> osbuild start:    %.0f ms" % ms("accepted", "start"))
print("osbuild exit -> result sent: %.0f ms (upload included)" %
      ms("exited", "delivered"))
if upload_ms is not None:
    print("  of which the upload:       %d ms (%.0f MiB/s)" %
          (upload_ms, size / 1048576 / max(upload_ms / 1000, 0.001)))
    print("  the rest:                  %.0f ms" %
          (ms("exited", "delivered") - upload_ms))
print("worker peak RSS (VmHWM):     %s" % hwm)
EOF
