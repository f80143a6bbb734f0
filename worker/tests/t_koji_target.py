#!/usr/bin/python3
"""org.osbuild.koji end to end: the worker binary takes an osbuild job from
the project's queue (osbuild is the test double) and uploads the image,
the manifest and the build log to the Koji hub double (doubles/koji.py:
XML-RPC checked against the hub's signatures, sessions and call numbers,
chunked uploads answered with size and Adler-32 as Koji answers them).
Checked: the files and their MD5s in the result, chunks in order, a chunk
retried on 503 under the same call number, logout always, the Kerberos
login against a real KDC (Debian's krb5-kdc on loopback, a keytab the
test makes; the hub double checks the SPNEGO token carries a ticket for
HTTP/localhost from that realm), and the failures a user meets: a hub not
configured, a refused login, a principal missing from the keytab, a hub
that kept less than was sent, a bad upload directory; no session key in
logs."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
from koji import KojiDouble  # noqa: E402

DOUBLES = harness.DOUBLES
KiB = 1 << 10
EXPORT = ("qcow2", "disk.qcow2")
DIR = "osbuild-cg/osbuild-composer-koji-0c1a2b3c"


def target(options, image_name="Fedora-Cloud-41.x86_64.qcow2", n=1):
    return jobs.target("org.osbuild.koji", options, image_name, EXPORT,
                       "0c1a2b3c-0000-4000-8000-%012d" % n)


REALM = "IB.TEST"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Kdc:
    """A real MIT KDC for REALM on a loopback port, its database in tmp,
    with the worker's principal (in a keytab) and HTTP/localhost."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "kdc")
        os.makedirs(self.dir)
        port = free_port()
        self.conf = os.path.join(self.dir, "krb5.conf")
        with open(self.conf, "w") as f:
            f.write("[libdefaults]\n default_realm = %s\n"
                    " dns_canonicalize_hostname = false\n rdns = false\n"
                    " dns_lookup_kdc = false\n"
                    "[realms]\n %s = {\n  kdc = 127.0.0.1:%d\n }\n"
                    % (REALM, REALM, port))
        kdcconf = os.path.join(self.dir, "kdc.conf")
        with open(kdcconf, "w") as f:
            f.write("[kdcdefaults]\n kdc_listen = 127.0.0.1:%d\n"
                    " kdc_tcp_listen = 127.0.0.1:%d\n[realms]\n %s = {\n"
                    "  database_name = %s/principal\n"
                    "  key_stash_file = %s/stash\n"
                    "  acl_file = %s/kadm5.acl\n }\n[logging]\n"
                    " kdc = FILE:%s/kdc.log\n"
                    % (port, port, REALM, self.dir, self.dir, self.dir,
                       self.dir))
        self.env = dict(os.environ, KRB5_CONFIG=self.conf,
                        KRB5_KDC_PROFILE=kdcconf)
        run = lambda *a: subprocess.run(  # noqa: E731
            a, env=self.env, check=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        run("kdb5_util", "create", "-s", "-r", REALM, "-P", "master-pw")
        self.keytab = os.path.join(self.dir, "worker.keytab")
        for q in ("addprinc -randkey composer/worker@%s" % REALM,
                  "addprinc -randkey HTTP/localhost@%s" % REALM,
                  "ktadd -k %s composer/worker@%s" % (self.keytab, REALM)):
            run("kadmin.local", "-r", REALM, "-q", q)
        self.proc = subprocess.Popen(["krb5kdc", "-n", "-r", REALM],
                                     env=self.env,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        # Ready once it answers on TCP (it serves UDP from the same start).
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("krb5kdc did not start")
                time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class KojiTarget(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.hub = self.keep(KojiDouble())
        self.q = self.queue()

    def start(self, extra='[koji."127.0.0.1"]\nrelax_timeout_factor = 2\n'):
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\n%s' % (DOUBLES, extra),
                           env={"IB_KOJI_CHUNK_SIZE": str(1024 * KiB)})

    def run_job(self, targets, size, timeout=120):
        args = jobs.osbuild_args({"size": size}, EXPORT, targets)
        jid = self.q.enqueue("osbuild", args)
        self.q.wait(jid, timeout)
        return args, self.q.result(jid)

    def assert_no_session_key(self, w, res):
        text = w.log() + json.dumps(res)
        self.assertNotIn("session-key", text)
        for s in self.hub.sessions.values():
            self.assertNotIn(s["key"], text)

    def test_upload_image_manifest_log(self):
        self.hub.chunk_failures = 1
        w = self.start()
        size = 2 * 1024 * KiB + 4321
        name = "Fedora-Cloud-41.x86_64.qcow2"
        args, res = self.run_job([target({"server": self.hub.url,
                                          "upload_directory": DIR})], size)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        opts = res["target_results"][0]["options"]
        img = bytes(self.hub.files[DIR + "/" + name])
        self.assertEqual(len(img), size)
        self.assertEqual(opts["image"], {
            "filename": name, "checksum_type": "md5",
            "checksum": hashlib.md5(img).hexdigest(), "size": size})
        self.assertEqual((opts["image_md5"], opts["image_size"]),
                         (hashlib.md5(img).hexdigest(), size))
        man = bytes(self.hub.files[DIR + "/" + name + ".manifest.json"])
        self.assertEqual(json.loads(man), args["manifest"])
        self.assertIn(b"\n  ", man)       # indented, as the reference
        self.assertEqual(opts["osbuild_manifest"]["checksum"],
                         hashlib.md5(man).hexdigest())
        log = bytes(self.hub.files[DIR + "/" + name + ".osbuild.log"])
        # As the reference writes it: pipelines by name, stages with
        # their output and metadata.
        self.assertTrue(log.startswith(b"Pipeline: build\nStage: "
                                       b"org.osbuild.rpm\nOutput:\n"
                                       b"org.osbuild.rpm: done\n\n"
                                       b"Metadata:\n{"), log[:200])
        heads = [ln for ln in log.split(b"\n") if ln.startswith(
            b"Pipeline: ")]
        self.assertEqual(heads, sorted(heads))
        self.assertIn(b'"name": "gpg-pubkey"', log)
        self.assertEqual(opts["log"]["filename"], name + ".osbuild.log")
        self.assertEqual(opts["log"]["size"], len(log))
        # Login, then calls with growing numbers, the failed chunk retried
        # under its own number; logged out.
        self.assertEqual(self.hub.calls[0], ("sslLogin", None))
        self.assertEqual(self.hub.calls[-1][0], "logout")
        self.assertEqual(self.hub.logouts, 1)
        self.assertEqual(self.hub.faults, [])
        self.assertEqual(self.hub.negotiate_seen, [False])
        self.assertIn("retrying", w.log())
        self.assert_no_session_key(w, res)

    def kerberos(self, principal):
        if shutil.which("krb5kdc") is None:
            self.fail("krb5kdc is missing: ci/deps.sh installs krb5-kdc")
        kdc = self.keep(Kdc(self.tmp))
        self.hub.require_negotiate = True
        url = self.hub.url.replace("127.0.0.1", "localhost")
        w = self.worker("http://" + self.q.address,
                        '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                        '\n[koji."localhost".kerberos]\nprincipal = "%s"\n'
                        'keytab = "%s"\n' % (DOUBLES, principal, kdc.keytab),
                        env={"KRB5_CONFIG": kdc.conf})
        _, res = self.run_job([target({"server": url,
                                       "upload_directory": DIR})], 5000)
        return w, res

    def test_config_check_kerberos(self):
        """-n checks a hub's kerberos table: a principal, and a keytab
        that can be read and holds its key (Kerberos' own reading)."""
        kdc = self.keep(Kdc(self.tmp))
        conf = os.path.join(self.tmp, "check.toml")
        base = ('dnf-json = "%s/depsolver"\n[worker]\nosbuild = '
                '"%s/osbuild"\ncache_directory = "%s"\n'
                '[koji."kojihub.example"]\nrelax_timeout_factor = 2\n'
                '[koji."kojihub.example".kerberos]\n' % (
                    DOUBLES, DOUBLES, self.tmp))
        for table, code, said in (
                ('principal = "composer/worker@%s"\nkeytab = "%s"\n' % (
                    REALM, kdc.keytab), 0, "configuration OK"),
                ('principal = "someone-else@%s"\nkeytab = "%s"\n' % (
                    REALM, kdc.keytab), 2,
                 ':9:1: koji."kojihub.example".kerberos.keytab: the keytab '
                 'holds no key of someone-else@' + REALM),
                ('principal = "composer/worker@%s"\nkeytab = "%s/none"\n'
                 % (REALM, self.tmp), 2,
                 ':9:1: koji."kojihub.example".kerberos.keytab: the '
                 'keytab: '),
                ('keytab = "%s"\n' % kdc.keytab, 2,
                 'koji."kojihub.example".kerberos.principal (default): the '
                 'Kerberos login needs a principal')):
            with open(conf, "w") as f:
                f.write(base + table)
            r = subprocess.run([harness.WORKER, "-n", "-c", conf],
                               capture_output=True, text=True,
                               env=dict(os.environ, KRB5_CONFIG=kdc.conf))
            self.assertEqual(r.returncode, code, table + r.stderr)
            self.assertIn(said, r.stdout + r.stderr, table)

    def test_kerberos_login(self):
        w, res = self.kerberos("composer/worker@" + REALM)
        self.assertTrue(res.get("success"),
                        json.dumps(res.get("target_results")))
        self.assertEqual(self.hub.tickets, [("HTTP/localhost", REALM)])
        self.assertEqual(self.hub.logouts, 1)
        self.assert_no_session_key(w, res)

    def test_kerberos_principal_not_in_keytab(self):
        w, res = self.kerberos("someone-else@" + REALM)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 2)
        self.assertIn("getting a Kerberos ticket from the keytab",
                      terr["reason"])
        self.assertEqual(self.hub.tickets, [])
        self.assertEqual(self.hub.calls, [])
        self.assertTrue(w.alive())

    def finish_as_worker(self, jtype, result):
        """Takes the queued job of jtype through the worker API, as a
        worker would, and reports result for it."""
        base = "http://%s/api/worker/v1" % self.q.address

        def call(method, url, body):
            req = urllib.request.Request(
                url, json.dumps(body).encode(), method=method,
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                data = r.read()
                return json.loads(data) if data else None
        wid = call("POST", base + "/workers", {"arch": "x86_64"})["id"]
        job = call("POST", base + "/jobs", {"types": [jtype],
                                            "arch": "x86_64",
                                            "worker_id": wid})
        call("PATCH", "http://%s%s" % (self.q.address, job["location"])
             if job["location"].startswith("/") else job["location"],
             {"result": result})

    def test_manifest_info_from_the_manifest_job(self):
        """The manifest comes from a manifest job (dynamic argument), whose
        info names the composer that made it: koji-finalize records it."""
        self.start()
        args = jobs.osbuild_args({"size": 2000}, EXPORT, [target({
            "server": self.hub.url, "upload_directory": DIR})])
        manifest = args.pop("manifest")
        man = self.q.enqueue("test-manifest", {})
        info = {"osbuild_composer_version": "v140",
                "osbuild_composer_deps": [
                    {"path": "github.com/osbuild/images",
                     "version": "v0.200.0",
                     "replace": {"path": "github.com/x/images",
                                 "version": "v0.200.1"}}]}
        self.finish_as_worker("test-manifest", {"data": manifest,
                                                "info": info})
        jid = self.q.enqueue("osbuild", args, depends=[man])
        self.q.wait(jid, 120)
        res = self.q.result(jid)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(res["target_results"][0]["options"]
                         ["osbuild_manifest_info"], info)

    def test_hub_not_configured(self):
        self.start()
        _, res = self.run_job([target({"server": "https://koji.example."
                                       "test/kojihub",
                                       "upload_directory": DIR})], 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 2)
        self.assertEqual(terr["reason"], "Koji server has not been "
                         "configured: koji.example.test")
        self.assertEqual(self.hub.calls, [])

    def test_login_refused(self):
        self.hub.login_fault = "could not get user for principal " \
            "composer/worker@EXAMPLE.TEST"
        w = self.start()
        _, res = self.run_job([target({"server": self.hub.url,
                                       "upload_directory": DIR})], 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 2)
        self.assertIn('failed to authenticate with Koji server '
                      '"127.0.0.1"', terr["reason"])
        self.assertIn("1002: koji.AuthError: could not get user",
                      terr["reason"])
        self.assertEqual(self.hub.files, {})
        self.assertTrue(w.alive())

    def test_hub_kept_less_than_sent(self):
        self.hub.short_chunks = 1
        w = self.start()
        _, res = self.run_job([target({"server": self.hub.url,
                                       "upload_directory": DIR})], 3000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("sent 3000 bytes at offset 0, the hub got 2999",
                      terr["reason"])
        self.assertEqual(self.hub.logouts, 1)
        self.assert_no_session_key(w, res)

    def test_bad_options(self):
        self.start()
        _, res = self.run_job([
            target({"server": self.hub.url, "upload_directory": "../etc"},
                   n=1),
            target({"server": self.hub.url, "upload_directory": "/abs"},
                   n=2),
            target({"server": "not a url", "upload_directory": DIR}, n=3),
            target({"server": self.hub.url, "upload_directory": DIR},
                   image_name="ok.qcow2", n=5),
        ], 1000)
        self.assertIn("target_results", res, json.dumps(res)[:2000])
        errs = [t.get("target_error") for t in res["target_results"]]
        self.assertEqual([e["id"] for e in errs[:3]], [2, 2, 2])
        self.assertIn("failed to parse Koji server URL", errs[2]["reason"])
        self.assertIsNone(errs[3])
        self.assertEqual(sorted(self.hub.files),
                         [DIR + "/ok.qcow2", DIR + "/ok.qcow2.manifest.json",
                          DIR + "/ok.qcow2.osbuild.log"])


if __name__ == "__main__":
    harness.main()
