#!/usr/bin/python3
"""The worker when the composer misbehaves: restarted mid-job, 500/503
answers, reset connections, a slow server, a hostile server; and the
transports: OAuth2 (refresh on 401, endpoint down, expiry) and mutual TLS.
No secret may reach the worker's log."""

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
import loopback  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402
from oauth import OAuthDouble  # noqa: E402

FAST = "[worker]\nbackoff_max = 2\nheartbeat_interval = 2\n"
OSBUILD = 'osbuild = "%s"\n' % os.path.join(testpath.DOUBLES, "osbuild")


class Faults(harness.TestCase):

    def test_server_restarted_mid_job(self):
        q = self.queue()
        files = self.keep(harness.FileServer({}))
        w = self.worker("http://" + q.address, FAST)
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/6"]})
        w.wait_log(r"job accepted")
        q.stop(signal.SIGKILL)
        time.sleep(2)
        q.start()       # same port, same state
        job = q.wait(jid, 60)
        self.assertEqual(job["state"], "success", job["result"])
        self.assertTrue(w.alive())

    def test_result_retried_until_the_server_is_back(self):
        q = self.queue()
        files = self.keep(harness.FileServer({}))
        w = self.worker("http://" + q.address, FAST)
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/3"]})
        w.wait_log(r"job accepted")
        q.stop(signal.SIGKILL)
        w.wait_log(r"job result: .*retrying", 20)
        q.start()
        job = q.wait(jid, 30)
        self.assertEqual(job["state"], "success", job["result"])

    def test_5xx_resets_and_slowness(self):
        q = self.queue()
        p = self.keep(FaultProxy(q.port))
        files = self.keep(harness.FileServer({"/a": b"a"}))
        p.set(status=503, count=4)
        w = self.worker("http://" + p.address, FAST)
        w.wait_log(r"registered as worker", 30)
        self.assertIn("HTTP 503", w.log())
        p.set(status=500, count=3)
        j1 = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(j1, 30)
        p.set(resets=3)
        j2 = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(j2, 30)
        p.set(delay=1.5)
        j3 = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(j3, 30)
        for j in (j1, j2, j3):
            self.assertTrue(q.result(j)["success"])
        self.assertTrue(w.alive())

    def test_artifact_upload_tried_again_after_a_cut_and_a_503(self):
        # A worker.server upload whose connection is cut (the composer
        # restarted, a proxy gave up) or answered 503 starts again: the
        # composer keeps nothing of a partial PUT. It used to fail the job.
        q = self.queue()
        p = self.keep(FaultProxy(q.port))
        w = self.worker("http://" + p.address, FAST + OSBUILD)
        size = 256 * 1024 + 3
        p.set(resets=1, status=503, count=1, match=r"^PUT .*/artifacts?/")
        jid = q.enqueue("osbuild", jobs.worker_server_args(
            double={"size": size}))
        job = q.wait(jid, 90)
        res = q.result(jid)
        self.assertEqual(job["state"], "success", json.dumps(res)[:2000])
        self.assertNotIn("job_error", res)
        puts = [r for _, r in p.requests if r.startswith("PUT ")
                and "/artifact" in r]
        self.assertEqual(len(puts), 3, puts)
        self.assertEqual(len(re.findall(r"artifact upload: .*trying again",
                                        w.log())), 2, w.log()[-3000:])
        dest = os.path.join(self.tmp, "got")
        subprocess.run([harness.QUEUE, "--url", q.url, "artifact", jid,
                        "disk.qcow2", "-o", dest], check=True, timeout=60)
        self.assertEqual(os.path.getsize(dest), size)

    def test_stalled_call_fails_after_low_speed_time(self):
        # A composer that says nothing for longer than low_speed_time
        # loses the call; the worker retries and gets through once it
        # answers again. (libcurl averages the speed over about 5 s, so a
        # stall shows after 6 s or so.)
        q = self.queue()
        p = self.keep(FaultProxy(q.port))
        p.set(delay=12)
        w = self.worker("http://" + p.address,
                        FAST + "low_speed_time = 1\n")
        w.wait_log(r"(?i)too slow", 15)
        self.assertNotIn("registered as worker", w.log())
        p.set()
        w.wait_log(r"registered as worker", 30)

    def test_hostile_server(self):
        """A server sending malformed, mistyped and oversized jobs."""
        answers = [
            (201, b"{not json"),
            (201, b'["an", "array"]'),
            (201, json.dumps({"id": "x", "type": "file-resolve"}).encode()),
            (201, json.dumps({"id": "x", "type": 7, "location": "/a"}).encode()),
            (201, json.dumps({"id": "x", "type": "file-resolve",
                              "location": "http://evil/x"}).encode()),
            (201, json.dumps({"id": "x", "type": "file-resolve",
                              "location": "/api/worker/v1/jobs/../../x"}).encode()),
            (201, b'{"pad":"' + b"A" * (3 * 1024 * 1024) + b'"}'),
            (201, json.dumps({"id": "j1", "type": "no-such-kind",
                              "location": "/api/worker/v1/jobs/t1",
                              "args": {}}).encode()),
            (201, json.dumps({"id": "j2", "type": "file-resolve",
                              "location": "/api/worker/v1/jobs/t2",
                              "args": ["wrong"]}).encode()),
        ]
        patches = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, body, ctype="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.reply(200, b'{"canceled": false}')

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self.rfile.read(n)
                if self.path.endswith("/workers"):
                    return self.reply(201, b'{"worker_id":"w"}')
                if self.path.endswith("/status"):
                    return self.reply(200, b"")
                if answers:
                    return self.reply(*answers.pop(0))
                time.sleep(0.5)
                self.send_response(204)
                self.send_header("Content-Type", "application/json")
                self.end_headers()

            def do_PATCH(self):
                n = int(self.headers.get("Content-Length", 0))
                patches.append((self.path, json.loads(self.rfile.read(n))))
                self.reply(200, b"{}")

        srv = loopback.start(H)
        self._started.append(type("S", (), {
            "stop": lambda s: loopback.stop(srv)})())
        w = self.worker("http://127.0.0.1:%d" % srv.server_address[1],
                        "[worker]\nbackoff_max = 1\nmax_body = 1048576\n")
        harness.wait_until(lambda: not answers and len(patches) >= 3, 60,
                           "every hostile answer")
        time.sleep(1)
        self.assertTrue(w.alive())
        log = w.log()
        self.assertIn("malformed JSON", log)
        self.assertIn("not a plain path", log)
        self.assertIn("larger than", log)
        by = dict(patches)
        self.assertEqual(by["/api/worker/v1/jobs/t1"]["result"]["job_error"]["id"], 29)
        self.assertEqual(by["/api/worker/v1/jobs/t2"]["result"]["job_error"]
                         ["reason"], "job args are not an object")
        self.assertIn("not a string", by["/a"]["result"]["job_error"]["reason"])
        self.assertNotIn("evil", "".join(p for p, _ in patches))

    def test_oauth_refresh_on_401_down_and_expiry(self):
        secret = b"jwt-signing-secret-for-tests"
        sfile = os.path.join(self.tmp, "jwt.secret")
        with open(sfile, "wb") as f:
            f.write(secret)
        offline = "OFFLINE-TOKEN-d41d8cd98f00b204e980"
        tfile = os.path.join(self.tmp, "offline_token")
        with open(tfile, "w") as f:
            f.write(offline + "\n")
        sso = self.keep(OAuthDouble(secret, "worker-client",
                                            refresh_token=offline,
                                            expires_in=62))
        q = self.queue("--jwt-secret", sfile)
        files = self.keep(harness.FileServer({"/a": b"a"}))
        sso.down = True
        w = self.worker(q.address.join(["http://", ""]),
                        '[authentication]\noauth_url = "%s"\nclient_id = '
                        '"worker-client"\noffline_token = "%s"\n' %
                        (sso.url, tfile) + FAST)
        w.wait_log(r"no access token", 20)
        self.assertTrue(w.alive())
        sso.down = False
        w.wait_log(r"registered as worker", 30)
        self.assertEqual(sso.calls[-1]["grant_type"], "refresh_token")
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 20)
        self.assertTrue(q.result(jid)["success"])
        # expires_in 62 s: the worker refreshes 60 s ahead of expiry, so
        # once 2 s have passed the next call fetches a fresh token.
        n = len(sso.issued)
        time.sleep(2.5)
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 20)
        self.assertGreater(len(sso.issued), n)
        for secretish in (offline, sso.issued[0]):
            self.assertNotIn(secretish, w.log())

    def test_oauth_client_credentials_and_401_retry(self):
        secret = b"another-signing-secret"
        sfile = os.path.join(self.tmp, "jwt.secret")
        with open(sfile, "wb") as f:
            f.write(secret)
        csfile = os.path.join(self.tmp, "client_secret")
        with open(csfile, "w") as f:
            f.write("CLIENT-SECRET-9f86d081884c7d65")
        sso = self.keep(OAuthDouble(
            secret, "svc", client_secret="CLIENT-SECRET-9f86d081884c7d65"))
        q = self.queue("--jwt-secret", sfile)
        w = self.worker("http://" + q.address,
                        '[authentication]\noauth_url = "%s"\nclient_id = "svc"\n'
                        'client_secret = "%s"\n' % (sso.url, csfile) + FAST)
        w.wait_log(r"registered as worker", 20)
        first = len(sso.issued)
        # The queue stops trusting old tokens: the next call gets 401, the
        # worker fetches a new token and retries once.
        q.stop()
        with open(sfile, "wb") as f:
            f.write(b"rotated-signing-secret")
        sso.secret = b"rotated-signing-secret"
        q.start()
        files = self.keep(harness.FileServer({"/a": b"a"}))
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 30)
        self.assertTrue(q.result(jid)["success"])
        self.assertGreater(len(sso.issued), first)
        self.assertEqual(sso.calls[-1]["grant_type"], "client_credentials")
        log = w.log()
        self.assertNotIn("CLIENT-SECRET", log)
        for t in sso.issued:
            self.assertNotIn(t, log)

    def _certs(self):
        d = os.path.join(self.tmp, "pki")
        os.makedirs(d)

        def ossl(*a):
            subprocess.run(["openssl"] + list(a), cwd=d, check=True,
                           capture_output=True)
        for ca in ("ca", "otherca"):
            ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-keyout", ca + "-key.pem", "-out", ca + "-crt.pem",
                 "-subj", "/CN=" + ca)
        with open(os.path.join(d, "san.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for name in ("server", "worker"):
            ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                 name + "-key.pem", "-out", name + ".csr", "-subj",
                 "/CN=" + name)
            ossl("x509", "-req", "-in", name + ".csr", "-CA", "ca-crt.pem",
                 "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2",
                 "-out", name + "-crt.pem", "-extfile", "san.cnf")
        return d

    def test_mutual_tls_and_wrong_ca(self):
        d = self._certs()
        q = self.queue("--tls-cert", d + "/server-crt.pem", "--tls-key",
                       d + "/server-key.pem", "--client-ca", d + "/ca-crt.pem")
        q.client = (d + "/worker-crt.pem", d + "/worker-key.pem")
        files = self.keep(harness.FileServer({"/a": b"tls"}))
        w = self.worker(q.address,
                        '[worker]\ntls_ca = "%s/ca-crt.pem"\ntls_cert = '
                        '"%s/worker-crt.pem"\ntls_key = "%s/worker-key.pem"\n'
                        % (d, d, d), name="good")
        w.wait_log(r"registered as worker", 20)
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 20)
        self.assertTrue(q.result(jid)["success"])
        bad = self.worker(q.address,
                          '[worker]\ntls_ca = "%s/otherca-crt.pem"\ntls_cert = '
                          '"%s/worker-crt.pem"\ntls_key = "%s/worker-key.pem"\n'
                          "backoff_max = 1\n" % (d, d, d), name="wrongca")
        bad.wait_log(r"register: .*(certificate|SSL)", 20)
        self.assertTrue(bad.alive())
        nocert = self.worker(q.address,
                             '[worker]\ntls_ca = "%s/ca-crt.pem"\n'
                             'tls_cert = "%s/missing.pem"\n' % (d, d),
                             name="nocert")
        self.assertEqual(nocert.wait_exit(10), 2)
        self.assertIn("missing.pem", nocert.log())


if __name__ == "__main__":
    harness.main()
