#!/usr/bin/python3
"""The worker API table of PROTOCOL.md, end to end with raw http.client
against a real ib-queue: answers, status codes, error bodies, headers."""

import json
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import (BASE, JSON, Server, assert_error, media_type,  # noqa
                      run, wait_for)

S = Server("--request-job-timeout", "1")


def test_status_and_openapi():
    st, body, hd = S.w("GET", "/status")
    assert st == 200 and body["status"] == "OK", body
    assert hd["Content-Type"] == "application/json; charset=UTF-8"
    st, spec, hd = S.w("GET", "/openapi")
    assert st == 200 and media_type(hd) == "application/json"
    assert spec["info"]["version"] == "1"
    assert "UpdateJobPartial" in spec["components"]["schemas"]
    assert "/jobs/{token}/artifacts/{name}" in spec["paths"]
    st, body, _ = S.w("GET", "/errors/5")
    assert st == 200 and body["code"] == "IMAGE-BUILDER-WORKER-5", body


def test_workers():
    wid = S.register()
    st, hd, data = S.call("POST", BASE + "/workers/%s/status" % wid, {})
    assert st == 200 and data == b"", (st, data)
    assert hd.get("Content-Type") is None, hd.items()
    # The 2026 composer (the default generation) fails to parse the path's
    # uuid in its generated wrapper: 500, 10000 (2024: 400, 17; see
    # t_generation.py).
    st, body, _ = S.w("POST", "/workers/not-a-uuid/status", {})
    assert_error(st, body, 500, 10000)
    st, body, _ = S.w("POST", "/workers/%s/status" %
                      "00000000-0000-4000-8000-000000000000", {})
    assert_error(st, body, 400, 18)


def test_no_job_is_204_with_empty_body():
    t0 = time.monotonic()
    st, hd, data = S.call("POST", BASE + "/jobs",
                          {"types": ["t-none"], "arch": "x86_64"})
    assert st == 204 and data == b"", (st, data)
    assert media_type(hd) == "application/json", hd.items()
    assert hd.get("Content-Length") is None, hd.items()
    assert 0.9 < time.monotonic() - t0 < 5


def test_content_type_and_json_errors():
    for ctype in (None, "text/plain", "application/json; charset=utf-8"):
        hd = {} if ctype is None else {"Content-Type": ctype}
        st, body, _ = S.w("POST", "/workers", b'{"arch":"x86_64"}', hd)
        assert_error(st, body, 415, 3)
    for raw in (b"{", b"", b"[1]", b'"x"', b'{"arch": NaN}', b"\xff\xfe"):
        st, body, _ = S.w("POST", "/workers", raw, JSON)
        assert_error(st, body, 400, 10)
    st, body, _ = S.w("POST", "/jobs", {"types": "depsolve", "arch": "x"})
    assert_error(st, body, 400, 10)
    st, body, _ = S.w("POST", "/jobs", {"types": ["x"], "arch": "x86_64",
                                        "worker_id": "nope"})
    assert_error(st, body, 400, 17)


def raw(request):
    """Send raw bytes, return the status line and the body of the answer."""
    s = socket.create_connection(("127.0.0.1", S.port), timeout=10)
    s.sendall(request)
    f = s.makefile("rb")
    status = f.readline()
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = f.read(length)
    s.close()
    return status, json.loads(body) if body else None


