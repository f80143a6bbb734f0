"""Integration-test harness: starts the local queue, the worker binary and
small loopback servers, and cleans all of them up.

Everything listens on 127.0.0.1 with ports the kernel picks. Servers that
stand in for something that cannot run here say so (FaultProxy and
OAuthDouble are test doubles); the queue is the project's real one.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import warnings

warnings.simplefilter("ignore", ResourceWarning)

TOP = os.environ.get("IB_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(TOP, os.environ.get("B", "build"))
WORKER = os.path.join(BUILD, "ib-worker")
QUEUE = os.path.join(TOP, "queue", "ib-queue")


def wait_until(pred, timeout, what, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s" %
                         (timeout, what))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Queue:
    """The project's local queue (queue/ib-queue), a real server."""

    def __init__(self, tmp, *args, port=0):
        self.tmp = tmp
        self.state = os.path.join(tmp, "queue-state")
        self.args = list(args)
        self.port = port
        self.proc = None
        self.client = None      # (cert, key) when the queue wants one
        self.scheme = "https" if "--tls-cert" in args else "http"
        self.start()

    def start(self):
        portfile = os.path.join(self.tmp, "queue.port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.log = open(os.path.join(self.tmp, "queue.log"), "ab")
        self.proc = subprocess.Popen(
            [QUEUE, "serve", "--listen", "127.0.0.1:%d" % self.port,
             "--port-file", portfile, "--state-dir", self.state] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: os.path.exists(portfile) and
                   open(portfile).read().strip(), 15, "the queue to listen")
        self.port = int(open(portfile).read().strip())
        self.address = "127.0.0.1:%d" % self.port
        self.url = "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop(signal.SIGKILL)
        self.start()

    def admin(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if "--jwt-secret" in self.args:
            # With JWTs the admin API wants a token with the admin claim.
            with open(self.args[self.args.index("--jwt-secret") + 1],
                      "rb") as f:
                secret = f.read().rstrip(b"\r\n")
            headers["Authorization"] = "Bearer " + jwt_hs256(secret, {
                "exp": int(time.time()) + 300, "ib_queue_admin": True})
        req = urllib.request.Request(
            "%s/api/queue/v1/%s" % (self.url, path), data=data,
            method=method, headers=headers)
        ctx = None
        if self.scheme == "https":
            import ssl
            ctx = ssl._create_unverified_context()
            if self.client:
                ctx.load_cert_chain(*self.client)
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return json.loads(r.read() or b"null")

    def enqueue(self, jtype, args, depends=(), arch="x86_64"):
        return self.admin("POST", "jobs", {"type": jtype, "args": args,
                                           "arch": arch,
                                           "depends": list(depends)})["id"]

    def show(self, job_id):
        return self.admin("GET", "jobs/" + job_id)

    def wait(self, job_id, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            left = max(1, int(end - time.monotonic()))
            self.admin("GET", "jobs/%s/wait?timeout=%d" % (job_id, min(left, 30)),
                       timeout=left + 10)
            job = self.show(job_id)
            if job["state"] in ("success", "failure", "finished",
                                "failed", "canceled"):
                return job
        raise AssertionError("job %s did not finish in %ds" %
                             (job_id, timeout))

    def result(self, job_id):
        return self.admin("GET", "jobs/%s/result" % job_id)

    def cancel(self, job_id):
        return self.admin("POST", "jobs/%s/cancel" % job_id)

    def workers(self):
        return self.admin("GET", "workers")

    def events(self, since=0):
        return self.admin("GET", "events?since=%d" % since)


class Worker:
    """The worker binary under test."""

    def __init__(self, tmp, address, config="", args=(), name="worker",
                 env=None):
        self.tmp = tmp
        self.name = name
        self.cache = os.path.join(tmp, name + "-cache")
        os.makedirs(self.cache, exist_ok=True)
        self.conf = os.path.join(tmp, name + ".toml")
        if "[worker]" in config:
            config = config.replace(
                "[worker]", '[worker]\ncache_directory = "%s"' % self.cache, 1)
        else:
            config += '\n[worker]\ncache_directory = "%s"\n' % self.cache
        with open(self.conf, "w") as f:
            f.write(config)
        self.logpath = os.path.join(tmp, name + ".log")
        self.logf = open(self.logpath, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [WORKER, "-d", "-c", self.conf] + list(args) + [address],
            stdout=self.logf, stderr=subprocess.STDOUT, env=e)

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=30):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()), timeout,
                          "worker log /%s/" % pattern)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit in %ds; log:\n%s" %
                                 (self.name, timeout, self.log()[-3000:]))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class _ThreadedServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FileServer:
    """Serves files for file-resolve, plus /slow/N (answers after N seconds,
    dribbling bytes so the connection stays alive) and /big/N (N bytes)."""

    def __init__(self, files):
        outer = self
        self.files = dict(files)
        self.hits = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.hits.append(self.path)
                m = re.match(r"^/slow/(\d+)$", self.path)
                if m:
                    # Two bytes a second: well above a client's stall limit.
                    secs = int(m.group(1))
                    self.send_response(200)
                    self.send_header("Content-Length", str(2 * secs))
                    self.end_headers()
                    try:
                        for _ in range(2 * secs):
                            time.sleep(0.5)
                            self.wfile.write(b"x")
                            self.wfile.flush()
                    except OSError:
                        pass
                    return
                m = re.match(r"^/big/(\d+)$", self.path)
                if m:
                    n = int(m.group(1))
                    self.send_response(200)
                    self.send_header("Content-Length", str(n))
                    self.end_headers()
                    try:
                        while n > 0:
                            k = min(n, 65536)
                            self.wfile.write(b"b" * k)
                            n -= k
                    except OSError:
                        pass
                    return
                body = outer.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _ThreadedServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class FaultProxy:
    """TEST DOUBLE: a TCP proxy in front of the queue that injects the faults
    a real network and a struggling composer produce: HTTP error answers,
    connection resets, and slowness. Modes are changed by the test."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.lock = threading.Lock()
        self.status = None      # answer this many requests with a status
        self.status_left = 0
        self.resets_left = 0    # close this many connections at once
        self.delay = 0.0        # seconds before forwarding each request
        self.requests = []      # (time, first request line)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, status=None, count=0, resets=0, delay=0.0):
        with self.lock:
            self.status, self.status_left = status, count
            self.resets_left = resets
            self.delay = delay

    def _accept(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    @staticmethod
    def _read_request(c):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(rest) < n:
            chunk = c.recv(65536)
            if not chunk:
                return None
            rest += chunk
        return head + b"\r\n\r\n" + rest

    def _conn(self, c):
        upstream = None
        try:
            while True:
                req = self._read_request(c)
                if req is None:
                    return
                line = req.split(b"\r\n", 1)[0].decode(errors="replace")
                with self.lock:
                    self.requests.append((time.monotonic(), line))
                    reset = self.resets_left > 0
                    if reset:
                        self.resets_left -= 1
                    status = None
                    if not reset and self.status_left > 0:
                        self.status_left -= 1
                        status = self.status
                    delay = self.delay
                if reset:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                if status is not None:
                    body = json.dumps({
                        "href": "/api/worker/v1/errors/1000", "id": "1000",
                        "kind": "Error", "code": "IMAGE-BUILDER-WORKER-1000",
                        "reason": "injected failure", "message":
                        "injected failure", "operation_id": "x"}).encode()
                    c.sendall(b"HTTP/1.1 %d Injected\r\nContent-Type: "
                              b"application/json; charset=UTF-8\r\n"
                              b"Content-Length: %d\r\n\r\n" %
                              (status, len(body)) + body)
                    continue
                if delay:
                    time.sleep(delay)
                if upstream is None:
                    upstream = socket.create_connection(self.target)
                upstream.sendall(req)
                # Relay the answer: read until the upstream answer is whole.
                resp = b""
                while b"\r\n\r\n" not in resp:
                    chunk = upstream.recv(65536)
                    if not chunk:
                        return
                    resp += chunk
                head, _, rest = resp.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                while len(rest) < n:
                    chunk = upstream.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                c.sendall(head + b"\r\n\r\n" + rest)
        except OSError:
            pass
        finally:
            c.close()
            if upstream:
                upstream.close()

    def count(self, pattern):
        rx = re.compile(pattern)
        with self.lock:
            return sum(1 for _, l in self.requests if rx.search(l))

    def stop(self):
        self.running = False
        self.sock.close()


def jwt_hs256(secret, claims):
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=")
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(secret, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()


class OAuthDouble:
    """TEST DOUBLE of an OAuth2 token endpoint (SSO). It checks the grant the
    way a real one does and issues HS256 JWTs the queue verifies."""

    def __init__(self, secret, client_id, refresh_token=None,
                 client_secret=None, expires_in=300):
        outer = self
        self.secret = secret
        self.expires_in = expires_in
        self.down = False
        self.calls = []
        self.issued = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                form = {k: v[0] for k, v in form.items()}
                outer.calls.append(form)
                if outer.down:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ok = form.get("client_id") == client_id and (
                    (form.get("grant_type") == "refresh_token" and
                     refresh_token is not None and
                     form.get("refresh_token") == refresh_token) or
                    (form.get("grant_type") == "client_credentials" and
                     client_secret is not None and
                     form.get("client_secret") == client_secret))
                if not ok:
                    body = b'{"error":"invalid_grant"}'
                    self.send_response(400)
                else:
                    tok = jwt_hs256(outer.secret, {
                        "exp": int(time.time()) + outer.expires_in,
                        "sub": client_id, "n": len(outer.issued)})
                    outer.issued.append(tok)
                    body = json.dumps({"access_token": tok,
                                       "token_type": "Bearer",
                                       "expires_in": outer.expires_in
                                       }).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        import urllib.parse  # noqa: F401  (used in the handler)
        self.server = _ThreadedServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/token" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class TestCase(unittest.TestCase):
    """A test with a temp dir and automatic clean-up of what it started."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ibt-")
        self._started = []

    def keep(self, obj):
        self._started.append(obj)
        return obj

    def tearDown(self):
        failed = not getattr(self._outcome, "success", True)
        # Sanitizer reports in any log we wrote fail the test.
        reports = []
        for name in sorted(os.listdir(self.tmp)):
            if name.endswith(".log"):
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    text = f.read()
                if "AddressSanitizer" in text or "runtime error:" in text or \
                        "LeakSanitizer" in text:
                    reports.append(name)
        for obj in reversed(self._started):
            try:
                obj.stop()
            except Exception:
                pass
        if failed or reports or os.environ.get("IB_KEEP_TMP"):
            for name in sorted(os.listdir(self.tmp)):
                if name.endswith(".log"):
                    p = os.path.join(self.tmp, name)
                    print("---- %s (last 40 lines)" % name)
                    with open(p, errors="replace") as f:
                        print("".join(f.readlines()[-40:]))
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(reports, [], "sanitizer reports in these logs")

    def queue(self, *args):
        return self.keep(Queue(self.tmp, *args))

    def worker(self, address, config="", args=(), name="worker", env=None):
        return self.keep(Worker(self.tmp, address, config, args, name, env))


def main():
    if not os.access(WORKER, os.X_OK):
        print("skipped: %s is not built" % WORKER)
        raise SystemExit(77)
    unittest.main(verbosity=2, warnings="ignore")
