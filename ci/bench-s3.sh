#!/bin/sh
# S3 upload throughput on loopback, in one run against the same s3rver:
# the worker's S3 client (parallel multipart on one curl multi handle,
# driven by the test_s3 binary) against `/usr/bin/aws s3 cp`, with their
# ratio and the worker's peak RSS (VmHWM) during its upload. Prints
# figures, asserts nothing.
# Usage: ci/bench-s3.sh [BYTES]   (default 2 GiB; B=build dir, default build;
#        IB_S3_PART_SIZE / IB_S3_PARALLEL tune the worker's upload)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
driver="$top/$B/tests/test_s3"
size=${1:-2147483648}
node_dir="$top/worker/tests/node"
s3rver="$node_dir/node_modules/s3rver/bin/s3rver.js"

[ -x "$driver" ] || { echo "bench-s3: $driver is not built (make unit)" >&2; exit 77; }
command -v node >/dev/null 2>&1 || { echo "bench-s3: node is missing" >&2; exit 77; }
if [ ! -f "$s3rver" ]; then
	(cd "$node_dir" && npm ci --no-audit --no-fund >/dev/null)
fi

tmp=$(mktemp -d /tmp/ib-bench-s3.XXXXXX)
spid="" dpid=""
cleanup() {
	[ -z "$dpid" ] || kill "$dpid" 2>/dev/null || true
	[ -z "$spid" ] || kill "$spid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir "$tmp/data"
node "$s3rver" -d "$tmp/data" -a 127.0.0.1 -p "$port" -s \
    --configure-bucket bench >"$tmp/s3rver.log" 2>&1 &
spid=$!
i=0
until /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 150 ] || { echo "bench-s3: s3rver did not start" >&2; exit 1; }
	sleep 0.1
done
endpoint="http://127.0.0.1:$port"

echo "bench-s3: writing a $size-byte file"
head -c "$size" /dev/urandom >"$tmp/image.raw"

# The worker's client; VmHWM sampled until it exits (it only grows).
IB_S3_TEST_ENDPOINT=$endpoint IB_S3_TEST_BUCKET=bench \
    IB_S3_BENCH_FILE="$tmp/image.raw" "$driver" >"$tmp/worker.out" 2>&1 &
dpid=$!
hwm=0
while kill -0 "$dpid" 2>/dev/null; do
	v=$(awk '/^VmHWM/ {print $2}' "/proc/$dpid/status" 2>/dev/null || true)
	[ -z "$v" ] || hwm=$v
	sleep 0.2
done
rc=0
wait "$dpid" || rc=$?
dpid=""
if [ "$rc" -ne 0 ]; then
	echo "bench-s3: the worker's upload failed:" >&2
	cat "$tmp/worker.out" >&2
	exit 1
fi
worker_ms=$(sed -n 's/.*worker_ms=\([0-9]*\).*/\1/p' "$tmp/worker.out")
sed -n 's/^worker_ms=/worker: ms=/p' "$tmp/worker.out"

# awscli, same file, same server.
t0=$(date +%s%N)
AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
    AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    /usr/bin/aws --endpoint-url "$endpoint" s3 cp --only-show-errors \
    "$tmp/image.raw" s3://bench/bench/awscli.raw
aws_ms=$(( ($(date +%s%N) - t0) / 1000000 ))

/usr/bin/python3 - "$size" "$worker_ms" "$aws_ms" "$hwm" <<'EOF'
import sys
size, wms, ams, hwm = (int(x) for x in sys.argv[1:])
mib = size / 1048576
print("worker:  %8.1f MiB/s (%d ms)" % (mib / (wms / 1000), wms))
print("awscli:  %8.1f MiB/s (%d ms)" % (mib / (ams / 1000), ams))
print("ratio worker/awscli throughput: %.2f" % (ams / wms))
print("worker peak RSS (VmHWM): %.1f MiB" % (hwm / 1024))
EOF
