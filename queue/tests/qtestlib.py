"""Helpers for the ib-queue tests: start a real server on a free loopback
port with a temporary state dir (killed at exit), raw HTTP calls, the admin
API, JWTs and openssl certificates."""

import atexit
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "..", "worker", "tests",
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers on the path)
from jwtutil import jwt_hs256 as make_jwt  # noqa: E402
IB_QUEUE = os.path.join(os.path.dirname(HERE), "ib-queue")
BASE = "/api/worker/v1"
JSON = {"Content-Type": "application/json"}

_servers = []
_tmpdirs = []


def tmpdir():
    d = tempfile.mkdtemp(prefix="ibq-test-")
    _tmpdirs.append(d)
    return d


@atexit.register
def _cleanup():
    for s in _servers:
        s.kill()
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


class Server:
    """One `ib-queue serve` process. extra: more command line options."""

    def __init__(self, *extra, state_dir=None, unix=None):
        self.dir = tmpdir()
        self.state_dir = state_dir or os.path.join(self.dir, "state")
        self.extra = list(extra)
        self.unix = unix
        self.log = os.path.join(self.dir, "server.log")
        self.proc = None
        _servers.append(self)
        self.start()

    def start(self):
        port_file = os.path.join(self.dir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        where = ["--unix", self.unix] if self.unix else \
            ["--listen", "127.0.0.1:0", "--port-file", port_file]
        cmd = [IB_QUEUE, "serve", "--state-dir", self.state_dir] + where + \
            self.extra
        self.proc = subprocess.Popen(cmd, stderr=open(self.log, "ab"))
        deadline = time.monotonic() + 15
        ready = self.unix or port_file
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.stderr.write(open(self.log).read())
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        if not self.unix:
            self.port = int(open(port_file).read())

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self):
        self.kill(signal.SIGTERM)

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    def conn(self, timeout=30, tls=None):
        if tls is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port,
                                               timeout=timeout, context=tls)
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def call(self, method, path, body=None, headers=None, timeout=30,
             tls=None):
        """(status, headers, raw body); body: dict -> JSON, bytes as is."""
        c = self.conn(timeout, tls)
        h = dict(headers if headers is not None else
                 (JSON if isinstance(body, (dict, list)) else {}))
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.headers, data

    def w(self, method, path, body=None, headers=None, **kw):
        """Worker API call: (status, parsed JSON or raw bytes, headers)."""
        st, hd, data = self.call(method, BASE + path, body, headers, **kw)
        try:
            return st, json.loads(data), hd
        except ValueError:
            return st, data, hd

    def admin_headers(self, body=None):
        """JSON type, and an admin token when the server wants JWTs."""
        h = dict(JSON if isinstance(body, (dict, list)) else {})
        if "--jwt-secret" in self.extra:
            with open(self.extra[self.extra.index("--jwt-secret") + 1],
                      "rb") as f:
                secret = f.read().rstrip(b"\r\n")
            h["Authorization"] = "Bearer " + make_jwt(secret, {
                "exp": int(time.time()) + 300, "ib_queue_admin": True})
        return h

    def admin(self, method, path, body=None, expect=200, **kw):
        kw.setdefault("headers", self.admin_headers(body))
        st, _, data = self.call(method, "/api/queue/v1" + path, body, **kw)
        assert st == expect, (method, path, st, data)
        return json.loads(data) if data else None

    def enqueue(self, jtype, args=None, arch="x86_64", depends=()):
        return self.admin("POST", "/jobs", {"type": jtype,
                                            "args": args or {},
                                            "arch": arch,
                                            "depends": list(depends)},
                          expect=201)["id"]

    def show(self, job_id):
        return self.admin("GET", "/jobs/" + job_id)

    def register(self, arch="x86_64"):
        st, body, _ = self.w("POST", "/workers", {"arch": arch})
        assert st == 201, (st, body)
        return body["worker_id"]

    def request_job(self, types, arch="x86_64", worker_id=None, timeout=30):
        body = {"types": types, "arch": arch}
        if worker_id:
            body["worker_id"] = worker_id
        return self.w("POST", "/jobs", body, timeout=timeout)

    def take(self, types, **kw):
        """Dequeue a job that must be there: (job, token)."""
        st, job, _ = self.request_job(types, **kw)
        assert st == 201, (st, job)
        return job, job["location"].rsplit("/", 1)[1]

    def cli(self, *args, check=True, **kw):
        cmd = [IB_QUEUE] + (["--unix", self.unix] if self.unix else
                            ["--url", "http://127.0.0.1:%d" % self.port])
        p = subprocess.run(cmd + list(args), capture_output=True, text=True,
                           timeout=60, **kw)
        if check:
            assert p.returncode == 0, (args, p.returncode, p.stderr)
        return p


def assert_error(status, body, want_status, code):
    assert status == want_status, (status, body)
    assert isinstance(body, dict), body
    assert body["kind"] == "Error", body
    assert body["code"] == "IMAGE-BUILDER-WORKER-%d" % code, body
    assert body["id"] == str(code), body
    assert body["href"].endswith("/errors/%d" % code), body
    assert body["reason"] and body["message"] == body["reason"], body
    assert body["operation_id"], body


def media_type(headers):
    return (headers.get("Content-Type") or "").split(";")[0].strip()


def wait_for(pred, timeout=10, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True)


def make_pki(d, name="ca"):
    """A CA, a server cert for 127.0.0.1 and a client cert in d."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=%s" % name, "-keyout", name + "-key.pem",
            "-out", name + "-crt.pem", cwd=d)
    for who, ext in (("server", "subjectAltName=IP:127.0.0.1"),
                     ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                "/CN=%s-%s" % (name, who), "-keyout",
                "%s-%s-key.pem" % (name, who), "-out", who + ".csr", cwd=d)
        with open(os.path.join(d, who + ".ext"), "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", who + ".csr", "-CA", name + "-crt.pem",
                "-CAkey", name + "-key.pem", "-CAcreateserial", "-days", "2",
                "-extfile", who + ".ext",
                "-out", "%s-%s-crt.pem" % (name, who), cwd=d)
    return lambda f: os.path.join(d, f)


def tls_context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def run(tests):
    """Run test functions in order; exit 0 when all pass, 1 otherwise."""
    failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
            print("ok   %s (%.1fs)" % (t.__name__, time.monotonic() - t0))
        except Exception:
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s" % t.__name__)
            for s in _servers:
                if os.path.exists(s.log):
                    print("--- server log tail %s" % s.log)
                    print("".join(open(s.log).readlines()[-20:]))
    for s in _servers:
        s.kill(signal.SIGTERM)
        if os.path.exists(s.log) and "Traceback" in open(s.log).read():
            failed += 1
            print("FAIL the server crashed somewhere; log %s:" % s.log)
            print(open(s.log).read()[-4000:])
    print("%d of %d failed" % (failed, len(tests)))
    sys.exit(1 if failed else 0)
