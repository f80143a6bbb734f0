#!/usr/bin/python3
# ib-build's org.osbuild.curl sources against a real HTTP server on
# loopback (about 5 s): items download several at a time, a 503 with
# Retry-After is tried again after the wait it asks for, redirects are
# followed, a wrong body is tried SRC_TRIES (3) times then fails as a source
# error with nothing stored and no part file left, a 404 fails; neither
# shows the URL's password. Prints the seconds the many-item build took.
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.environ.get("IB_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
B = os.environ.get("B", "build")
IB = os.path.join(TOP, B, "ib-build") if not os.path.isabs(B) else \
    os.path.join(B, "ib-build")
FAILS = []
ITEMS = 12
DELAY = 0.3     # s per item answer: a slow mirror


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def body_of(name):
    return hashlib.sha512(name.encode()).digest() * 512   # 32 KiB


class State:
    lock = threading.Lock()
    inflight = 0
    max_inflight = 0
    hits = {}       # path -> [monotonic times]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, data=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path
        with State.lock:
            State.inflight += 1
            State.max_inflight = max(State.max_inflight, State.inflight)
            State.hits.setdefault(path, []).append(time.monotonic())
            n = len(State.hits[path])
        try:
            if path.startswith("/item/"):
                time.sleep(DELAY)
                self.send(200, body_of(path))
            elif path == "/flaky":
                if n == 1:
                    self.send(503, b"busy", [("Retry-After", "1")])
                else:
                    self.send(200, body_of(path))
            elif path == "/redir":
                self.send(302, b"", [("Location", "/moved")])
            elif path == "/moved":
                self.send(200, body_of("/redir"))
            elif path == "/bad":
                self.send(200, b"not what the checksum says")
            else:
                self.send(404, b"no")
        finally:
            with State.lock:
                State.inflight -= 1


def sha(name):
    return "sha256:" + hashlib.sha256(body_of(name)).hexdigest()


def manifest(items):
    """items: {digest: url}; one stage references them all."""
    return {"version": "2",
            "sources": {"org.osbuild.curl": {"items": {
                d: {"url": u} for d, u in items.items()}}},
            "pipelines": [{"name": "image", "stages": [{
                "type": "org.osbuild.qemu",
                "options": {"filename": "x.vdi", "format": {"type": "vdi"}},
                "inputs": {"image": {"type": "org.osbuild.files",
                                     "origin": "org.osbuild.source",
                                     "references": sorted(items)}}}]}]}


def build(m, store):
    p = subprocess.run([IB, "--store", store, "--json", "-"],
                       input=json.dumps(m).encode(), capture_output=True,
                       timeout=120)
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = None
    return p.returncode, res, p.stderr.decode(errors="replace")


def stored(store, digest):
    return os.path.exists(os.path.join(store, "sources", "org.osbuild.curl",
                                       digest))


def source_error(res):
    return (res or {}).get("error", {}).get("type") == \
        "org.osbuild.error.source"


def body(tmp, base):
    store = os.path.join(tmp, "store")
    items = {sha("/item/%d" % i): base + "/item/%d" % i
             for i in range(ITEMS)}
    items[sha("/flaky")] = base + "/flaky"
    items[sha("/redir")] = base + "/redir"
    t0 = time.monotonic()
    rc, res, err = build(manifest(items), store)
    took = time.monotonic() - t0
    print("download of %d items (%.1f s each) took %.2f s" %
          (len(items), DELAY, took))
    check(not source_error(res), "every source downloaded (%s) %s" %
          (rc, err[-1500:]))
    check(all(stored(store, d) for d in items), "every item stored")
    check(State.max_inflight >= 2, "items download at once (at most %d "
          "in flight)" % State.max_inflight)
    fl = State.hits.get("/flaky", [])
    check(len(fl) == 2 and fl[1] - fl[0] >= 0.9,
          "503 tried again after its Retry-After (%s)" %
          [round(t - fl[0], 2) for t in fl])
    check(State.hits.get("/moved") is not None, "redirect followed")

    # The store serves a second build: no request at all.
    before = sum(len(v) for v in State.hits.values())
    rc, res, err = build(manifest(items), store)
    check(not source_error(res) and
          sum(len(v) for v in State.hits.values()) == before,
          "stored items are not downloaded again")

    bad = "sha256:" + "1" * 64
    cred = base.replace("http://", "http://user:hunter2secret@")
    rc, res, err = build(manifest({bad: cred + "/bad"}), store)
    out = (res or {}).get("error", {}).get("details", {}).get(
        "source", {}).get("output", "")
    check(rc == 1 and source_error(res) and "checksum mismatch" in out,
          "wrong body is a source error (%s)" % out)
    check("hunter2secret" not in json.dumps(res) + err,
          "the URL's password is not shown with the mismatch")
    check(len(State.hits.get("/bad", [])) == 3, "tried 3 times (%d)" %
          len(State.hits.get("/bad", [])))
    curl = os.path.join(store, "sources", "org.osbuild.curl")
    check(not stored(store, bad) and
          not [f for f in os.listdir(curl) if ".part-" in f],
          "nothing stored, no part file left")

    gone = "sha256:" + "2" * 64
    rc, res, err = build(manifest({gone: cred + "/gone"}), store)
    out = json.dumps(res) + err
    check(rc == 1 and source_error(res) and "HTTP 404" in out,
          "404 is a source error")
    check("hunter2secret" not in out, "the URL's password is not shown")


def main():
    if not os.access(IB, os.X_OK):
        print("ib-build is not built (%s): run make" % IB)
        return 77
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="t_builder_sources.")
    try:
        body(tmp, "http://127.0.0.1:%d" % srv.server_address[1])
    finally:
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d checks failed" % len(FAILS) if FAILS else "all checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
