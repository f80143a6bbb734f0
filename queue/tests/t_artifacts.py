#!/usr/bin/python3
"""Artifact uploads: streamed to disk (a 50 MiB body does not grow the
server's memory), Content-Length or chunked, Expect: 100-continue, hostile
names refused, PUT after the job finished is 500 code 1000, and the files
come back through the admin API and `ib-queue artifact`."""

import hashlib
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import (BASE, Server, assert_error, run, tmpdir)  # noqa: E402

S = Server("--request-job-timeout", "1")
OCTET = {"Content-Type": "application/octet-stream"}
MIB = 1 << 20


def blocks(n_mib, seed):
    """n_mib MiB of deterministic, non-repeating-looking bytes."""
    block = hashlib.sha256(seed).digest() * (MIB // 32)
    for i in range(n_mib):
        yield bytes([i % 251]) + block[1:]


def digest(chunks):
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def peak_rss_kib():
    with open("/proc/%d/status" % S.proc.pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])


def put(tok, name, body, headers=OCTET, chunked=False):
    c = S.conn(timeout=60)
    c.request("PUT", BASE + "/jobs/%s/artifacts/%s" % (tok, name), body=body,
              headers=headers, encode_chunked=chunked)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.headers, data


def test_big_streamed_upload_and_download():
    j = S.enqueue("t-art")
    _, tok = S.take(["t-art"])
    before = peak_rss_kib()
    hd = dict(OCTET, **{"Content-Length": str(50 * MIB)})
    st, rh, data = put(tok, "disk.qcow2", blocks(50, b"big"), hd)
    assert st == 200 and data == b"", (st, data)
    assert rh.get("Content-Type") is None
    grown = peak_rss_kib() - before
    assert grown < 20 * 1024, "server peak RSS grew by %d KiB" % grown
    st, rh, data = put(tok, "small.json", blocks(3, b"chunky"), chunked=True)
    assert st == 200, (st, data)
    st, _, _ = S.w("PATCH", "/jobs/" + tok, {"result": {"ok": 1}})
    assert st == 200
    arts = {a["name"]: a["size"] for a in S.show(j)["artifacts"]}
    assert arts == {"disk.qcow2": 50 * MIB, "small.json": 3 * MIB}, arts
    st, _, raw = S.call("GET", "/api/queue/v1/jobs/%s/artifacts/small.json"
                        % j)
    assert st == 200 and digest([raw]) == digest(blocks(3, b"chunky"))
    out = os.path.join(tmpdir(), "disk")
    S.cli("artifact", j, "disk.qcow2", "-o", out)
    with open(out, "rb") as f:
        assert digest(iter(lambda: f.read(MIB), b"")) == \
            digest(blocks(50, b"big"))
    # The job is finished: no more uploads.
    st, body, _ = S.w("PUT", "/jobs/%s/artifacts/late" % tok, b"x", OCTET)
    assert_error(st, body, 500, 1000)


def test_refusals():
    j = S.enqueue("t-art2")
    _, tok = S.take(["t-art2"])
    for name in ("..", ".hidden", "a%2Fb", "a..b", "%00x"):
        st, body, _ = S.w("PUT", "/jobs/%s/artifacts/%s" % (tok, name),
                          b"x", OCTET)
        assert_error(st, body, 400, 10)
    st, body, _ = S.w("PUT", "/jobs/%s/artifacts/a/b" % tok, b"x", OCTET)
    assert_error(st, body, 404, 11)
    st, body, _ = S.w("PUT", "/jobs/%s/artifacts/x" % tok, b"x",
                      {"Content-Type": "application/json"})
    assert_error(st, body, 415, 3)
    st, body, _ = S.w("PUT", "/jobs/nope/artifacts/x", b"x", OCTET)
    assert_error(st, body, 400, 7)
    st, body, _ = S.w("PUT", "/jobs/%s/artifacts/x" %
                      "00000000-0000-4000-8000-000000000009", b"x", OCTET)
    assert_error(st, body, 500, 1000)
    assert S.show(j)["state"] == "running"
    assert os.listdir(os.path.join(S.state_dir, "artifacts", "tmp", tok)) \
        == [], "refused uploads leave nothing behind"


def raw_put(path, length, send_body):
    """A PUT with Expect: 100-continue on a raw socket: (interim, final)."""
    s = socket.create_connection(("127.0.0.1", S.port), timeout=10)
    s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Type: "
               "application/octet-stream\r\nContent-Length: %d\r\n"
               "Expect: 100-continue\r\n\r\n" % (path, length)).encode())
    f = s.makefile("rb")
    first = f.readline()
    interim = None
    if b" 100 " in first:
        interim = first
        f.readline()
        if send_body:
            s.sendall(b"z" * length)
        first = f.readline()
    s.close()
    return interim, first


def test_expect_100_continue():
    j = S.enqueue("t-art3")
    _, tok = S.take(["t-art3"])
    interim, final = raw_put(BASE + "/jobs/%s/artifacts/e" % tok, 4096, True)
    assert interim is not None and b" 200 " in final, (interim, final)
    # A refused upload is refused before the client sends its body.
    interim, final = raw_put(BASE + "/jobs/%s/artifacts/e" %
                             "00000000-0000-4000-8000-000000000009",
                             10 * MIB, False)
    assert interim is None and b" 500 " in final, (interim, final)
    st, _, _ = S.w("PATCH", "/jobs/" + tok, {"result": {}})
    assert st == 200
    assert S.show(j)["artifacts"] == [{"name": "e", "size": 4096}]


if __name__ == "__main__":
    run([test_big_streamed_upload_and_download, test_refusals,
         test_expect_100_continue])
