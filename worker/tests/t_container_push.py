#!/usr/bin/python3
"""org.osbuild.container end to end: the worker takes an osbuild job from
the project's queue (osbuild is the test double, its export an OCI archive
the test builds) and pushes it to a real registry (Debian's
docker-registry on loopback, htpasswd authentication): blobs in chunks,
then a second repository gets the blobs by cross-repository mount, a third
push finds them present; the registry serves back the exact manifest and
blobs. [containers] domain/path_prefix/auth file; failures a user meets:
wrong password, an export that is not an OCI archive."""

import base64
import hashlib
import json
import os
import shutil
import sys
import tarfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
from t_container_resolve import Layout, Registry, sha  # noqa: E402

DOUBLES = harness.DOUBLES
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def htpasswd(tmp, user, password):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import crypt
    path = os.path.join(tmp, "htpasswd")
    with open(path, "w") as f:
        f.write("%s:%s\n" % (user, crypt.crypt(
            password, crypt.mksalt(crypt.METHOD_BLOWFISH))))
    return path


def oci_archive(tmp):
    """An OCI archive of one image: a 17 MiB layer (two upload chunks),
    a small one, a config. Returns (path, manifest digest, blobs)."""
    lay = Layout(os.path.join(tmp, "pushlayout"))
    big = lay.blob(os.urandom(17 << 20))
    small = lay.blob(b"small layer\n" * 100)
    cfg = lay.blob(json.dumps({"architecture": "amd64", "os": "linux",
                               "rootfs": {"type": "layers", "diff_ids": [
                                   sha(b"a"), sha(b"b")]}}).encode())
    man = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": dict(cfg, mediaType=
                       "application/vnd.oci.image.config.v1+json"),
        "layers": [dict(b, mediaType=
                        "application/vnd.oci.image.layer.v1.tar+gzip")
                   for b in (big, small)]}).encode()
    mb = lay.blob(man)
    lay.tag("latest", {"manifest": dict(mb, mediaType=OCI_MANIFEST)})
    path = os.path.join(tmp, "image.oci-archive")
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as t:
        for name in sorted(os.listdir(lay.d)):
            t.add(os.path.join(lay.d, name), arcname=name)
    return path, mb["digest"], [cfg, big, small], man


class ContainerPush(harness.TestCase):

    def setUp(self):
        super().setUp()
        try:
            ht = htpasswd(self.tmp, "alice", "s3cret")
        except (ImportError, AttributeError):
            self.skipTest("no bcrypt in python's crypt module")
        self.reg = self.keep(Registry(self.tmp, "reg", htpasswd=ht))
        self.archive, self.mdigest, self.blobs, self.man = \
            oci_archive(self.tmp)
        self.q = self.queue()

    def start(self, extra="", name="w"):
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\n%s' % (DOUBLES, extra), name=name)

    def push(self, image_name, options, content=None):
        args = jobs.osbuild_args({"content": content or self.archive})
        jobs.one_target(args, "org.osbuild.container", image_name, options)
        jid = self.q.enqueue("osbuild", args)
        self.q.wait(jid, 120)
        return self.q.result(jid)

    def fetch(self, path, accept=None):
        req = urllib.request.Request("http://%s%s" % (self.reg.host, path))
        req.add_header("Authorization", "Basic " + base64.b64encode(
            b"alice:s3cret").decode())
        if accept:
            req.add_header("Accept", accept)
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def test_push_mount_present_and_read_back(self):
        w = self.start()
        creds = {"username": "alice", "password": "s3cret",
                 "tls_verify": False}
        dest = self.reg.host + "/test/pushed:v1"
        res = self.push(dest, creds)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        tr = res["target_results"][0]
        self.assertEqual(tr["name"], "org.osbuild.container")
        self.assertEqual(tr["options"], {"url": dest,
                                         "digest": self.mdigest})
        self.assertIn("3 blobs uploaded in 4 chunks, 0 mounted, 0 present",
                      w.log())
        # The registry serves the very manifest and blobs.
        got = self.fetch("/v2/test/pushed/manifests/v1", OCI_MANIFEST)
        self.assertEqual(sha(got), self.mdigest)
        for b in self.blobs:
            data = self.fetch("/v2/test/pushed/blobs/" + b["digest"])
            self.assertEqual(sha(data), b["digest"])

        # A sibling repository: every blob mounted, none sent again.
        res = self.push(self.reg.host + "/test/other:v2", creds)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(res["target_results"][0]["options"]["digest"],
                         self.mdigest)
        self.assertIn("0 blobs uploaded in 0 chunks, 3 mounted, 0 present",
                      w.log())
        got = self.fetch("/v2/test/other/manifests/v2", OCI_MANIFEST)
        self.assertEqual(sha(got), self.mdigest)
        # The same repository again: the blobs are there.
        res = self.push(self.reg.host + "/test/other:v3", creds)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertIn("0 blobs uploaded in 0 chunks, 0 mounted, 3 present",
                      w.log())

        # Failures a user meets: a wrong password, not an OCI archive.
        res = self.push(self.reg.host + "/test/denied:v1",
                        dict(creds, password="wrong"))
        self.assertFalse(res.get("success"))
        err = res["target_results"][0]["target_error"]
        self.assertEqual(err["id"], 11)
        self.assertIn("authentication required", err["reason"])
        self.assertIn("HTTP 401", err["reason"])
        plain = os.path.join(self.tmp, "plain.img")
        with open(plain, "wb") as f:
            f.write(b"not a tar" * 1000)
        res = self.push(self.reg.host + "/test/plain:v1", creds,
                        content=plain)
        err = res["target_results"][0]["target_error"]
        self.assertEqual(err["id"], 11)
        self.assertIn("is not a tar file", err["reason"])
        self.assertNotIn("s3cret", w.log())
        self.assertTrue(w.alive())

    def test_containers_domain_prefix_and_auth_file(self):
        auth = os.path.join(self.tmp, "auth.json")
        with open(auth, "w") as f:
            json.dump({"auths": {self.reg.host: {"auth": base64.b64encode(
                b"alice:s3cret").decode()}}}, f)
        w = self.start('[containers]\ndomain = "%s"\npath_prefix = "fleet"'
                       '\nauth_file_path = "%s"\ntls_verify = false\n'
                       % (self.reg.host, auth))
        res = self.push("composer/image:v7", {})
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(res["target_results"][0]["options"], {
            "url": self.reg.host + "/fleet/composer/image:v7",
            "digest": self.mdigest})
        got = self.fetch("/v2/fleet/composer/image/manifests/v7",
                         OCI_MANIFEST)
        self.assertEqual(sha(got), self.mdigest)
        # Without credentials for the registry: its refusal, said so.
        with open(auth, "w") as f:
            json.dump({"auths": {}}, f)
        res = self.push("composer/image:v8", {})
        err = res["target_results"][0]["target_error"]
        self.assertEqual(err["id"], 11)
        self.assertIn("no credentials for this registry", err["reason"])
        self.assertTrue(w.alive())


if __name__ == "__main__":
    for tool in ("docker-registry", "skopeo"):
        if shutil.which(tool) is None:
            print("skipped: %s is not installed" % tool)
            raise SystemExit(77)
    harness.main()
