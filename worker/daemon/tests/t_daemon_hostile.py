#!/usr/bin/python3
"""ib-worker against a scripted hostile composer (a loopback HTTP server
this test writes, answering as a composer would, and worse), and the
process's own hygiene: no core dump, whatever kills it."""

import http.server
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import loopback  # noqa: E402

JOBS = "/api/worker/v1/jobs/"


class Composer:
    """A composer's worker API, scripted: `jobs` are handed out one per
    POST /jobs (then 204s), each PATCH is recorded in `patches` and
    answered by `on_patch(path, body)` (a status code) when set, and a
    GET/PATCH heartbeat or a worker status is trickled at one byte a
    second while `trickle` is set."""

    def __init__(self):
        self.jobs = []
        self.patches = []
        self.on_patch = None
        self.trickle = False
        self.trickling = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, body, slow=False):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not slow:
                    self.wfile.write(body)
                    return
                outer.trickling += 1
                try:
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(1)
                except OSError:
                    pass
                finally:
                    outer.trickling -= 1

            def body(self):
                n = int(self.headers.get("Content-Length", 0))
                return self.rfile.read(n)

            def do_GET(self):
                if not self.path.startswith(JOBS):
                    return self.reply(404, b"{}")
                self.reply(200, b'{"canceled": false}' + b" " * 60,
                           outer.trickle)

            def do_POST(self):
                self.body()
                if self.path.endswith("/workers"):
                    return self.reply(201, b'{"worker_id":"w1"}')
                if "/workers/" in self.path:
                    return self.reply(200, b"{}" + b" " * 60, outer.trickle)
                if outer.jobs:
                    return self.reply(201, json.dumps(
                        outer.jobs.pop(0)).encode())
                time.sleep(0.5)
                self.send_response(204)
                self.end_headers()

            def do_PATCH(self):
                raw = self.body()
                try:
                    doc = json.loads(raw)
                except ValueError:
                    doc = None
                outer.patches.append((self.path, len(raw), doc))
                code = outer.on_patch(self.path, doc) if outer.on_patch \
                    else 200
                if code == 200 and doc is not None and "result" not in doc:
                    # A heartbeat (an empty update) in the 2026 API.
                    return self.reply(200, b"{}" + b" " * 60, outer.trickle)
                self.reply(code, b"{}")

        self.srv = loopback.start(H)
        self.url = loopback.url(self.srv)

    def stop(self):
        loopback.stop(self.srv)


def job(jid, jtype, args, token="t1"):
    return {"id": jid, "type": jtype, "location": JOBS + token,
            "artifact_location": JOBS + token + "/artifacts/", "args": args}


