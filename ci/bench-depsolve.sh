#!/bin/sh
# Depsolve time of build/ib-depsolve for a 300-package set against Debian
# bookworm main (the apt mirror this machine uses), cold (empty metadata
# cache) and warm (cached .solv, and cached but expired so InRelease is
# checked again), beside `apt-get install --simulate` of the same set.
# Goal: warm under 1 s. Exits 77 when the mirror cannot be reached.
# Usage: ci/bench-depsolve.sh [COUNT]   (B=build dir, default build)
set -eu

count=${1:-300}
B=${B:-build}
ds="$B/ib-depsolve"
[ -x "$ds" ] || { echo "bench-depsolve: $ds is not built" >&2; exit 77; }

# The mirror of the first deb822 or one-line source for bookworm.
mirror=$(awk '
	/^URIs:/ { uri = $2 }
	/^Suites:/ && / bookworm( |$)/ && uri != "" { print uri; exit }
	/^deb / && $3 == "bookworm" { print $2; exit }
' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
if ! curl -fsS -o /dev/null --max-time 20 "$mirror/dists/bookworm/InRelease"; then
	echo "bench-depsolve: $mirror is not reachable; skipped"
	exit 77
fi

tmp=$(mktemp -d /tmp/ib-bench-depsolve.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT INT TERM

ms() { date +%s%3N; }

# The set: every required, important and standard package, then shared
# libraries (Multi-Arch: same, made to coexist, and without Conflicts or
# Breaks of their own) by name, up to COUNT.
curl -fsS --max-time 120 -o "$tmp/Packages.xz" \
    "$mirror/dists/bookworm/main/binary-amd64/Packages.xz"
xz -dc "$tmp/Packages.xz" | awk -v n="$count" '
	/^Package:/ { p = $2; pri = ""; ma = ""; sec = ""; cx = 0 }
	/^(Conflicts|Breaks):/ { cx = 1 }
	/^Priority:/ { pri = $2 }
	/^Multi-Arch:/ { ma = $2 }
	/^Section:/ { sec = $2 }
	/^$/ {
		if (pri == "required" || pri == "important" || pri == "standard")
			base[p] = 1
		else if (ma == "same" && sec == "libs" && !cx && p ~ /^lib/ &&
		    p !~ /-(dbg|dev)$/)
			libs[p] = 1
	}
	END {
		k = 0
		for (p in base) { print p; k++ }
		m = asorti(libs, sorted)
		for (i = 1; i <= m && k < n; i++) { print sorted[i]; k++ }
	}' | sort -u | head -n "$count" >"$tmp/set"
echo "bench-depsolve: $(wc -l <"$tmp/set") packages, mirror $mirror"

request() {
	/usr/bin/python3 - "$tmp/set" "$tmp/cache" "$mirror" "$1" <<'PY'
import json, sys
names = open(sys.argv[1]).read().split()
print(json.dumps({
    "command": "depsolve", "arch": "x86_64", "releasever": "12",
    "cachedir": sys.argv[2],
    "arguments": {"repos": [{
        "id": "bookworm", "metadata_expire": sys.argv[4],
        "baseurl": ["deb+%s?suite=bookworm&components=main" % sys.argv[3]]}],
        "transactions": [{"package-specs": names,
                          "install_weak_deps": False}]}}))
PY
}

solve() {	# label expire; prints wall and CPU (user+sys) time
	request "$2" >"$tmp/req.json"
	/usr/bin/python3 - "$ds" "$tmp/req.json" "$1" "$tmp/last" <<'PY' || exit 1
import json, resource, subprocess, sys, time
ds, req, label, last = sys.argv[1:]
before = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.monotonic()
with open(req, "rb") as f:
    p = subprocess.run([ds], stdin=f, capture_output=True)
wall = (time.monotonic() - t0) * 1000
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ((after.ru_utime - before.ru_utime) +
       (after.ru_stime - before.ru_stime)) * 1000
if p.returncode != 0:
    sys.exit("bench-depsolve: %s failed: %s" % (label, p.stdout[:600]))
n = len(json.loads(p.stdout)["packages"])
print("%-40s %6d ms wall %6d ms cpu  %5d packages" % (
    "ib-depsolve " + label, wall, cpu, n))
open(last, "w").write("%d %d\n" % (wall, cpu))
PY
}

solve "cold (download, parse)" 1h
solve "warm (cached .solv)" 1h
read -r warm warmcpu <"$tmp/last"
solve "warm (twice)" 1h
solve "expired (InRelease checked)" 0

t0=$(ms)
# shellcheck disable=SC2046
if apt-get install --simulate -qq -o Debug::NoLocking=1 \
    --no-install-recommends $(cat "$tmp/set") >"$tmp/apt.out" 2>&1; then
	t1=$(ms)
	printf '%-40s %6d ms wall  %5d packages to install\n' \
	    "apt-get install --simulate" "$((t1 - t0))" \
	    "$(grep -c '^Inst ' "$tmp/apt.out" || true)"
else
	echo "apt-get install --simulate failed: $(tail -3 "$tmp/apt.out")"
fi
echo "bench-depsolve: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
if [ "$warm" -lt 1000 ]; then
	echo "bench-depsolve: warm depsolve ${warm} ms wall (${warmcpu} ms cpu), under the 1 s goal"
else
	echo "bench-depsolve: warm depsolve ${warm} ms wall (${warmcpu} ms cpu), OVER the 1 s goal"
fi
