#!/usr/bin/python3
"""container-resolve end to end: a real registry (Debian's docker-registry)
on loopback, holding images the test builds itself (an OCI layout with one
layer, a two-arch index, a single-arch image) and pushes with skopeo; plain
HTTP, HTTPS, and htpasswd authentication with a containers-auth.json."""

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Layout:
    """An OCI image layout written by hand: blobs, index.json, refs."""

    def __init__(self, d):
        self.d = d
        os.makedirs(os.path.join(d, "blobs", "sha256"))
        with open(os.path.join(d, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []

    def blob(self, data):
        dg = sha(data)
        with open(os.path.join(self.d, "blobs", "sha256", dg[7:]), "wb") as f:
            f.write(data)
        return {"digest": dg, "size": len(data)}

    def image(self, arch, text):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = text.encode()
            ti = tarfile.TarInfo("hello.txt")
            ti.size = len(data)
            ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
        layer = buf.getvalue()
        # Compressed already, so that skopeo pushes the blobs unchanged.
        lb = self.blob(gzip.compress(layer, mtime=0))
        config = json.dumps({
            "architecture": arch, "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
        }, sort_keys=True).encode()
        cb = self.blob(config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": dict(cb, mediaType=
                           "application/vnd.oci.image.config.v1+json"),
            "layers": [dict(lb, mediaType=
                            "application/vnd.oci.image.layer.v1.tar+gzip")],
        }, sort_keys=True).encode()
        mb = self.blob(manifest)
        return {"manifest": dict(mb, mediaType=OCI_MANIFEST),
                "config": cb["digest"], "digest": mb["digest"]}

    def index(self, images):
        idx = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [dict(img["manifest"], platform={
                "architecture": arch, "os": "linux"})
                for arch, img in images],
        }, sort_keys=True).encode()
        b = self.blob(idx)
        return {"manifest": dict(b, mediaType=OCI_INDEX), "digest": b["digest"]}

    def tag(self, name, thing):
        self.refs.append(dict(thing["manifest"], annotations={
            "org.opencontainers.image.ref.name": name}))
        with open(os.path.join(self.d, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f)


class Registry:
    """Debian's docker-registry on a free loopback port."""

    def __init__(self, tmp, name, tls=None, htpasswd=None):
        self.port = harness.free_port()
        self.root = os.path.join(tmp, name + "-storage")
        conf = ["version: 0.1", "log:", "  level: error", "storage:",
                "  filesystem:", "    rootdirectory: " + self.root,
                "http:", "  addr: 127.0.0.1:%d" % self.port]
        if tls:
            conf += ["  tls:", "    certificate: " + tls[0],
                     "    key: " + tls[1]]
        if htpasswd:
            conf += ["auth:", "  htpasswd:", "    realm: test-realm",
                     "    path: " + htpasswd]
        path = os.path.join(tmp, name + ".yml")
        with open(path, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.log = open(os.path.join(tmp, name + ".log"), "ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", path],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.host = "127.0.0.1:%d" % self.port
        scheme = "https" if tls else "http"

        def up():
            import ssl
            try:
                urllib.request.urlopen(
                    "%s://%s/v2/" % (scheme, self.host), timeout=2,
                    context=ssl._create_unverified_context())
                return True
            except urllib.error.HTTPError:
                return True     # 401: up, wants credentials
            except OSError:
                return False
        harness.wait_until(up, 20, "docker-registry to listen")

    def push(self, layout, ref, dest, creds=None, tls=False):
        cmd = ["skopeo", "--insecure-policy", "copy", "--all", "-q",
               "--dest-tls-verify=false"]
        if creds:
            cmd += ["--dest-creds", creds]
        cmd += ["oci:%s:%s" % (layout, ref), "docker://%s/%s" % (self.host,
                                                              dest)]
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def build_images(tmp):
    lay = Layout(os.path.join(tmp, "layout"))
    amd = lay.image("amd64", "hello from amd64\n")
    arm = lay.image("arm64", "hello from arm64\n")
    idx = lay.index([("amd64", amd), ("arm64", arm)])
    lay.tag("multi", idx)
    lay.tag("single", amd)
    lay.tag("armonly", arm)
    return lay, amd, arm, idx


class ContainerResolve(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.lay, self.amd, self.arm, self.idx = build_images(self.tmp)
        self.q = self.queue()

    def run_job(self, specs, arch="x86_64"):
        jid = self.q.enqueue("container-resolve", {"arch": arch,
                                                   "specs": specs})
        self.q.wait(jid, 60)
        return self.q.result(jid)

    def test_plain_registry(self):
        reg = self.keep(Registry(self.tmp, "reg"))
        for ref, dest in (("multi", "test/multi:latest"),
                          ("single", "test/single:v1"),
                          ("armonly", "test/armonly:latest")):
            reg.push(self.lay.d, ref, dest)
        w = self.worker("http://" + self.q.address)
        h = reg.host
        res = self.run_job([
            {"source": h + "/test/multi", "name": "local/multi",
             "tls-verify": False},
            {"source": h + "/test/single:v1", "tls-verify": False},
            {"source": "%s/test/multi@%s" % (h, self.idx["digest"]),
             "tls-verify": False}])
        self.assertNotIn("job_error", res)
        multi, single, bydigest = res["specs"]
        self.assertEqual(multi, {
            "source": h + "/test/multi", "name": "local/multi",
            "tls-verify": False, "image_id": self.amd["config"],
            "digest": self.amd["digest"], "list-digest": self.idx["digest"]})
        # "source" without tag or digest, as the reference (the composer
        # writes the digest beside it; skopeo refuses both).
        self.assertEqual(single, {
            "source": h + "/test/single", "name": h + "/test/single:v1",
            "tls-verify": False, "image_id": self.amd["config"],
            "digest": self.amd["digest"]})
        self.assertEqual(bydigest["digest"], self.amd["digest"])
        self.assertEqual(bydigest["source"], h + "/test/multi")
        self.assertEqual(bydigest["name"],
                         "%s/test/multi@%s" % (h, self.idx["digest"]))
        self.assertEqual(res["pipeline_specs"], {"": res["specs"]})

        # aarch64 picks the other entry of the index.
        res = self.run_job([{"source": h + "/test/multi",
                             "tls-verify": False}], arch="aarch64")
        self.assertNotIn("job_error", res)
        self.assertEqual(res["specs"][0]["digest"], self.arm["digest"])
        self.assertEqual(res["specs"][0]["image_id"], self.arm["config"])

        # Newer composers: per pipeline.
        jid = self.q.enqueue("container-resolve", {
            "arch": "x86_64", "pipeline_specs": {
                "build": [{"source": h + "/test/single:v1",
                           "tls-verify": False}],
                "os": [{"source": h + "/test/multi", "tls-verify": False}]}})
        self.q.wait(jid, 60)
        res = self.q.result(jid)
        self.assertNotIn("job_error", res)
        self.assertEqual(res["pipeline_specs"]["build"][0]["digest"],
                         self.amd["digest"])
        self.assertEqual(res["pipeline_specs"]["os"][0]["list-digest"],
                         self.idx["digest"])
        self.assertEqual(len(res["specs"]), 2)

        # Failures: each a job error 30 with the registry's message.
        down = "127.0.0.1:%d" % harness.free_port()
        cases = [
            # docker-registry 2.8 says the same for an unknown repository.
            ({"source": h + "/test/nosuch", "tls-verify": False},
             "test/nosuch: manifest unknown"),
            ({"source": h + "/test/multi:nosuchtag", "tls-verify": False},
             "manifest unknown"),
            ({"source": h + "/test/armonly", "tls-verify": False},
             "is for architecture arm64, not amd64"),
            ({"source": down + "/test/multi", "tls-verify": False},
             "onnect"),
            # Verification on (the default): a plain HTTP registry fails.
            ({"source": h + "/test/multi"}, "reading manifest"),
            ({"source": "Not A Valid/Ref::"}, "invalid image reference"),
        ]
        for spec, text in cases:
            res = self.run_job([spec])
            self.assertEqual(res["job_error"]["id"], 30, (spec, res))
            self.assertIn(text, res["job_error"]["reason"], spec)
        self.assertTrue(w.alive())

    def test_tls_and_basic_auth(self):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import crypt
            hashed = crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH))
        except (ImportError, AttributeError):
            self.skipTest("no bcrypt in python's crypt module")
        ht = os.path.join(self.tmp, "htpasswd")
        with open(ht, "w") as f:
            f.write("alice:%s\n" % hashed)
        key = os.path.join(self.tmp, "reg.key")
        crt = os.path.join(self.tmp, "reg.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", crt], check=True,
                       capture_output=True, timeout=60)
        reg = self.keep(Registry(self.tmp, "sreg", tls=(crt, key),
                                 htpasswd=ht))
        reg.push(self.lay.d, "multi", "test/multi:latest",
                 creds="alice:s3cret")
        h = reg.host
        auth = os.path.join(self.tmp, "auth.json")
        with open(auth, "w") as f:
            json.dump({"auths": {h: {"auth": base64.b64encode(
                b"alice:s3cret").decode()}}}, f)
        w = self.worker("http://" + self.q.address,
                        '[containers]\nauth_file_path = "%s"\n' % auth)
        res = self.run_job([{"source": h + "/test/multi",
                             "tls-verify": False}])
        self.assertNotIn("job_error", res)
        self.assertEqual(res["specs"][0]["digest"], self.amd["digest"])
        self.assertEqual(res["specs"][0]["list-digest"], self.idx["digest"])
        # The self-signed certificate is refused when verifying.
        res = self.run_job([{"source": h + "/test/multi"}])
        self.assertEqual(res["job_error"]["id"], 30)
        self.assertRegex(res["job_error"]["reason"], r"(?i)certificate")
        self.assertNotIn("s3cret", w.log())
        w.stop()

        # Wrong and missing credentials: the registry's refusal.
        with open(auth, "w") as f:
            json.dump({"auths": {h: {"auth": base64.b64encode(
                b"alice:wrong").decode()}}}, f)
        w2 = self.worker("http://" + self.q.address,
                         '[containers]\nauth_file_path = "%s"\n' % auth,
                         name="w2")
        res = self.run_job([{"source": h + "/test/multi",
                             "tls-verify": False}])
        self.assertEqual(res["job_error"]["id"], 30)
        self.assertIn("authentication required", res["job_error"]["reason"])
        w2.stop()
        w3 = self.worker("http://" + self.q.address, name="w3")
        res = self.run_job([{"source": h + "/test/multi",
                             "tls-verify": False}])
        self.assertEqual(res["job_error"]["id"], 30)
        self.assertIn("HTTP 401", res["job_error"]["reason"])


if __name__ == "__main__":
    for tool in ("docker-registry", "skopeo", "openssl"):
        if shutil.which(tool) is None:
            print("skipped: %s is not installed" % tool)
            raise SystemExit(77)
    harness.main()