class Hostile(harness.TestCase):

    def composer(self):
        return self.keep(Composer())

    def notify_socket(self):
        path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(0.5)
        self.keep(type("S", (), {"stop": lambda _: s.close()})())
        return s, path

    @staticmethod
    def drain(s):
        msgs = []
        try:
            while True:
                msgs.append(s.recv(65536).decode(errors="replace"))
        except OSError:
            pass
        return msgs

    def test_status_carries_no_server_assignment(self):
        """A job id and type with newlines and assignments in them reach
        the notification socket as one bounded STATUS line."""
        c = self.composer()
        evil = "\nWATCHDOG=trigger\nMAINPID=1\nSTATUS=owned"
        c.jobs = [job("j1" + evil, "file-resolve", {"urls": []}, "t1"),
                  job("j2", "file-resolve" + evil + "x" * 500,
                      {"urls": []}, "t2")]
        s, path = self.notify_socket()
        w = self.worker(c.url, "[worker]\nbackoff_max = 1\n",
                        env={"NOTIFY_SOCKET": path})
        harness.wait_until(lambda: len([p for p in c.patches
                                        if p[2] and "result" in p[2]]) >= 2,
                           30, "both results")
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait_exit(10), 0)
        msgs = self.drain(s)
        keys = {"READY", "STATUS", "STOPPING", "WATCHDOG"}
        running = [m for m in msgs if m.startswith("STATUS=running")]
        self.assertEqual(len(running), 2, msgs)
        for m in msgs:
            lines = m.split("\n")
            for line in lines:
                self.assertIn(line.split("=", 1)[0], keys, repr(m))
            self.assertNotIn("WATCHDOG=trigger", lines)
            self.assertEqual(len([x for x in lines
                                  if x.startswith("STATUS=")]),
                             1 if m.startswith("STATUS=") else 0, repr(m))
            self.assertLessEqual(len(m), 7 + 200)
        # The type's text is there, folded onto the one STATUS line.
        self.assertTrue(any(m.startswith(
            "STATUS=running file-resolve?WATCHDOG=trigger?MAINPID=1?")
            for m in msgs), msgs)
        # Nor does the log start a line with what the server sent.
        for line in w.log().splitlines():
            self.assertFalse(line.startswith(("WATCHDOG", "MAINPID",
                                              "STATUS")), line)

    def test_result_too_large_becomes_an_error_result(self):
        """413 on the result: a small error result naming the size goes
        in its place, once, and the job ends there."""
        c = self.composer()
        files = self.keep(harness.FileServer({"/big": b"x" * 30000}))
        c.on_patch = lambda path, doc: 413 if doc and "result" in doc and \
            "job_error" not in doc["result"] else 200
        c.jobs = [job("j1", "file-resolve", {"urls": [files.url + "/big"]})]
        w = self.worker(c.url, "[worker]\nbackoff_max = 1\n")
        harness.wait_until(lambda: any(
            p[2] and "job_error" in p[2].get("result", {})
            for p in c.patches), 30, "an error result")
        time.sleep(1)
        results = [p for p in c.patches if p[2] and "result" in p[2]]
        self.assertEqual(len(results), 2, results)
        self.assertGreater(results[0][1], 30000)
        err = results[1][2]["result"]["job_error"]
        self.assertEqual(err["id"], 11)
        self.assertRegex(err["reason"], r"\(\d{5,} bytes\) is larger than")
        self.assertLess(results[1][1], 1000)
        self.assertTrue(w.alive())
        self.assertIn("refused the result as too large", w.log())

    def test_stop_waits_for_no_trickling_heartbeat(self):
        """A second SIGTERM stops the job and the worker within a few
        seconds while the composer answers a heartbeat one byte a second
        (60 bytes: a minute)."""
        c = self.composer()
        files = self.keep(harness.FileServer({}))
        c.jobs = [job("j1", "file-resolve",
                      {"urls": [files.url + "/slow/120"]})]
        w = self.worker(c.url, "[worker]\nbackoff_max = 1\n"
                        "heartbeat_interval = 1\n")
        w.wait_log(r"job accepted")
        c.trickle = True
        harness.wait_until(lambda: c.trickling > 0, 30,
                           "a trickling heartbeat")
        time.sleep(1)
        t0 = time.monotonic()
        w.signal(signal.SIGTERM)
        time.sleep(0.2)
        w.signal(signal.SIGTERM)
        w.wait_exit(30)
        took = time.monotonic() - t0
        sys.stderr.write("stop took %.2fs\n" % took)
        self.assertLess(took, 5, "stopping took %.1fs" % took)
        self.assertIn("stopping the job: the worker must stop now", w.log())
        # Stopped, not reported.
        self.assertEqual([p for p in c.patches if p[2] and "result" in p[2]],
                         [])

    def test_drain_timeout_waits_for_no_trickling_heartbeat(self):
        """drain_timeout stops the job on time even while the composer
        trickles a heartbeat answer (a minute of it)."""
        c = self.composer()
        files = self.keep(harness.FileServer({}))
        c.jobs = [job("j1", "file-resolve",
                      {"urls": [files.url + "/slow/120"]})]
        w = self.worker(c.url, "[worker]\nbackoff_max = 1\n"
                        "heartbeat_interval = 1\ndrain_timeout = 2\n")
        w.wait_log(r"job accepted")
        c.trickle = True
        harness.wait_until(lambda: c.trickling > 0, 30,
                           "a trickling heartbeat")
        t0 = time.monotonic()
        w.signal(signal.SIGTERM)
        w.wait_exit(60)
        took = time.monotonic() - t0
        sys.stderr.write("drain of 2 s took %.2fs\n" % took)
        self.assertLess(took, 2 + 3, "the drain took %.1fs" % took)
        self.assertIn("stopping the job: drain_timeout reached", w.log())
        self.assertEqual([p for p in c.patches if p[2] and "result" in p[2]],
                         [])

    def test_no_core_dump(self):
        """SIGABRT with an unlimited core size leaves no core behind."""
        def unlimited():
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                                       resource.RLIM_INFINITY))
        conf = os.path.join(self.tmp, "w.toml")
        with open(conf, "w") as f:
            f.write('[worker]\ncache_directory = "%s/cache"\n' % self.tmp)
        log = open(os.path.join(self.tmp, "core.log"), "wb")
        p = subprocess.Popen([harness.WORKER, "-c", conf,
                              "http://127.0.0.1:%d" % harness.free_port()],
                             cwd=self.tmp, preexec_fn=unlimited,
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(1)
            self.assertIsNone(p.poll())
            p.send_signal(signal.SIGABRT)
            _, st = os.waitpid(p.pid, 0)
            p.returncode = 0
        finally:
            if p.returncode is None:
                p.kill()
                p.wait()
            log.close()
        self.assertTrue(os.WIFSIGNALED(st))
        self.assertFalse(os.WCOREDUMP(st), "a core was dumped")
        self.assertEqual([n for n in os.listdir(self.tmp)
                          if n.startswith("core") and n != "core.log"], [])


if __name__ == "__main__":
    harness.main()
