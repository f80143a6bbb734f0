#!/usr/bin/python3
"""The worker against the local queue: registration, empty polls, a
file-resolve job end to end, unknown job kinds, bad job documents."""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

DOUBLES = harness.DOUBLES


class Loop(harness.TestCase):

    def test_register_and_file_resolve(self):
        q = self.queue()
        files = self.keep(harness.FileServer({"/a.txt": b"hello\n",
                                              "/b.bin": bytes(range(256))}))
        w = self.worker("http://" + q.address)
        w.wait_log(r"registered as worker")
        self.assertEqual(len(q.workers()), 1)
        jid = q.enqueue("file-resolve", {"urls": [
            files.url + "/a.txt", files.url + "/b.bin"]})
        job = q.wait(jid, 20)
        res = q.result(jid)
        self.assertTrue(res["success"], res)
        self.assertNotIn("job_error", res)
        got = {r["url"]: base64.b64decode(r["content"]) for r in res["results"]}
        self.assertEqual(got[files.url + "/a.txt"], b"hello\n")
        self.assertEqual(got[files.url + "/b.bin"], bytes(range(256)))
        self.assertIn("job_id=" + jid, w.log())
        self.assertTrue(job)

    def test_per_url_errors_and_limits(self):
        q = self.queue()
        files = self.keep(harness.FileServer({"/a.txt": b"x"}))
        w = self.worker("http://" + q.address,
                        "[worker]\nfile_resolve_max = 1000\n")
        jid = q.enqueue("file-resolve", {"urls": [
            files.url + "/a.txt", files.url + "/missing",
            files.url + "/big/5000", "file:///etc/passwd"]})
        q.wait(jid, 20)
        res = q.result(jid)
        self.assertFalse(res["success"])
        self.assertEqual(res["job_error"]["id"], 36)
        by = {r["url"]: r for r in res["results"]}
        self.assertEqual(base64.b64decode(by[files.url + "/a.txt"]["content"]),
                         b"x")
        self.assertIn("404", by[files.url + "/missing"]["target_error"]["reason"])
        self.assertIn("larger", by[files.url + "/big/5000"]["target_error"]["reason"])
        self.assertIn("only http", by["file:///etc/passwd"]["target_error"]["reason"])
        self.assertTrue(w.alive())

    def test_largest_default_file_fits_the_queue(self):
        # The default file_resolve_max must fit the composer's body limit
        # once base64 grows it by a third: a file of exactly the default
        # comes back whole through the real queue (64 MiB bodies), and
        # one byte more is refused as too large (so this is the default).
        limit = 32 << 20
        q = self.queue()
        files = self.keep(harness.FileServer({}))
        self.worker("http://" + q.address)
        jid = q.enqueue("file-resolve", {"urls": [
            files.url + "/big/%d" % limit, files.url + "/big/%d" % (limit + 1)]})
        q.wait(jid, 120)
        res = q.result(jid)
        by = {r["url"]: r for r in res["results"]}
        got = by[files.url + "/big/%d" % limit]
        self.assertNotIn("target_error", got)
        self.assertEqual(len(base64.b64decode(got["content"])), limit)
        self.assertIn("larger", by[files.url + "/big/%d" % (limit + 1)]
                      ["target_error"]["reason"])

    def test_empty_polls_with_204(self):
        # The server answers 204 after 1 s; the worker polls again.
        q = self.queue("--request-job-timeout", "1")
        w = self.worker("http://" + q.address)
        w.wait_log(r"registered as worker")
        time.sleep(3.5)
        files = self.keep(harness.FileServer({"/a": b"a"}))
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 10)
        self.assertTrue(q.result(jid)["success"])
        self.assertNotRegex(w.log(), r"warning.*request job")

    def test_bad_args_and_unknown_kind(self):
        q = self.queue()
        w = self.worker("http://" + q.address)
        bad = [q.enqueue("file-resolve", {"urls": "not a list"}),
               q.enqueue("file-resolve", {"urls": [1, 2]}),
               q.enqueue("file-resolve", {"urls": None})]
        for jid in bad:
            q.wait(jid, 10)
            self.assertEqual(q.result(jid)["job_error"]["id"], 29)
        self.assertTrue(w.alive())

    def test_reregisters_when_forgotten(self):
        # The queue forgets workers after 2 s without a status; the worker
        # (status every 1 s is off here: 30 s) must register again.
        q = self.queue("--worker-timeout", "2", "--request-job-timeout", "1")
        w = self.worker("http://" + q.address,
                        "[worker]\nstatus_interval = 3\n")
        w.wait_log(r"registered as worker")
        w.wait_log(r"no longer knows this worker|registered as worker.*\n"
                   r"(.*\n)*.*registered as worker", 20)
        harness.wait_until(lambda: w.log().count("registered as worker") >= 2,
                           20, "a second registration")
        files = self.keep(harness.FileServer({"/a": b"a"}))
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 10)
        self.assertTrue(q.result(jid)["success"])

    def test_reregisters_at_once_after_a_composer_restart(self):
        # A composer restart: the same port, an empty state. The long poll
        # (request_job_timeout 0: held forever, as the composer does) must
        # not delay the registration; the status call learns of it.
        q = self.queue()
        w = self.worker("http://" + q.address,
                        "[worker]\nstatus_interval = 1\n")
        w.wait_log(r"registered as worker")
        q.stop(signal.SIGKILL)
        q.state = os.path.join(self.tmp, "queue-state-2")
        q.start()
        harness.wait_until(lambda: "no longer knows this worker" in w.log(),
                           15, "the status call to find the worker unknown")
        seen = time.monotonic()
        harness.wait_until(lambda: len(q.workers()) == 1, 10,
                           "the worker to register with the new queue")
        self.assertLess(time.monotonic() - seen, 3, w.log()[-2000:])
        files = self.keep(harness.FileServer({"/a": b"a"}))
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 10)
        self.assertTrue(q.result(jid)["success"])

    def reregisters_when_the_composer_comes_back(self, gen):
        # The same restart with the default status_interval (60 s): the
        # composers hold a forgotten worker's long poll as any other
        # (t_generation), so the worker must not wait for its next status
        # call. Once its calls failed, the first one that reaches the
        # composer again asks whether it still knows the worker (measured
        # on real composers: 36 s without a worker, weldr refusing
        # composes, before this).
        q = self.queue("--generation", gen)
        w = self.worker("http://" + q.address)
        w.wait_log(r"registered as worker")
        q.stop(signal.SIGKILL)
        harness.wait_until(lambda: "warning request job" in w.log(), 10,
                           "the long poll to fail")
        q.state = os.path.join(self.tmp, "queue-state-2")
        q.start()
        t = time.monotonic()
        harness.wait_until(lambda: len(q.workers()) == 1, 15,
                           "the worker to register with the new queue")
        self.assertLess(time.monotonic() - t, 8, w.log()[-2000:])
        self.assertRegex(w.log(), r"no longer knows this worker")
        files = self.keep(harness.FileServer({"/a": b"a"}))
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 10)
        self.assertTrue(q.result(jid)["success"])

    def test_reregisters_when_the_composer_comes_back_2024(self):
        self.reregisters_when_the_composer_comes_back("2024")

    def test_reregisters_when_the_composer_comes_back_2026(self):
        self.reregisters_when_the_composer_comes_back("2026")

    def test_polls_after_an_outage_when_the_status_call_is_refused(self):
        # A composer that refuses the status call for good (404: one
        # without that endpoint) must not keep the worker from polling
        # once it is back: only a composer still out of reach is waited
        # for.
        q = self.queue()
        proxy = self.keep(FaultProxy(q.port))
        proxy.set(status=404, count=1000,
                  match=r"^POST /api/worker/v1/workers/\S+/status ")
        w = self.worker("http://" + proxy.address)
        w.wait_log(r"registered as worker")
        q.stop(signal.SIGKILL)
        harness.wait_until(lambda: "warning request job" in w.log(), 10,
                           "the long poll to fail")
        q.start()
        files = self.keep(harness.FileServer({"/a": b"a"}))
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 15)
        self.assertTrue(q.result(jid)["success"])
        self.assertGreaterEqual(proxy.count(r"/workers/\S+/status "), 1)

    def test_no_heartbeat_after_the_result(self):
        # Heartbeats reach the queue late (0.4 s on the way): a fast job's
        # result must still be the last thing the queue hears of the job.
        q = self.queue()

        class SlowHeartbeats(FaultProxy):
            def _read_request(self, c):
                req = FaultProxy._read_request(c)
                if req is not None and req.startswith(b"GET ") and \
                        b"/jobs/" in req.split(b"\r\n", 1)[0]:
                    time.sleep(0.4)
                return req

        proxy = self.keep(SlowHeartbeats(q.port))
        files = self.keep(harness.FileServer({"/a": b"a"}))
        w = self.worker("http://" + proxy.address,
                        "[worker]\nheartbeat_interval = 1\n")
        w.wait_log(r"registered as worker")
        for _ in range(4):
            jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
            q.wait(jid, 20)
            self.assertTrue(q.result(jid)["success"])
        time.sleep(1)
        qlog = open(os.path.join(self.tmp, "queue.log"),
                    errors="replace").read()
        self.assertRegex(qlog, r"GET /api/worker/v1/jobs/\S+ 200")
        self.assertNotRegex(qlog, r"GET /api/worker/v1/jobs/\S+ 404")
        self.assertNotIn("took it back", w.log())
        # Every heartbeat line names its job.
        hb = [l for l in w.log().splitlines() if "heartbeat" in l]
        self.assertTrue(hb)
        for line in hb:
            self.assertIn("job_id=", line)

    def test_drain_when_idle_exits_zero(self):
        q = self.queue()
        w = self.worker("http://" + q.address)
        w.wait_log(r"registered as worker")
        t = time.monotonic()
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait_exit(10), 0)
        self.assertLess(time.monotonic() - t, 5)

    def test_unix_socket(self):
        q = self.keep(harness.Queue.__new__(harness.Queue))
        # A queue on a unix socket: the reference's -unix mode.
        import subprocess
        sock = os.path.join(self.tmp, "q.sock")
        q.proc = subprocess.Popen(
            [harness.QUEUE, "serve", "--unix", sock, "--state-dir",
             os.path.join(self.tmp, "st")],
            stdout=open(os.path.join(self.tmp, "queue.log"), "ab"),
            stderr=subprocess.STDOUT)
        harness.wait_until(lambda: os.path.exists(sock), 10, "the socket")
        files = self.keep(harness.FileServer({"/a": b"unix"}))
        w = self.worker(sock, args=["-unix"])
        w.wait_log(r"registered as worker")
        out = subprocess.run([harness.QUEUE, "--unix", sock, "enqueue",
                              "--type", "file-resolve", "--args",
                              '{"urls":["%s/a"]}' % files.url],
                             capture_output=True, text=True, check=True)
        jid = out.stdout.strip()
        subprocess.run([harness.QUEUE, "--unix", sock, "wait", jid,
                        "--timeout", "10"], check=False)
        out = subprocess.run([harness.QUEUE, "--unix", sock, "result", jid],
                             capture_output=True, text=True, check=True)
        self.assertIn('"success": true', out.stdout)

    def test_config_check(self):
        import subprocess
        good = os.path.join(self.tmp, "good.toml")
        with open(good, "w") as f:
            f.write('base_path = "/api/image-builder-worker/v1"\n'
                    'dnf-json = "%s/depsolver"\n[worker]\n'
                    'osbuild = "%s/osbuild"\ncache_directory = "%s"\n'
                    'heartbeat_interval = 10\nsome_new_key = 1\n' % (
                        DOUBLES, DOUBLES, self.tmp))
        r = subprocess.run([harness.WORKER, "-n", "-c", good],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)
        self.assertIn("some_new_key", r.stderr)     # warned, not fatal
        bad = os.path.join(self.tmp, "bad.toml")
        with open(bad, "w") as f:
            f.write('[worker]\nheartbeat_interval = "often"\n')
        r = subprocess.run([harness.WORKER, "-n", "-c", bad],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        # -n: errors on stderr, nothing on stdout but what went well.
        self.assertIn(bad + ":2:", r.stderr)
        self.assertEqual(r.stdout, "")
        r = subprocess.run([harness.WORKER, "-c", bad, "127.0.0.1:1"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn(bad + ":2:", r.stderr)
        # A missing file means the defaults; where the default builder and
        # depsolver are absent, the native ones are used when present.
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        for name, double in (("ib-build", "osbuild"),
                             ("ib-depsolve", "depsolver")):
            os.symlink(os.path.join(DOUBLES, double),
                       os.path.join(bindir, name))
        missing = os.path.join(self.tmp, "missing.toml")
        env = dict(os.environ, IB_FALLBACK_BINDIR=bindir,
                   CACHE_DIRECTORY=self.tmp, PATH="/usr/bin:/bin")
        r = subprocess.run([harness.WORKER, "-n", "-c", missing],
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("worker.osbuild: the default osbuild is absent, "
                      "using %s/ib-build" % bindir, r.stdout)
        self.assertIn("dnf-json: the default /usr/libexec/osbuild-depsolve-dnf"
                      " is absent, using %s/ib-depsolve" % bindir, r.stdout)
        env["IB_FALLBACK_BINDIR"] = os.path.join(self.tmp, "empty")
        r = subprocess.run([harness.WORKER, "-n", "-c", missing],
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn(missing + ": worker.osbuild (default): osbuild: the "
                      "builder cannot be run", r.stderr)
        # What the file refers to, each problem at its key.
        refs = os.path.join(self.tmp, "refs.toml")
        with open(refs, "w") as f:
            f.write('dnf-json = "%s/depsolver"\n[worker]\n'
                    'osbuild = "/nonexistent/osbuild"\n'
                    'metrics_listen = "no-port"\n'
                    'job_types = ["osbuild", "frobnicate"]\n'
                    'tls_ca = "/nonexistent/ca.pem"\n'
                    '[osbuild_executor]\ntype = "qemu.kvm"\n'
                    'image = "/nonexistent/base.qcow2"\n'
                    '[aws]\ncredentials = "/nonexistent/creds"\n' % DOUBLES)
        r = subprocess.run([harness.WORKER, "-n", "-c", refs],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        for want in (":4:1: worker.metrics_listen: ",
                     ':5:1: worker.job_types: "frobnicate": not a job type',
                     ":6:1: worker.tls_ca: /nonexistent/ca.pem: No such",
                     ':8:1: osbuild_executor.type: qemu.kvm: the executor '
                     'image /nonexistent/base.qcow2 cannot be read',
                     ":11:1: aws.credentials: /nonexistent/creds: No such"):
            self.assertIn(refs + want, r.stderr)
        # The builder runs in the executor's VM: the host's is not needed.
        self.assertNotIn("worker.osbuild", r.stderr)
        self.assertNotIn("configuration OK", r.stdout)
        busy = harness.free_port()
        with socket.socket() as s:
            s.bind(("127.0.0.1", busy))
            s.listen(1)
            with open(refs, "w") as f:
                f.write('dnf-json = "%s/depsolver"\n[worker]\n'
                        'osbuild = "%s/osbuild"\ncache_directory = "%s"\n'
                        'metrics_listen = "127.0.0.1:%d"\n' % (
                            DOUBLES, DOUBLES, self.tmp, busy))
            r = subprocess.run([harness.WORKER, "-n", "-c", refs],
                               capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn(refs + ":5:1: worker.metrics_listen: ", r.stderr)
        for args, code in (([], 2), (["--version"], 0), (["--help"], 0),
                           (["-x"], 2), (["a", "b"], 2)):
            r = subprocess.run([harness.WORKER] + args, capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, code, args)

    def test_executor_types(self):
        """-n takes the reference's three executor types, each checked
        for what it needs here, and refuses any other."""
        conf = os.path.join(self.tmp, "executor.toml")
        image = os.path.join(self.tmp, "base.qcow2")
        with open(image, "wb") as f:
            f.write(b"QFI\xfb")
        base = ('dnf-json = "%s/depsolver"\n[worker]\nosbuild = '
                '"%s/osbuild"\ncache_directory = "%s"\n' % (
                    DOUBLES, DOUBLES, self.tmp))
        for typ, extra, code, said in (
                ("host", "", 0, "configuration OK"),
                ("qemu.kvm", 'image = "%s"\n' % image, 0,
                 "configuration OK"),
                ("aws.ec2", 'ami = "ami-0a1"\nsubnet_id = "subnet-0b2"\n'
                 'security_group = "sg-0c3"\nregion = "eu-west-1"\n', 0,
                 "configuration OK"),
                ("aws.ec2", "", 2, "osbuild_executor.type: aws.ec2: aws.ec2 "
                 "needs ami, subnet_id, security_group and region"),
                ("docker", "", 2, 'osbuild_executor.type: must be "host", '
                 '"aws.ec2" or "qemu.kvm"')):
            with open(conf, "w") as f:
                f.write(base + '[osbuild_executor]\ntype = "%s"\n%s' % (
                    typ, extra))
            r = subprocess.run([harness.WORKER, "-n", "-c", conf],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, code, typ + r.stdout + r.stderr)
            self.assertIn(said, r.stdout + r.stderr, typ)

    def test_sd_notify_and_metrics(self):
        import socket
        import urllib.request
        q = self.queue()
        files = self.keep(harness.FileServer({"/a": b"a"}))
        sock_path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        s.settimeout(0.5)
        port = harness.free_port()
        w = self.worker("http://" + q.address,
                        '[worker]\nmetrics_listen = "127.0.0.1:%d"\n' % port,
                        env={"NOTIFY_SOCKET": sock_path,
                             "WATCHDOG_USEC": "1000000"})
        w.wait_log(r"registered as worker")
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 10)
        time.sleep(1.2)
        body = urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
        self.assertIn('ib_worker_jobs_total{type="file-resolve",outcome='
                      '"success"} 1', body)
        self.assertRegex(body, r'ib_worker_heartbeats_total\{result="ok"\} [1-9]')
        self.assertIn("ib_worker_busy 0", body)
        self.assertIn("ib_worker_registered 1", body)
        self.assertIn('ib_worker_state{state="idle"} 1', body)
        # Prometheus's own linter takes the exposition as it is.
        lint = subprocess.run(["promtool", "check", "metrics"],
                              input=body.encode(), capture_output=True,
                              timeout=30)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        health = urllib.request.urlopen(
            "http://127.0.0.1:%d/healthz" % port, timeout=5)
        self.assertEqual(health.status, 200)
        self.assertEqual(json.loads(health.read())["state"], "idle")
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait_exit(10), 0)
        msgs = []
        try:
            while True:
                msgs.append(s.recv(4096).decode())
        except OSError:
            pass
        s.close()
        joined = "\n".join(msgs)
        for want in ("READY=1", "STATUS=running file-resolve job",
                     "WATCHDOG=1", "STOPPING=1"):
            self.assertIn(want, joined)


if __name__ == "__main__":
    harness.main()