def test_bodies():
    # Too big: refused from the header, before any byte of the body.
    status, body = raw(b"POST " + BASE.encode() + b"/workers HTTP/1.1\r\n"
                       b"Host: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n" % (100 << 20))
    assert b" 413 " in status and body["code"] == "IMAGE-BUILDER-WORKER-10"
    # Chunked JSON is fine.
    status, body = raw(b"POST " + BASE.encode() + b"/workers HTTP/1.1\r\n"
                       b"Host: x\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n"
                       b"5\r\n{\"arc\r\n"
                       b"c\r\nh\":\"x86_64\"}\r\n0\r\n\r\n")
    assert b" 201 " in status and body["worker_id"], (status, body)
    status, body = raw(b"POST " + BASE.encode() + b"/workers HTTP/1.1\r\n"
                       b"Host: x\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert b" 400 " in status, status
    status, body = raw(b"GET " + BASE.encode() + b"/jobs/%ff%fe HTTP/1.1\r\n"
                       b"Host: x\r\n\r\n")
    assert b" 404 " in status and body["id"] == "11", (status, body)


def test_garbage_does_not_hurt():
    rnd = random.Random(7)
    samples = [b"\x00" * 64, b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
               b"POST " + BASE.encode() + b"/jobs HTTP/1.1\r\n"
               b"Content-Length: -5\r\n\r\n",
               b"PATCH " + BASE.encode() + b"/jobs/x HTTP/1.1\r\n"
               b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
               b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"]
    samples += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
                for _ in range(30)]
    for data in samples:
        s = socket.create_connection(("127.0.0.1", S.port), timeout=10)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
    st, body, _ = S.w("GET", "/status")
    assert st == 200 and body["status"] == "OK"


def test_routes():
    for method, path in (("GET", "/nope"), ("GET", "/jobs/a/b"),
                         ("GET", "/status/"), ("POST", "/workers/x")):
        st, body, _ = S.w(method, path, {})
        assert_error(st, body, 404, 11)
    st, body, _ = S.call("GET", "/elsewhere")[0], None, None
    assert st == 404
    st, body, _ = S.w("DELETE", "/status")
    assert_error(st, body, 405, 12)


def test_server_side_types_refused():
    for t in ("manifest-id-only", "bootc-pre-manifest"):
        st, body, _ = S.request_job(["depsolve", t])
        assert_error(st, body, 400, 15)


def test_job_with_dependencies():
    a = S.enqueue("t-dep-a", {"n": "a"})
    b = S.enqueue("t-dep-b", {"n": "b"})
    c = S.enqueue("t-dep-c", {"n": "c"}, depends=[b, a])
    # c waits for both dependencies.
    st, _, _ = S.request_job(["t-dep-c"])
    assert st == 204
    job, tok_a = S.take(["t-dep-a"])
    assert job["id"] == a and job["type"] == "t-dep-a" and \
        job["args"] == {"n": "a"} and "dynamic_args" not in job, job
    assert job["kind"] == "RequestJob" and job["href"] == BASE + "/jobs"
    assert tok_a != a
    assert job["location"] == BASE + "/jobs/" + tok_a
    assert job["artifact_location"] == BASE + "/jobs/%s/artifacts/" % tok_a
    st, _, _ = S.w("PATCH", "/jobs/" + tok_a, {"result": {"r": "a"}})
    assert st == 200
    st, _, _ = S.request_job(["t-dep-c"])
    assert st == 204, "c must wait for b too"
    _, tok_b = S.take(["t-dep-b"])
    st, _, _ = S.w("PATCH", "/jobs/" + tok_b, {"result": {
        "job_error": {"id": 10, "reason": "boom"}}})
    assert st == 200
    job, _ = S.take(["t-dep-c"])
    assert job["id"] == c
    assert job["dynamic_args"] == [{"job_error": {"id": 10, "reason": "boom"}},
                                   {"r": "a"}], job
    assert S.show(b)["state"] == "failure" and S.show(a)["state"] == "success"


def test_osbuild_arch():
    j = S.enqueue("osbuild", {"x": 1}, arch="aarch64")
    st, _, _ = S.request_job(["osbuild"], arch="x86_64")
    assert st == 204
    job, _ = S.take(["osbuild"], arch="aarch64")
    assert job["id"] == j and job["type"] == "osbuild"


def test_heartbeat_get_and_tokens():
    j = S.enqueue("t-hb")
    wid = S.register()
    _, tok = S.take(["t-hb"], worker_id=wid)
    for _ in range(3):
        st, body, hd = S.w("GET", "/jobs/" + tok)
        assert st == 200 and body["canceled"] is False, body
        assert hd["Content-Type"] == "application/json; charset=UTF-8"
    show = S.show(j)
    assert len(show["heartbeats"]) == 3 and show["worker_id"] == wid, show
    assert show["tokens"][0]["token"] == tok and show["state"] == "running"
    st, body, _ = S.w("GET", "/jobs/not-a-token")
    assert_error(st, body, 400, 8)
    st, body, _ = S.w("GET", "/jobs/00000000-0000-4000-8000-000000000001")
    assert_error(st, body, 404, 5)
    st, body, _ = S.w("PATCH", "/jobs/not-a-token", {"result": {}})
    assert_error(st, body, 400, 7)
    st, body, _ = S.w("PATCH", "/jobs/" + tok, b"{", JSON)
    assert_error(st, body, 400, 10)
    st, body, _ = S.w("PATCH", "/jobs/" + tok, b'{"result":{}}',
                      {"Content-Type": "text/json"})
    assert_error(st, body, 415, 3)
    st, body, _ = S.w("PATCH", "/jobs/" + tok, {"result": {"ok": 1}})
    assert st == 200 and body["kind"] == "UpdateJobResponse", body
    # The token is gone with the finished job.
    st, body, _ = S.w("GET", "/jobs/" + tok)
    assert_error(st, body, 404, 5)
    st, body, _ = S.w("PATCH", "/jobs/" + tok, {"result": {"ok": 2}})
    assert_error(st, body, 404, 5)
    assert S.admin("GET", "/jobs/%s/result" % j) == {"ok": 1}


def test_cancel():
    j = S.enqueue("t-cancel")
    _, tok = S.take(["t-cancel"])
    assert S.admin("POST", "/jobs/%s/cancel" % j)["state"] == "canceled"
    st, body, _ = S.w("GET", "/jobs/" + tok)
    assert st == 200 and body["canceled"] is True, body
    # As both composer generations: the job queue's "job was canceled"
    # is the handler's catch-all, a 500 (1010 for a partial update).
    st, body, _ = S.w("PATCH", "/jobs/" + tok, {"result": {}})
    assert_error(st, body, 500, 1004)
    st, body, _ = S.w("PATCH", "/jobs/" + tok, {"partial": {"progress": {}}})
    assert_error(st, body, 500, 1010)
    st, body, _ = S.w("GET", "/jobs/" + tok)
    assert st == 200 and body["canceled"] is True, body
    S.admin("POST", "/jobs/%s/cancel" % j, expect=409)
    # A pending job is simply canceled, and so is what depends on it.
    p = S.enqueue("t-cancel")
    q = S.enqueue("t-cancel-dep", depends=[p])
    S.admin("POST", "/jobs/%s/cancel" % p)
    assert S.show(q)["state"] == "canceled"
    st, _, _ = S.request_job(["t-cancel", "t-cancel-dep"])
    assert st == 204


def test_partial_update():
    j = S.enqueue("t-partial")
    _, tok = S.take(["t-partial"])
    st, _, _ = S.w("PATCH", "/jobs/" + tok, {"partial": {"progress": 5}})
    assert st == 200
    show = S.show(j)
    assert show["state"] == "running" and show["partial"] == {"progress": 5}
    st, _, _ = S.w("GET", "/jobs/" + tok)
    assert st == 200
    st, _, _ = S.w("PATCH", "/jobs/" + tok, {"result": {"done": True}})
    assert st == 200 and S.show(j)["state"] == "success"


def test_long_poll_wakes_at_once():
    got = {}
    S2 = Server()  # holds forever, like composer by default
    th = threading.Thread(target=lambda: got.update(
        resp=S2.request_job(["t-wake"], timeout=30), t1=time.monotonic()))
    th.start()
    wait_for(lambda: b"composer_waiting_requests 1" in
             S2.call("GET", "/metrics")[2], what="held request")
    t0 = time.monotonic()
    j = S2.enqueue("t-wake")
    th.join(10)
    assert got["resp"][0] == 201 and got["resp"][1]["id"] == j
    assert got["t1"] - t0 < 0.5, got["t1"] - t0
    S2.stop()


def test_vanished_long_poll_takes_no_job():
    # A worker that gave up its request must not swallow the next job.
    sock = socket.create_connection(("127.0.0.1", S.port))
    body = b'{"types":["t-vanish"],"arch":"x86_64"}'
    sock.sendall(b"POST " + BASE.encode() + b"/jobs HTTP/1.1\r\n"
                 b"Host: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(0.2)
    sock.close()
    time.sleep(0.1)
    j = S.enqueue("t-vanish")
    time.sleep(0.3)
    show = S.show(j)
    assert show["state"] == "pending" and show["tokens"] == [], show
    job, _ = S.take(["t-vanish"])
    assert job["id"] == j


def test_keepalive_sequence():
    # Several calls on one connection, including refused ones with bodies.
    c = S.conn()
    for path, body, want in (("/status", None, 200),
                             ("/workers", b"{", 400),
                             ("/workers", b'{"arch":"x86_64"}', 201),
                             ("/status", None, 200)):
        c.request("GET" if body is None else "POST", BASE + path, body=body,
                  headers=JSON if body else {})
        r = c.getresponse()
        r.read()
        assert r.status == want, (path, r.status)
    c.close()


if __name__ == "__main__":
    run([test_status_and_openapi, test_workers,
         test_no_job_is_204_with_empty_body,
         test_content_type_and_json_errors, test_bodies,
         test_garbage_does_not_hurt, test_routes,
         test_server_side_types_refused, test_job_with_dependencies,
         test_osbuild_arch, test_heartbeat_get_and_tokens, test_cancel,
         test_partial_update, test_long_poll_wakes_at_once,
         test_vanished_long_poll_takes_no_job, test_keepalive_sequence])
