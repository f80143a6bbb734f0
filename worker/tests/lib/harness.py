"""Integration-test harness: starts the local queue, the worker binary and
a small loopback file server, and cleans all of them up.

Everything listens on 127.0.0.1 with ports the kernel picks. The queue is
the project's real one; the test doubles (fault proxy, OAuth endpoint,
clouds) live in worker/tests/doubles.
"""

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
import warnings

import loopback
import testpath
from jwtutil import jwt_hs256
from net import free_port  # noqa: F401  (the tests' one free_port)

warnings.simplefilter("ignore", ResourceWarning)

TOP = testpath.TOP
BUILD = testpath.BUILD
DOUBLES = testpath.DOUBLES
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

    def watch_progress(self, job_id, timeout=120):
        """Reads the job back every 50 ms until it ends, as a composer's
        client would; returns each distinct progress it showed, in order."""
        seen = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            job = self.show(job_id)
            p = job.get("progress")
            if p and (not seen or seen[-1] != p):
                seen.append(p)
            if job["state"] not in ("pending", "running"):
                return seen
            time.sleep(0.05)
        raise AssertionError("job %s did not finish in %ds" %
                             (job_id, timeout))

    def cancel(self, job_id):
        return self.admin("POST", "jobs/%s/cancel" % job_id)

    def workers(self):
        return self.admin("GET", "workers")

    def events(self, since=0):
        return self.admin("GET", "events?since=%d" % since)


class Notify:
    """A NOTIFY_SOCKET read by a thread, as the service manager reads it."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.msgs = []
        self.quit = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.quit:
            try:
                self.msgs.append(self.sock.recv(4096).decode())
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        self.quit = True
        self.thread.join(2)
        self.sock.close()


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


def tree_files(root, prefix="/repo/"):
    """Every file under root, as FileServer serves them: prefix + its path
    under root -> its bytes."""
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                files[prefix + os.path.relpath(p, root)] = f.read()
    return files


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

        self.server = loopback.start(H)
        self.port = self.server.server_address[1]
        self.url = loopback.url(self.server)

    def stop(self):
        loopback.stop(self.server)


class TestCase(unittest.TestCase):
    """A test with a temp dir and automatic clean-up of what it started."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ibt-")
        self._started = []
        self._t0 = time.monotonic()

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
        # Each test's wall time, before unittest's "ok", to find slow ones.
        sys.stderr.write("[%.1fs] " % (time.monotonic() - self._t0))
        self.assertEqual(reports, [], "sanitizer reports in these logs")

    def queue(self, *args):
        return self.keep(Queue(self.tmp, *args))

    def scrape(self, port):
        """The worker's /metrics on port, checked by Prometheus's own
        linter (promtool check metrics)."""
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                      timeout=5).read().decode()
        lint = subprocess.run(["promtool", "check", "metrics"],
                              input=body.encode(), capture_output=True,
                              timeout=30)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        return body

    def assert_upload_progress(self, seen, target, name, size):
        """A cloud upload's progress reached the server (seen: from
        Queue.watch_progress): "uploading NAME to TARGET" with bytes done
        of size, moving forward, partway at least once (an update held
        past the 5 s window went out) and whole at the end."""
        msg = "uploading %s to %s" % (name, target)
        ups = [p for p in seen if p["message"] == msg]
        self.assertGreaterEqual(len(ups), 2, seen)
        self.assertEqual({p["total"] for p in ups}, {size}, ups)
        done = [p["done"] for p in ups]
        self.assertEqual(done, sorted(done), ups)
        self.assertTrue(any(0 < d < size for d in done), ups)
        self.assertEqual(done[-1], size, ups)

    def worker(self, address, config="", args=(), name="worker", env=None):
        return self.keep(Worker(self.tmp, address, config, args, name, env))


def main():
    if not os.access(WORKER, os.X_OK):
        print("skipped: %s is not built" % WORKER)
        raise SystemExit(77)
    unittest.main(verbosity=2, warnings="ignore")
