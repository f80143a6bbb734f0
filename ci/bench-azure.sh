#!/bin/sh
# Azure page-blob upload cost follows the data, not the disk size: an
# 8 GiB sparse VHD holding 200 MiB of data (50 scattered 4 MiB extents)
# against a dense 200 MiB VHD, each uploaded by the worker binary through
# the org.osbuild.azure.image target to the real azurite on loopback (the
# Azure AD/ARM control plane is the test double). osbuild is the test
# double, wrapped to write the data extents into its sparse export.
# Prints bytes sent, pages sent and skipped, and the upload time of each.
# Asserts nothing. Usage: ci/bench-azure.sh [SPARSE_BYTES [DATA_MIB]]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
export B IB_TOP="$top"
[ -x "$top/$B/ib-worker" ] || { echo "bench-azure: $B/ib-worker is not built" >&2; exit 77; }
size=${1:-8589934592}
data_mib=${2:-200}

tmp=$(mktemp -d /tmp/ib-bench-azure.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

# The wrapper: the osbuild double makes a sparse export, then the data
# extents are written into it (every SIZE/EXTENTS bytes, 4 MiB each).
cat >"$tmp/osbuild" <<WRAP
#!/bin/sh
set -eu
"$top/worker/tests/doubles/osbuild" "\$@"
out=""
prev=""
for a in "\$@"; do
	[ "\$prev" = "--output-directory" ] && out=\$a
	prev=\$a
done
[ -n "\$out" ] || exit 0
f="\$out/vhd/disk.vhd"
[ -f "\$f" ] || exit 0
[ "\${IB_BENCH_DENSE:-0}" = 1 ] && exit 0
n=\$(($data_mib / 4))
i=0
while [ "\$i" -lt "\$n" ]; do
	seek=\$(( $size / 4194304 / n * i ))
	head -c 4194304 /dev/urandom | dd of="\$f" bs=4194304 seek="\$seek" conv=notrunc status=none
	i=\$((i + 1))
done
WRAP
chmod +x "$tmp/osbuild"

BENCH_TMP=$tmp BENCH_SIZE=$size BENCH_DATA=$((data_mib * 1048576)) \
    /usr/bin/python3 - <<'PY'
import json, os, re, sys, time
top = os.environ["IB_TOP"]
sys.path.insert(0, os.path.join(top, "worker", "tests", "lib"))
import testpath
import azureenv, harness
from azure import AzureDouble

tmp = os.environ["BENCH_TMP"]
sparse_size = int(os.environ["BENCH_SIZE"])
dense_size = int(os.environ["BENCH_DATA"])
started = []
try:
    az = azureenv.Azurite(tmp, {"ibbench": azureenv.new_key()})
    started.append(az)
    arm = AzureDouble(az, "t-1", "c-1", "s-1", "sub-1", "rg-1")
    started.append(arm)
    arm.accounts["ibbench"] = {"tags": {"imageBuilderStorageAccount":
                                        "location=eastus"},
                               "location": "eastus", "state": "Succeeded"}
    creds = os.path.join(tmp, "creds")
    with open(creds, "w") as f:
        f.write('client_id = "c-1"\nclient_secret = "s-1"\n')
    q = harness.Queue(tmp)
    started.append(q)
    print("%-28s %14s %8s %8s %9s" % ("export", "bytes sent", "pages",
                                       "skipped", "upload s"))
    for label, size, dense in (("sparse %d MiB, %d MiB data" % (
            sparse_size >> 20, dense_size >> 20), sparse_size, "0"),
            ("dense %d MiB" % (dense_size >> 20), dense_size, "1")):
        w = harness.Worker(tmp, "http://" + q.address,
                           '[worker]\nosbuild = "%s/osbuild"\n[azure]\n'
                           'credentials = "%s"\n' % (tmp, creds),
                           name="worker-" + dense,
                           env={"IB_AZURE_LOGIN_URL": arm.url,
                                "IB_AZURE_ARM_URL": arm.url,
                                "IB_AZURE_POLL_MS": "50",
                                "IB_BENCH_DENSE": dense})
        started.append(w)
        with open(os.path.join(top, "worker", "tests", "fixtures",
                  "composer-v105-requestjob-osbuild-response.json")) as f:
            job = json.load(f)
        args = job["args"]
        man = job["dynamic_args"][0]["data"]
        man["__double__"] = {"size": size, "sparse": "0" if dense == "1"
                             else "1"}
        man["pipelines"][-1]["name"] = "vhd"
        man["pipelines"][-1]["stages"][-1]["options"]["filename"] = "disk.vhd"
        args["manifest"] = man
        args["targets"] = [{"uuid": "u", "image_name": "bench-" + dense,
                            "name": "org.osbuild.azure.image",
                            "options": {"tenant_id": "t-1",
                                        "subscription_id": "sub-1",
                                        "resource_group": "rg-1",
                                        "location": "eastus"},
                            "osbuild_artifact": {"export_filename":
                                                 "disk.vhd",
                                                 "export_name": "vhd"}}]
        jid = q.enqueue("osbuild", args)
        q.wait(jid, 1800)
        res = q.result(jid)
        m = re.search(r"uploaded (\d+) bytes in (\d+) pages, skipped (\d+) "
                      r"empty pages, in (\d+) ms", w.log())
        if not res.get("success") or not m:
            print("%-28s failed: %s" % (label, json.dumps(
                res.get("job_error"))[:300]))
        else:
            print("%-28s %14s %8s %8s %9.2f" % (label, m.group(1), m.group(2),
                                                m.group(3),
                                                int(m.group(4)) / 1000))
        w.stop()
finally:
    for s in reversed(started):
        try:
            s.stop()
        except Exception:
            pass
PY
