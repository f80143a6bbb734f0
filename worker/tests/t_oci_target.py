#!/usr/bin/python3
"""org.osbuild.oci and org.osbuild.oci.objectstorage end to end: the worker
binary takes an osbuild job from the project's queue (osbuild is the test
double) and uploads the export to the OCI test double (doubles/oci.py:
Object Storage and Compute, every request's RSA-SHA256 HTTP signature
verified against the API key's public key). Checked: single and multipart
uploads, the image import waited on with its capability schema, the
object deleted whatever happened, the pre-authenticated URL that reads the
object back, retries on 429, target options over [oci] credentials, and
the failures a user meets: a wrong key, a missing bucket, a failing
import, the image quota, a refused part (the multipart upload aborted);
no secret in logs."""

import hashlib
import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
from oci import OciDouble  # noqa: E402

DOUBLES = harness.DOUBLES
KiB = 1 << 10
TENANCY = "ocid1.tenancy.oc1..aaaatenancy"
USER = "ocid1.user.oc1..aaaauser"
FPR = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
COMPARTMENT = "ocid1.compartment.oc1..aaaacomp"
EXPORT = ("qcow2", "disk.qcow2")


def make_key(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run(["openssl", "rsa", "-in", path, "-noout",
                          "-modulus"], check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout.decode()
    with open(path) as f:
        return f.read(), out.strip().split("=", 1)[1]


def target(options, image_name="img-oci-1",
           name="org.osbuild.oci", n=1):
    return jobs.target(name, options, image_name, EXPORT,
                       "0c1a2b3c-0000-4000-8000-%012d" % n)


class OciTarget(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.pem, modulus = make_key(os.path.join(self.tmp, "api.pem"))
        self.oci = self.keep(OciDouble(TENANCY, USER, FPR, modulus,
                                       buckets=("bkt", "cfg-bkt"),
                                       min_part=1024 * KiB))
        self.creds = os.path.join(self.tmp, "oci.toml")
        with open(self.creds, "w") as f:
            f.write('user = "%s"\ntenancy = "%s"\nregion = "us-ashburn-1"\n'
                    'fingerprint = "%s"\nprivate_key = """\n%s"""\n'
                    'bucket = "cfg-bkt"\nnamespace = "ns1"\n'
                    'compartment = "%s"\n' % (USER, TENANCY, FPR, self.pem,
                                              COMPARTMENT))
        self.q = self.queue()

    def start(self, extra=None):
        if extra is None:
            extra = '[oci]\ncredentials = "%s"\n' % self.creds
        env = {"IB_OCI_OBJECTSTORAGE_URL": self.oci.url,
               "IB_OCI_IAAS_URL": self.oci.url,
               "IB_OCI_PART_SIZE": str(1024 * KiB), "IB_OCI_POLL_MS": "50"}
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\nheartbeat_interval = 1\n%s' % (DOUBLES, extra),
                           env=env)

    def run_job(self, targets, size, timeout=120):
        jid = self.q.enqueue("osbuild", jobs.osbuild_args(
            {"size": size}, EXPORT, targets))
        self.q.wait(jid, timeout)
        return self.q.result(jid)

    def assert_no_secrets(self, w, res):
        text = w.log() + json.dumps(res)
        for line in self.pem.split("\n")[2:6]:
            self.assertNotIn(line, text)
        self.assertNotIn("signature=", text)

    def test_multipart_upload_and_import(self):
        self.oci.throttle = {r"/workRequests/": 2}
        w = self.start()
        size = 2 * 1024 * KiB + 12345
        res = self.run_job([target({})], size)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        opts = res["target_results"][0]["options"]
        self.assertEqual(opts["region"], "us-ashburn-1")
        img = self.oci.images[opts["image_id"]]
        self.assertEqual(img["lifecycleState"], "AVAILABLE")
        self.assertEqual(img["size"], size)
        self.assertEqual(img["displayName"], "img-oci-1")
        self.assertEqual(img["compartmentId"], COMPARTMENT)
        self.assertEqual(img["freeformTags"], {"Uploaded-By":
                                               "osbuild-composer",
                                               "Name": "img-oci-1"})
        src = img["imageSourceDetails"]
        self.assertEqual((src["bucketName"], src["sourceImageType"]),
                         ("cfg-bkt", "QCOW2"))
        self.assertRegex(src["objectName"], r"^osbuild-upload-\d+$")
        # Three parts of at most 1 MiB, committed; the object deleted.
        self.assertEqual(self.oci.committed, [(src["objectName"], 3)])
        self.assertEqual(self.oci.deleted, [("cfg-bkt", src["objectName"])])
        self.assertEqual(self.oci.count("GET", r"/workRequests/", 429), 2)
        # The capability schema the reference gives every image.
        sch = self.oci.schemas[0]
        self.assertEqual(sch["imageId"], opts["image_id"])
        self.assertEqual(sch["schemaData"]["Compute.LaunchMode"]["values"],
                         ["NATIVE", "PARAVIRTUALIZED"])
        self.assertEqual(self.oci.rejected, [])
        # Every POST carried a retry token, each its own.
        toks = self.oci.retry_tokens
        self.assertNotIn(None, toks)
        self.assertEqual(len(set(toks)), len(toks))
        self.assert_no_secrets(w, res)

    def test_objectstorage_preauthenticated_url(self):
        w = self.start()
        size = 300 * KiB
        res = self.run_job([target({"bucket": "bkt"}, name=
                                   "org.osbuild.oci.objectstorage")], size)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        url = res["target_results"][0]["options"]["url"]
        self.assertTrue(url.startswith(self.oci.url + "/p/"), url)
        with urllib.request.urlopen(url) as r:
            data = r.read()
        self.assertEqual(len(data), size)
        (obj, stored), = self.oci.buckets["bkt"].items()
        self.assertEqual(hashlib.sha256(data).digest(),
                         hashlib.sha256(stored).digest())
        par = list(self.oci.pars.values())[0][3]
        self.assertEqual(par["bucketListingAction"], "Deny")
        self.assertEqual(par["name"], "pre-auth-req-for-" + obj)
        self.assertEqual(self.oci.committed, [])     # one PUT
        self.assertEqual(self.oci.deleted, [])
        self.assertNotIn(url, w.log())
        self.assert_no_secrets(w, res)

    def test_target_options_override_the_file(self):
        other = os.path.join(self.tmp, "other.pem")
        pem, _ = make_key(other)
        # The file's key is wrong; the target's is right.
        with open(self.creds) as f:
            text = f.read().replace(self.pem, pem)
        with open(self.creds, "w") as f:
            f.write(text)
        self.start()
        res = self.run_job([target({"private_key": self.pem,
                                    "bucket": "bkt",
                                    "compartment_id": COMPARTMENT})], 1000)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(self.oci.deleted[0][0], "bkt")

    def test_wrong_key_is_refused(self):
        other = os.path.join(self.tmp, "other.pem")
        pem, _ = make_key(other)
        w = self.start()
        res = self.run_job([target({"private_key": pem})], 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("NotAuthenticated", terr["reason"])
        self.assertEqual(self.oci.rejected, ["bad signature"])
        self.assertNotIn(pem.split("\n")[3], w.log())
        self.assertTrue(w.alive())

    def test_failures_a_user_meets(self):
        self.oci.image_limit = 0
        self.start()
        res = self.run_job([
            target({"bucket": "no-such-bucket"}, "img-a", n=1),
            target({}, "img-b", n=2),
            target({"bucket": "../x"}, "img-c", n=3),
            target({"compartment_id": "not-an-ocid"}, "img-d", n=4),
            target({"private_key": "not a key"}, "img-e", n=5),
        ], 1000)
        self.assertEqual(res["job_error"]["id"], 28)
        errs = [t["target_error"] for t in res["target_results"]]
        self.assertEqual([e["id"] for e in errs], [11, 11, 2, 2, 17])
        self.assertIn("BucketNotFound", errs[0]["reason"])
        self.assertIn("LimitExceeded", errs[1]["reason"])
        self.assertIn("not an unencrypted PEM RSA", errs[4]["reason"])
        # The quota refusal still removed the object it had uploaded.
        self.assertEqual(len(self.oci.deleted), 1)
        self.assertEqual(self.oci.buckets["cfg-bkt"], {})

    def test_failed_part_aborts_the_multipart_upload(self):
        self.oci.fail_part = 2
        self.start()
        res = self.run_job([target({})], 3 * 1024 * KiB)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("uploading a part: HTTP 400 InvalidParameter",
                      terr["reason"])
        self.assertEqual(self.oci.aborted, ["upl-0"])
        self.assertEqual(self.oci.uploads, {})
        self.assertEqual(self.oci.committed, [])
        self.assertEqual(self.oci.images, {})

    def test_cancel_during_the_upload(self):
        self.oci.part_delay = 0.5     # 8 parts: 4 s, heartbeats every 1 s
        w = self.start()
        jid = self.q.enqueue("osbuild", jobs.osbuild_args(
            {"size": 8 * 1024 * KiB}, EXPORT, [target({})]))
        harness.wait_until(lambda: self.oci.count("PUT", r"/u/", 200) >= 1,
                           60, "a part to be uploaded")
        self.q.cancel(jid)
        harness.wait_until(lambda: self.oci.aborted, 30,
                           "the multipart upload to be aborted")
        self.assertEqual(self.oci.uploads, {})
        self.assertEqual(self.oci.committed, [])
        self.assertEqual(self.oci.images, {})
        self.assertLess(self.oci.count("PUT", r"/u/"), 8)
        self.assertTrue(w.alive())

    def test_failing_import_still_deletes_the_object(self):
        self.oci.import_error = "The image is not a valid QCOW2 file"
        self.start()
        res = self.run_job([target({})], 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("ImageImportFailed", terr["reason"])
        self.assertIn("not a valid QCOW2", terr["reason"])
        self.assertEqual(len(self.oci.deleted), 1)
        self.assertEqual(self.oci.schemas, [])

    def check(self, creds_text):
        """ib-worker -n with [oci] credentials holding creds_text:
        (exit code, stdout + stderr)."""
        creds = os.path.join(self.tmp, "check-oci.toml")
        with open(creds, "w") as f:
            f.write(creds_text)
        conf = os.path.join(self.tmp, "check.toml")
        with open(conf, "w") as f:
            f.write('dnf-json = "%s/depsolver"\n[worker]\nosbuild = '
                    '"%s/osbuild"\ncache_directory = "%s"\n[oci]\n'
                    'credentials = "%s"\n' % (DOUBLES, DOUBLES, self.tmp,
                                               creds))
        r = subprocess.run([harness.WORKER, "-n", "-c", conf],
                           capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr, conf

    def test_config_check(self):
        """-n reads [oci] credentials as the targets will: the key and
        the fingerprint are checked, a file that is not TOML or holds
        none of the keys is refused, with where it was set."""
        with open(self.creds) as f:
            good = f.read()
        code, out, _ = self.check(good)
        self.assertEqual(code, 0, out)
        self.assertIn("configuration OK", out)
        # Partial files are fine: the targets may give the rest.
        code, out, _ = self.check('bucket = "b"\nnamespace = "n"\n')
        self.assertEqual(code, 0, out)
        for text, said in (
                (good.replace("BEGIN PRIVATE KEY", "BEGIN NO KEY"),
                 "private_key is not an unencrypted PEM RSA private key"),
                (good.replace(FPR, "not-a-fingerprint"),
                 "fingerprint is not the API key's hexadecimal"),
                ("user = \n", "is not TOML (line 1)"),
                ('[default]\nuser = "%s"\n' % USER, "holds none of user")):
            code, out, conf = self.check(text)
            self.assertEqual(code, 2, out)
            self.assertIn(conf + ":6:1: oci.credentials: ", out)
            self.assertIn(said, out)
            self.assertNotIn("configuration OK", out)
            self.assertNotIn("PRIVATE KEY", out)

    def test_no_credentials(self):
        self.start("")
        res = self.run_job([target({})], 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 17)
        self.assertIn("[oci] credentials", terr["reason"])


if __name__ == "__main__":
    harness.main()
