#!/usr/bin/python3
"""`make loadtest SHORT=1` as make check runs it: ib-loadtest local --short
(the queue, 3 worker processes, the fault relay, s3rver; workers killed
and frozen, the queue restarted, S3 down, slow and cut connections) must
pass its thresholds, and its report.json must hold what an operator reads:
a record per compose with queue wait, time to finish, outcome and error
class, the SLI figures, each threshold with `pass`, the faults that
happened, the plots as PNG, and the simulated fleet's queue wait. Every
compose the report counts as uploaded to S3 is an object in s3rver."""

import json
import os
import subprocess
import sys
import time

TOP = os.environ.get("IB_TOP") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.realpath(__file__))))
B = os.path.join(TOP, os.environ.get("B", "build"))
OUT = os.path.join(B, "loadtest-short")


def main():
    if not os.access(os.path.join(B, "ib-worker"), os.X_OK):
        print("skipped: %s/ib-worker is not built" % B)
        return 77
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(TOP, "loadtest", "ib-loadtest"),
                        "local", "--short", "--out", OUT],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    took = time.monotonic() - t0
    print(p.stdout[-6000:])
    if "node is not installed" in p.stdout or "npm ci for s3rver" in \
            p.stdout:
        print("skipped: no s3rver")
        return 77
    fails = []

    def check(cond, what):
        if not cond:
            fails.append(what)
            print("FAIL:", what)
    check(p.returncode == 0, "ib-loadtest local --short exit %d" %
          p.returncode)
    check(took <= 120, "the short load took %.0fs (at most 120)" % took)
    with open(os.path.join(OUT, "report.json")) as f:
        rep = json.load(f)
    recs = rep["records"]
    check(len(recs) >= 20, "%d composes" % len(recs))
    check(rep["pass"] is True and all(r["pass"] for r in rep["thresholds"]),
          "thresholds: %s" % [r for r in rep["thresholds"] if not r["pass"]])
    names = {r["name"] for r in rep["thresholds"]}
    for n in ("queue_wait_p95_s", "lost", "error_rate[build]",
              "error_rate[upload]", "error_rate[api]",
              "duration_p95_s[test-small]"):
        check(n in names, "threshold %s judged" % n)
    for r in recs:
        for k in ("kind", "image_type", "target", "submitted", "queue_wait",
                  "duration", "outcome", "error_class"):
            check(k in r, "record %s has %s" % (r["n"], k))
    check(all(r["outcome"] in ("success", "failure", "canceled", "rejected")
              for r in recs), "every compose reached an end")
    normal = [r for r in recs if r["kind"] == "normal"]
    ok = [r for r in normal if r["outcome"] == "success"]
    check(all(r["queue_wait"] >= 0 and r["duration"] >= r["queue_wait"]
              for r in ok), "waits and durations are ordered")
    # A normal compose succeeds, or fails in an upload hit by a fault (the
    # thresholds judge how many); nothing else.
    bad = [r for r in normal if r not in ok and r["error_class"] != "upload"]
    check(len(ok) >= 0.8 * len(normal) and not bad,
          "%d of %d normal composes succeeded; others: %s" % (
              len(ok), len(normal), [(r["n"], r["error"]) for r in bad]))
    for r in recs:
        if r["kind"] == "bad_request":
            check(r["outcome"] == "rejected" and r["submit_status"] == 400,
                  "bad request %s refused with 400" % r["n"])
        if r["kind"] == "broken_build":
            check(r["outcome"] == "failure" and r["error"]["id"] == 10,
                  "broken build %s failed as a build (%s)" % (r["n"],
                                                               r["error"]))
    kinds = {r["kind"] for r in recs}
    check({"normal", "bad_request", "broken_build", "cancel"} <= kinds,
          "the mix has every kind: %s" % kinds)
    faults = {f["fault"] for f in rep["faults"]}
    for f in ("kill_worker", "freeze_worker", "restart_queue", "s3_down",
              "slow", "cut"):
        check(f in faults, "fault %s happened" % f)
    for png in ("depth.png", "workers.png", "waits.png"):
        path = os.path.join(OUT, png)
        ok = os.path.exists(path)
        if ok:
            with open(path, "rb") as f:
                ok = f.read(8) == b"\x89PNG\r\n\x1a\n"
        check(ok, "%s is a PNG" % png)
    check(any("composer_running_jobs" in s for s in rep["samples"]),
          "queue metrics were sampled")
    sim = rep["simulation"]
    check(sim is None or sim["wait_p95_s"] >= 0 and sim["completed"] ==
          sim["jobs"], "the simulation ran on the measured load: %s" %
          (sim and {k: v for k, v in sim.items() if k != "waits"}))
    # What the report counts as uploaded is in s3rver, object by object.
    s3ok = [r for r in recs if r["target"] == "aws.s3" and
            r["outcome"] == "success"]
    bucket = os.path.join(OUT, "stack", "s3rver-data", "bkt")
    check(len(s3ok) > 0, "some composes uploaded to S3")
    for r in s3ok:
        key = (r.get("upload") or "").split("/bkt/", 1)[-1]
        check(key.startswith("composer-api-") and os.path.exists(
            os.path.join(bucket, key + "._S3rver_object")),
            "compose %s: its S3 object %r is in s3rver" % (r["n"], key))
    print("%d composes in %.0fs; %d failures" % (len(recs), took,
                                                 len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
