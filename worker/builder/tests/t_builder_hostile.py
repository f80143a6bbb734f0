#!/usr/bin/python3
# ib-build against hostile manifests, without root or a network:
# - out-of-range numbers of org.osbuild.users are refused at validation
#   (exit 2, osbuild's error shape) before any arithmetic: an expiredate
#   near INT64_MAX used to overflow days * 86400 (UBSan aborts a
#   SANITIZE=1 build; a release build wrote a garbage date);
# - curl source URLs with user:password@ and a presigned query string
#   (served on loopback, then unreachable) appear only redacted in the
#   output, the log and the monitor stream.
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

SECRETS = ("hunter2pw", "SECRETSIG", "sigSECRET")
QUERY = "?X-Amz-Signature=SECRETSIG&sig=sigSECRET"

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


def serve(body):
    """A loopback server answering body to the presigned path only."""
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            ok = self.path == "/disk.raw" + QUERY
            self.send_response(200 if ok else 404)
            data = body if ok else b"no"
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def build_with_source(url, digest):
    manifest = {"version": "2",
                "sources": {"org.osbuild.curl": {"items": {digest: {
                    "url": url}}}},
                "pipelines": [{"name": "image", "stages": [{
                    "type": "org.osbuild.qemu",
                    "options": {"filename": "d.qcow2",
                                "format": {"type": "qcow2"}},
                    "inputs": {"image": {
                        "type": "org.osbuild.files",
                        "origin": "org.osbuild.source",
                        "references": [digest]}}}]}]}
    r, w = os.pipe()
    with tempfile.TemporaryDirectory() as store:
        p = subprocess.Popen([IB, "--store", store, "--json",
                              "--monitor=JSONSeqMonitor",
                              "--monitor-fd=%d" % w, "-"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, pass_fds=(w,))
        os.close(w)
        with os.fdopen(r, "rb") as reader:
            so, se = p.communicate(json.dumps(manifest).encode(),
                                   timeout=120)
            mon = reader.read()
    return p.returncode, (so + se + mon).decode(errors="replace")


def source_urls():
    fails = 0
    body = os.urandom(1 << 16)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    srv = serve(body)
    url = "http://admin:hunter2pw@127.0.0.1:%d/disk.raw%s" % (
        srv.server_address[1], QUERY)
    rc, text = build_with_source(url, digest)
    ok = "Downloaded http://<redacted>@127.0.0.1" in text and \
        not any(x in text for x in SECRETS)
    print(("ok   " if ok else "FAIL ") + "downloaded source shown redacted "
          "(exit %s)" % rc)
    fails += not ok
    srv.shutdown()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    url = "http://admin:hunter2pw@127.0.0.1:%d/disk.raw%s" % (dead, QUERY)
    rc, text = build_with_source(url, digest)
    ok = rc != 0 and "<redacted>" in text and \
        not any(x in text for x in SECRETS)
    print(("ok   " if ok else "FAIL ") + "failed source shown redacted "
          "(exit %s)" % rc)
    if not ok:
        print(text[-2000:])
    fails += not ok
    return fails


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
    fails += source_urls()
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
