#!/usr/bin/python3
# ib-build refuses out-of-range numbers of org.osbuild.users at validation
# (exit 2, osbuild's error shape) before any arithmetic: an expiredate near
# INT64_MAX used to overflow days * 86400 (UBSan aborts a SANITIZE=1
# build; a release build wrote a garbage date). No root, no network.
import json
import os
import subprocess
import sys
import tempfile

TOP = os.environ.get("IB_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
B = os.environ.get("B", "build")
IB = os.path.join(TOP, B, "ib-build") if not os.path.isabs(B) else \
    os.path.join(B, "ib-build")


def validate(users):
    manifest = {"version": "2", "pipelines": [{"name": "os", "stages": [
        {"type": "org.osbuild.users", "options": {"users": users}}]}]}
    with tempfile.TemporaryDirectory() as store:
        p = subprocess.run([IB, "--store", store, "--json", "-"],
                           input=json.dumps(manifest).encode(),
                           capture_output=True, timeout=60)
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = None
    return p.returncode, res, p.stderr.decode(errors="replace")


def main():
    if not os.access(IB, os.X_OK):
        print("skipped: ib-build is not built (%s)" % IB)
        return 77
    fails = 0
    for key, value in [("expiredate", 9223372036854775807),
                       ("expiredate", -9223372036854775807),
                       ("expiredate", 2932897), ("uid", 4294967295),
                       ("uid", -5), ("gid", 1e300)]:
        rc, res, err = validate({"alice": {key: value}})
        msgs = [e["message"] for e in (res or {}).get("errors", [])]
        ok = rc == 2 and any(key in m for m in msgs) and \
            "runtime error" not in err
        print(("ok   " if ok else "FAIL ") + "%s %r refused (exit %s, %s)" %
              (key, value, rc, msgs or err[-300:]))
        fails += not ok
    # In range: no validation error (the build itself needs root and a
    # tree, so only the validation outcome is looked at).
    rc, res, err = validate({"alice": {"expiredate": 20000, "uid": 1000,
                                       "gid": 4294967294}})
    msgs = [e["message"] for e in (res or {}).get("errors", [])]
    ok = not any("between" in m for m in msgs) and "runtime error" not in err
    print(("ok   " if ok else "FAIL ") + "in-range numbers pass (%s)" % msgs)
    fails += not ok
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
