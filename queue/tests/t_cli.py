#!/usr/bin/python3
"""The ib-queue subcommands (enqueue, list, show, result, wait, cancel,
events, workers) against a real server, /metrics in the Prometheus text
format, and the whole thing over a unix socket."""

import http.client
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import BASE, JSON, Server, run, tmpdir  # noqa: E402

S = Server("--request-job-timeout", "1")


def metrics(server):
    st, hd, data = server.call("GET", "/metrics")
    assert st == 200 and hd["Content-Type"].startswith("text/plain")
    out = {}
    for line in data.decode().splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-z_]+)(\{.*\})? (\d+)$", line)
        assert m, line
        out[m.group(1) + (m.group(2) or "")] = int(m.group(3))
    return out


def test_cli_job_lifecycle():
    d = tmpdir()
    with open(os.path.join(d, "args.json"), "w") as f:
        json.dump({"from": "file"}, f)
    a = S.cli("enqueue", "--type", "t-cli", "--args",
              "@" + os.path.join(d, "args.json")).stdout.strip()
    b = S.cli("enqueue", "--type", "t-cli-next", "--args", '{"x": 1}',
              "--depends", a).stdout.strip()
    listing = S.cli("list").stdout
    assert re.search(r"^%s\s+t-cli\s+pending\s+\S+Z\s+0$" % a, listing,
                     re.M), listing
    show = json.loads(S.cli("show", b).stdout)
    assert show["dependencies"] == [a] and show["args"] == {"x": 1}
    p = S.cli("wait", a, "--timeout", "0.5", check=False)
    assert p.returncode == 2, p
    job, tok = S.take(["t-cli"])
    assert job["args"] == {"from": "file"}
    st, _, _ = S.w("PATCH", "/jobs/" + tok, {"result": {"fine": True}})
    assert st == 200
    p = S.cli("wait", a, "--timeout", "5", check=False)
    assert p.returncode == 0 and p.stdout.strip() == "success", p
    assert json.loads(S.cli("result", a).stdout) == {"fine": True}
    assert S.cli("cancel", b).stdout.strip() == "canceled"
    p = S.cli("wait", b, check=False)
    assert p.returncode == 1 and p.stdout.strip() == "canceled", p
    assert S.cli("cancel", b, check=False).returncode == 3
    p = S.cli("show", "00000000-0000-4000-8000-000000000000", check=False)
    assert p.returncode == 3 and "no such job" in p.stderr, p
    events = [json.loads(x) for x in S.cli("events").stdout.splitlines()]
    kinds = [(e["job_id"], e["event"]) for e in events if e["job_id"] in
             (a, b)]
    assert kinds == [(a, "enqueued"), (b, "enqueued"), (a, "dequeued"),
                     (a, "finished"), (b, "canceled")], kinds


def test_watch_shows_the_chain_and_progress():
    a = S.enqueue("t-w-dep")
    b = S.enqueue("t-w-build", depends=[a])
    p = S.cli("watch", b, "--timeout", "0.3", "--interval", "0.1",
              check=False)
    assert p.returncode == 2, p
    assert re.search(r"^\[ +0s\] t-w-dep pending -> t-w-build pending$",
                     p.stdout, re.M), p.stdout
    _, tok = S.take(["t-w-dep"])
    S.w("PATCH", "/jobs/" + tok, {"result": {}})
    _, tok = S.take(["t-w-build"])
    st, _, _ = S.w("PATCH", "/jobs/" + tok, {"partial": {"progress": {
        "message": "Starting pipeline os\x1b[2J", "done": 1, "total": 4,
        "sub_progress": {"message": "pipeline: os", "done": 3,
                         "total": 10}}}})
    assert st == 200
    p = S.cli("watch", b, "--timeout", "0.3", "--interval", "0.1",
              check=False)
    assert p.returncode == 2, p
    # The worker's text reaches the terminal without its control bytes.
    assert "t-w-dep success -> t-w-build running: Starting pipeline os?[2J " \
        "1/4; pipeline: os 3/10" in p.stdout, p.stdout
    S.w("PATCH", "/jobs/" + tok, {"result": {}})
    p = S.cli("watch", b, "--interval", "0.1", check=False)
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "success", p


def test_wait_reports_failure():
    j = S.enqueue("t-cli-fail")
    _, tok = S.take(["t-cli-fail"])
    S.w("PATCH", "/jobs/" + tok, {"result": {"job_error": {"id": 10}}})
    p = S.cli("wait", j, check=False)
    assert p.returncode == 1 and p.stdout.strip() == "failure", p


def test_metrics():
    base = metrics(S)["composer_registered_workers"]
    S.register()
    S.register("aarch64")
    d1 = S.enqueue("t-m-dep")
    S.enqueue("t-m-dep")
    o = S.enqueue("t-m-build", depends=[d1])
    _, tok = S.take(["t-m-dep"])
    v = metrics(S)
    assert v['composer_pending_jobs{type="t-m-dep"}'] == 1
    assert v['composer_running_jobs{type="t-m-dep"}'] == 1
    assert v['composer_pending_jobs{type="t-m-build"}'] == 1
    assert v['composer_ready_jobs{type="t-m-build"}'] == 0
    assert v['composer_pending_jobs{type="osbuild"}'] == 0
    assert v["composer_registered_workers"] == base + 2
    assert v['composer_registered_workers{arch="aarch64"}'] == 1
    S.w("PATCH", "/jobs/" + tok, {"result": {"ok": 1}})
    _, tok = S.take(["t-m-dep"])
    S.w("PATCH", "/jobs/" + tok, {"result": {"job_error": {"id": 20}}})
    v = metrics(S)
    assert v['composer_ready_jobs{type="t-m-build"}'] == 1
    S.admin("POST", "/jobs/%s/cancel" % o)
    v = metrics(S)
    fin = 'composer_finished_jobs_total{type="%s",status="%s"}'
    assert v[fin % ("t-m-dep", "success")] == 1
    assert v[fin % ("t-m-dep", "failure")] == 1
    assert v[fin % ("t-m-build", "canceled")] == 1
    assert v['composer_pending_jobs{type="t-m-dep"}'] == 0
    assert v['composer_running_jobs{type="t-m-dep"}'] == 0


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path_ = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path_)


def test_unix_socket():
    path = os.path.join(tmpdir(), "queue.sock")
    u = Server("--request-job-timeout", "1", unix=path)
    j = u.cli("enqueue", "--type", "depsolve", "--args", "{}").stdout.strip()
    c = UnixConnection(path)
    c.request("POST", BASE + "/jobs", body=json.dumps(
        {"types": ["depsolve"], "arch": "x86_64"}), headers=JSON)
    r = c.getresponse()
    job = json.loads(r.read())
    assert r.status == 201 and job["id"] == j, job
    c.request("PATCH", job["location"], body=b'{"result":{"u":1}}',
              headers=JSON)
    r = c.getresponse()
    r.read()
    assert r.status == 200
    assert json.loads(u.cli("result", j).stdout) == {"u": 1}
    u.stop()
    assert not os.path.exists(path), "socket removed on SIGTERM"


if __name__ == "__main__":
    run([test_cli_job_lifecycle, test_watch_shows_the_chain_and_progress,
         test_wait_reports_failure, test_metrics,
         test_unix_socket])
