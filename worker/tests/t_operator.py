#!/usr/bin/python3
"""What an operator sees of the worker, against the project's queue (a real
HTTP server) and the osbuild and depsolver test doubles: JSON log lines
with fields, the cause of a failed job, a drain said when it starts (log
and STOPPING=1), RELOADING=1 on SIGHUP, the composer reachable again after
an outage, and configuration errors with a hint (missing CA, TLS to a
plain-HTTP server, a 404 that names the URL, addresses with a trailing
slash or an IPv6 literal)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
from jobs import fixture  # noqa: E402
from jobs import worker_server_args as build_args  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

DOUBLES = harness.DOUBLES


def json_lines(text):
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def first(lines, prefix):
    for rec in lines:
        if rec["msg"].startswith(prefix):
            return rec
    raise AssertionError("no line starting with %r in:\n%s" % (
        prefix, "\n".join(json.dumps(r) for r in lines)))


Notify = harness.Notify


class Operator(harness.TestCase):

    def config(self, extra="", top=""):
        return ('%sdnf-json = "%s/depsolver"\n[worker]\nosbuild = '
                '"%s/osbuild"\n%s' % (top, DOUBLES, DOUBLES, extra))

    def test_json_fields_and_failure_cause(self):
        q = self.queue()
        dep = os.path.join(self.tmp, "depsolver")
        os.symlink(os.path.join(DOUBLES, "depsolver"), dep)
        w = self.worker("http://" + q.address, self.config(
            'log_format = "json"\n').replace(
                '"%s/depsolver"' % DOUBLES, '"%s"' % dep))
        w.wait_log(r"registered as worker")
        jid = q.enqueue("osbuild", build_args(double={"size": 4096}))
        q.wait(jid, 60)
        w.wait_log(r"result delivered", 10)
        # The depsolver gone after the start: the job fails; its cause is
        # in the log, not only the number.
        os.unlink(dep)
        args = fixture("composer-v105-requestjob-depsolve-response.json")[
            "args"]
        bad = q.enqueue("depsolve", args)
        q.wait(bad, 30)
        w.wait_log(r"job failed after", 10)
        lines = json_lines(w.log())
        reg = first(lines, "registered as worker")
        wid = reg["worker_id"]
        self.assertRegex(wid, r"^[0-9a-f-]{36}$")
        acc = first(lines, "job accepted")
        self.assertEqual((acc["job_id"], acc["job_type"], acc["worker_id"]),
                         (jid, "osbuild", wid))
        build = first(lines, "osbuild: starting")
        self.assertEqual(build["phase"], "build")
        up = first(lines, "target 0 (org.osbuild.worker.server) done")
        self.assertEqual((up["phase"], up["bytes"]), ("upload", 4096))
        self.assertIsInstance(up["duration_ms"], int)
        done = first(lines, "job finished after")
        self.assertGreater(done["duration_ms"], 0)
        self.assertEqual(done["job_type"], "osbuild")
        self.assertEqual(first(lines, "result delivered")["phase"], "result")
        failed = first(lines, "job failed after")
        self.assertEqual((failed["job_id"], failed["job_type"],
                          failed["error_code"]), (bad, "depsolve", 23))
        self.assertIn("cannot run %s" % dep, failed["msg"])
        # Job fields end with the job: a later line (the worker's next
        # words may come after the test has read the log) has none.
        def later():
            got = json_lines(w.log())
            return [r for r in got[got.index(failed) + 1:]
                    if "job_type" not in r]
        harness.wait_until(later, 15,
                           "a line without job fields after the job")

    def test_drain_said_when_it_starts(self):
        q = self.queue()
        n = self.keep(Notify(self.tmp))
        w = self.worker("http://" + q.address, self.config(), env={
            "NOTIFY_SOCKET": n.path})
        jid = q.enqueue("osbuild", build_args(double={"hold": 6}))
        w.wait_log(r"osbuild: starting", 30)
        t0 = time.monotonic()
        w.signal(signal.SIGTERM)
        w.wait_log(r"info drain started: finishing the running job first",
                   3)
        harness.wait_until(lambda: "STOPPING=1" in n.msgs, 3, "STOPPING=1")
        self.assertLess(time.monotonic() - t0, 3)
        self.assertIn("STATUS=draining: finishing the running job", n.msgs)
        # Said before the job ended, and the job still ran to its end.
        self.assertNotIn("job finished", w.log())
        self.assertEqual(w.wait_exit(60), 0)
        self.assertEqual(q.show(jid)["state"], "success")

    def test_upload_progress(self):
        """An upload longer than 10 s says how far it is, in the log (with
        bytes=), in STATUS= and to the composer itself: partial updates
        with the bytes sent arrive while the artifact is still going out
        on the same server (on a second connection), once the 5 s window
        has passed, and the whole size at the end. Through a slow uplink
        (the proxy reads 400 kB/s: some 16 s). The bytes are those handed
        to the socket: loopback buffers up to tcp_wmem's 4 MiB at once, so
        the export is larger than that by more than 5 s of the rate."""
        q = self.queue()
        proxy = self.keep(FaultProxy(q.port, rate=400000))
        n = self.keep(Notify(self.tmp))
        w = self.worker("http://" + proxy.address, self.config(), env={
            "NOTIFY_SOCKET": n.path})
        size = 6500000
        jid = q.enqueue("osbuild", build_args(double={"size": size}))
        seen = q.watch_progress(jid, 90)
        self.assertEqual(q.show(jid)["state"], "success")
        self.assert_upload_progress(seen, "org.osbuild.worker.server",
                                    "disk.qcow2", size)
        m = re.search(r"info org\.osbuild\.worker\.server: disk\.qcow2: "
                      r"(\d+) of %d bytes \((\d+)%%\), [0-9.]+ MB/s "
                      r"bytes=(\d+) " % size, w.log())
        self.assertIsNotNone(m, w.log()[-3000:])
        self.assertEqual(m.group(1), m.group(3))
        self.assertGreater(int(m.group(1)), 0)
        self.assertTrue(any(re.match(r"STATUS=uploading disk\.qcow2: "
                                     r"\d+%$", x) for x in n.msgs), n.msgs)

    def test_silent_composer_does_not_stall_the_upload(self):
        """A progress update sent from inside the upload holds it while it
        waits: a composer that stops answering (the proxy holds requests
        for 30 s) costs the upload at most 5 s, the update is given up and
        said in the log, and the artifact still arrives whole."""
        q = self.queue()
        proxy = self.keep(FaultProxy(q.port, rate=1000000))
        w = self.worker("http://" + proxy.address, self.config())
        size = 13000000
        jid = q.enqueue("osbuild", build_args(double={"size": size}))
        w.wait_log(r"worker\.server: uploading ", 30)
        proxy.set(delay=30)
        # The update due 5 s into the upload, given up 5 s later.
        w.wait_log(r"warning org\.osbuild\.worker\.server: progress "
                   r"update not taken: job progress: ", 15)
        proxy.set(delay=0)
        q.wait(jid, 60)
        self.assertEqual(q.show(jid)["state"], "success")
        m = w.wait_log(r"worker\.server: uploaded disk\.qcow2 in (\d+) ms",
                       5)
        # 13 s at 1 MB/s, plus at most the 5 s given to the update.
        self.assertLess(int(m.group(1)), 20000, w.log()[-2000:])

    def test_healthz_follows_the_worker(self):
        """/healthz answers from the running worker's state against the
        real queue: 503 while the composer has not been reached (never
        registered), 200 once registered and idle, 200 busy during a job,
        503 draining from the SIGTERM on; HEAD the same status."""
        q = self.queue()
        q.stop()
        port = harness.free_port()
        w = self.worker("http://" + q.address, self.config(
            'backoff_max = 1\nmetrics_listen = "127.0.0.1:%d"\n' % port))

        def health(method="GET"):
            req = urllib.request.Request(
                "http://127.0.0.1:%d/healthz" % port, method=method)
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        w.wait_log(r"warning register: ", 20)
        st, body = health()
        self.assertEqual(st, 503, body)
        doc = json.loads(body)
        self.assertEqual((doc["registered"], doc["reason"]),
                         (False, "not registered with the composer"))
        self.assertEqual(health("HEAD"), (503, b""))
        q.start()
        w.wait_log(r"registered as worker", 20)
        # Registered, the state turns idle at the loop's first poll.
        harness.wait_until(
            lambda: health()[0] == 200 and
            json.loads(health()[1])["state"] == "idle", 10,
            "/healthz 200 and idle")
        self.assertEqual(health("HEAD"), (200, b""))
        jid = q.enqueue("osbuild", build_args(double={"hold": 4}))
        w.wait_log(r"osbuild: starting", 30)
        st, body = health()
        self.assertEqual((st, json.loads(body)["state"]), (200, "busy"))
        w.signal(signal.SIGTERM)
        w.wait_log(r"drain started", 5)
        st, body = health()
        self.assertEqual(st, 503, body)
        self.assertEqual(json.loads(body)["reason"], "draining")
        self.assertEqual(w.wait_exit(60), 0)
        self.assertEqual(q.show(jid)["state"], "success")

    def test_drain_when_idle_is_said_too(self):
        q = self.queue()
        w = self.worker("http://" + q.address, self.config())
        w.wait_log(r"registered as worker")
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait_exit(20), 0)
        self.assertIn("drain started: no job running", w.log())

    def test_reload_notifies(self):
        q = self.queue()
        n = self.keep(Notify(self.tmp))
        w = self.worker("http://" + q.address, self.config(), env={
            "NOTIFY_SOCKET": n.path})
        harness.wait_until(lambda: "READY=1" in n.msgs, 15, "READY=1")
        w.wait_log(r"registered as worker")
        w.signal(signal.SIGHUP)
        w.wait_log(r"configuration reloaded", 15)
        harness.wait_until(lambda: n.msgs.count("READY=1") >= 2, 5,
                           "READY=1 after the reload")
        rel = [m for m in n.msgs if m.startswith("RELOADING=1\n")]
        self.assertEqual(len(rel), 1, n.msgs)
        self.assertRegex(rel[0], r"^RELOADING=1\nMONOTONIC_USEC=\d+$")
        self.assertLess(n.msgs.index(rel[0]),
                        len(n.msgs) - 1 - n.msgs[::-1].index("READY=1"))
        self.assertIn("reloading the configuration (SIGHUP)", w.log())

    def test_composer_reachable_again(self):
        q = self.queue()
        # The worker knows the composer is back when a call returns: a
        # long poll returns after request_timeout.
        w = self.worker("http://" + q.address, self.config(
            "backoff_max = 1\nrequest_timeout = 2\n"))
        w.wait_log(r"registered as worker")
        q.stop()
        w.wait_log(r"warning request job: ", 20)
        time.sleep(1.5)
        q.start()
        m = w.wait_log(r"info the composer is reachable again after "
                       r"(\d+) s \((\d+) failed calls\)", 30)
        self.assertGreaterEqual(int(m.group(2)), 1)

    def test_config_errors_with_a_hint(self):
        q = self.queue()
        # https without certificates: the reference's fixed paths.
        conf = os.path.join(self.tmp, "w.toml")
        with open(conf, "w") as f:
            f.write(self.config('cache_directory = "%s"\n' % self.tmp))
        r = subprocess.run([harness.WORKER, "-c", conf, q.address],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r" error CA certificate \S+: No such file")
        self.assertIn("set tls_ca", r.stderr)
        self.assertIn("http://HOST:PORT", r.stderr)
        # TLS to a server that speaks plain HTTP.
        key = os.path.join(self.tmp, "k.pem")
        crt = os.path.join(self.tmp, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", crt, "-days", "1",
                        "-subj", "/CN=localhost"], check=True,
                       capture_output=True, timeout=60)
        w = self.worker("https://" + q.address, self.config(
            'tls_ca = "%s"\ntls_cert = "%s"\ntls_key = "%s"\n' % (
                crt, crt, key)), name="tls")
        w.wait_log(r"register: .*\(the server speaks plain HTTP: give the "
                   r"address as http://HOST:PORT\)", 20)
        w.stop()
        # A 404 names the URL (its path: the address may hold secrets).
        w = self.worker("http://" + q.address, self.config(
            top='base_path = "/wrong/v1"\n'), name="404")
        w.wait_log(r"register: HTTP 404.* for POST /wrong/v1/workers "
                   r"\(is the base_path right\?\)", 20)
        w.stop()
        # HOST:PORT/ as people paste it.
        w = self.worker("http://%s/" % q.address, self.config(),
                        name="slash")
        w.wait_log(r"registered as worker", 20)
        w.stop()
        # An IPv6 literal is an address, not a "bad composer address".
        port = harness.free_port()
        w = self.worker("http://[::1]:%d" % port, self.config(), name="v6")
        w.wait_log(r"register: .*(onnect|refused)", 20)
        self.assertNotIn("bad composer address", w.log())
        w.stop()


if __name__ == "__main__":
    harness.main()
