#!/usr/bin/python3
"""ostree-resolve end to end: a real OSTree repository (ostree init/commit)
served over loopback HTTP, and over HTTPS with client-certificate
verification for the [repository_mtls] / rhsm case."""

import os
import shutil
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402

REF = "test/x86_64/base"


def make_repo(top):
    """An archive-mode repository with one commit on REF; returns the files
    to serve and the commit checksum."""
    repo = os.path.join(top, "repo")
    tree = os.path.join(top, "tree")
    os.makedirs(os.path.join(tree, "etc"))
    with open(os.path.join(tree, "etc", "os-release"), "w") as f:
        f.write("ID=test\n")
    subprocess.run(["ostree", "init", "--repo", repo, "--mode", "archive"],
                   check=True, timeout=60)
    subprocess.run(["ostree", "commit", "--repo", repo, "--branch", REF,
                    "--subject", "test", tree], check=True, timeout=60,
                   capture_output=True)
    rev = subprocess.run(["ostree", "rev-parse", "--repo", repo, REF],
                         check=True, capture_output=True, text=True,
                         timeout=60).stdout.strip()
    return harness.tree_files(repo), rev


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, timeout=60,
                   capture_output=True)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    os.makedirs(d)
    p = {k: os.path.join(d, k) for k in (
        "ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem", "cli.key",
        "cli.csr", "cli.pem", "other.key", "other.pem", "ext")}
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=test CA", "-keyout", p["ca.key"], "-out", p["ca.pem"])
    with open(p["ext"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name, cn in (("srv", "127.0.0.1"), ("cli", "worker")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
                "-keyout", p[name + ".key"], "-out", p[name + ".csr"])
        openssl("x509", "-req", "-in", p[name + ".csr"], "-CA", p["ca.pem"],
                "-CAkey", p["ca.key"], "-CAcreateserial", "-days", "2",
                "-extfile", p["ext"], "-out", p[name + ".pem"])
    # A client certificate the server does not trust (self-signed).
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=stranger", "-keyout", p["other.key"],
            "-out", p["other.pem"])
    return p


class MTLSFileServer(harness.FileServer):
    """The harness's file server behind TLS that requires a client
    certificate signed by the test CA."""

    def __init__(self, files, pki):
        super().__init__(files)
        self.server.shutdown()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki["srv.pem"], pki["srv.key"])
        ctx.load_verify_locations(pki["ca.pem"])
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.url = "https://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()


class OSTreeResolve(harness.TestCase):

    def setUp(self):
        super().setUp()
        files, self.rev = make_repo(self.tmp)
        files["/repo/refs/heads/broken"] = b"not-a-checksum\n"
        files["/repo/refs/heads/short"] = b"abc123\n"
        self.files = self.keep(harness.FileServer(files))
        self.q = self.queue()

    def run_job(self, w, specs):
        jid = self.q.enqueue("ostree-resolve", {"ostree_resolve_specs": specs})
        self.q.wait(jid, 30)
        return self.q.result(jid)

    def test_resolves_and_fails_with_the_reference_ids(self):
        w = self.worker("http://" + self.q.address)
        url = self.files.url + "/repo"
        res = self.run_job(w, [{"url": url, "ref": REF, "rhsm": False},
                               {"url": url + "/", "ref": REF}])
        self.assertNotIn("job_error", res)
        self.assertRegex(self.rev, r"^[0-9a-f]{64}$")
        self.assertEqual(res["ostree_resolve_result_specs"], [
            {"url": url, "ref": REF, "checksum": self.rev, "bool": False,
             "secrets": ""},
            {"url": url + "/", "ref": REF, "checksum": self.rev,
             "bool": False, "secrets": ""}])

        cases = [
            ({"url": url, "ref": "test/missing"}, 33, "returned status: 404"),
            ({"url": url, "ref": "broken"}, 33, "bad checksum format"),
            ({"url": url, "ref": "short"}, 33, "bad checksum format"),
            ({"url": url, "ref": "bad ref!"}, 32, "Invalid ostree ref"),
            ({"url": url, "ref": "/abs"}, 32, "Invalid ostree ref"),
            ({"url": url, "ref": "a/../b"}, 32, "Invalid ostree ref"),
            ({"url": "ftp://127.0.0.1/repo", "ref": REF}, 34, "not an http"),
            ({"ref": REF}, 34, "not an http"),
            ({"url": "http://127.0.0.1:%d/repo" % harness.free_port(),
              "ref": REF}, 33, "ostree repository"),
        ]
        for spec, eid, text in cases:
            res = self.run_job(w, [spec])
            self.assertEqual(res["job_error"]["id"], eid, (spec, res))
            self.assertIn(text, res["job_error"]["details"], spec)
        self.assertTrue(w.alive())

    def test_rhsm_and_repository_mtls(self):
        pki = make_pki(os.path.join(self.tmp, "pki"))
        tls = self.keep(MTLSFileServer(self.files.files, pki))
        base = tls.url + "/repo"
        conf = ('[repository_mtls]\nbaseurl = "%s"\nca = "%s"\n'
                'mtls_client_key = "%s"\nmtls_client_cert = "%s"\n' %
                (base, pki["ca.pem"], pki["cli.key"], pki["cli.pem"]))
        w = self.worker("http://" + self.q.address, conf)
        # Under baseurl: the client certificate is used.
        res = self.run_job(w, [{"url": base, "ref": REF, "rhsm": True}])
        self.assertNotIn("job_error", res)
        spec = res["ostree_resolve_result_specs"][0]
        self.assertEqual(spec["checksum"], self.rev)
        self.assertIs(spec["bool"], True)
        self.assertEqual(spec["secrets"], "org.osbuild.rhsm.consumer")
        res = self.run_job(w, [{"url": base, "ref": REF}])
        self.assertNotIn("job_error", res)
        w.stop()

        # A client certificate the server does not know: refused.
        conf2 = conf.replace(pki["cli.key"], pki["other.key"]).replace(
            pki["cli.pem"], pki["other.pem"])
        w2 = self.worker("http://" + self.q.address, conf2, name="w2")
        res = self.run_job(w2, [{"url": base, "ref": REF, "rhsm": True}])
        self.assertEqual(res["job_error"]["id"], 33)
        w2.stop()

        # rhsm without any client certificate configured: an error, no
        # anonymous attempt.
        w3 = self.worker("http://" + self.q.address, name="w3")
        res = self.run_job(w3, [{"url": self.files.url + "/repo", "ref": REF,
                                 "rhsm": True}])
        self.assertEqual(res["job_error"]["id"], 33)
        self.assertIn("rhsm certificates", res["job_error"]["details"])


if __name__ == "__main__":
    for tool in ("ostree", "openssl"):
        if shutil.which(tool) is None:
            print("skipped: %s is not installed" % tool)
            raise SystemExit(77)
    harness.main()
