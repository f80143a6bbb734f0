#!/usr/bin/python3
"""org.osbuild.gcp end to end: the worker binary takes an osbuild job from
the project's queue (osbuild is the test double) and uploads the export to
the GCP test double (OAuth token endpoint that verifies the RS256 JWT
assertion against the service account's public key, GCS resumable uploads
with MD5, Compute Engine images/operations/IAM). Checked: chunked upload
and MD5, import waited on, object deleted whatever happened, sharing that
keeps the existing policy, retries on 503/429, a failing import, wrong key,
bad names, one failing target not stopping the next, no secret in logs."""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
from gcp import GcpDouble  # noqa: E402

DOUBLES = harness.DOUBLES
EMAIL = "ib-worker@proj-1.iam.gserviceaccount.com"
KiB = 1 << 10


def make_key(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run(["openssl", "rsa", "-in", path, "-noout",
                          "-modulus"], check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout.decode()
    with open(path) as f:
        return f.read(), out.strip().split("=", 1)[1]


def export_bytes(size):
    chunk = (b"osbuild-double\n" * 70000)[:1 << 20]
    out = bytearray()
    while len(out) < size:
        out += chunk[:size - len(out)]
    return bytes(out)


# The export pipeline and file name of a GCE image.
EXPORT = ("gce", "image.tar.gz")


def target(options, image_name="img-gcp-1"):
    return jobs.target("org.osbuild.gcp", options, image_name, EXPORT,
                       "0c1a2b3c-0000-4000-8000-000000000001")


def build_args(targets, size):
    return jobs.osbuild_args({"size": size}, EXPORT, targets)


class GcpTarget(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.keypath = os.path.join(self.tmp, "sa.pem")
        self.pem, modulus = make_key(self.keypath)
        self.gcp = self.keep(GcpDouble(EMAIL, "proj-1", modulus,
                                       buckets=("bkt", "cfg-bkt")))
        self.keyjson = json.dumps({
            "type": "service_account", "project_id": "proj-1",
            "private_key_id": "k1", "private_key": self.pem,
            "client_email": EMAIL, "client_id": "1",
            "token_uri": self.gcp.token_url})
        self.credfile = os.path.join(self.tmp, "gcp-creds.json")
        with open(self.credfile, "w") as f:
            f.write(self.keyjson)
        self.q = self.queue()

    def start(self, extra="", env_extra=None):
        env = {"IB_GCP_STORAGE_URL": self.gcp.url,
               "IB_GCP_COMPUTE_URL": self.gcp.url,
               "IB_GCP_CHUNK_SIZE": str(1024 * KiB), "IB_GCP_POLL_MS": "50"}
        env.update(env_extra or {})
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\n%s' % (DOUBLES, extra), env=env)

    def run_job(self, targets, size, timeout=120):
        jid = self.q.enqueue("osbuild", build_args(targets, size))
        self.q.wait(jid, timeout)
        return self.q.result(jid)

    def assert_no_secrets(self, w, res):
        text = w.log() + json.dumps(res)
        body = self.pem.split("\n")[5]
        self.assertNotIn(body, text)
        for tok in self.gcp.tokens:
            self.assertNotIn(tok, text)

    def test_upload_import_share(self):
        w = self.start('[gcp]\ncredentials = "%s"\nbucket = "cfg-bkt"\n'
                       % self.credfile)
        size = 2 * 1024 * KiB + 12345
        res = self.run_job([target({
            "region": "us-central1", "os": "", "bucket": "",
            "object": "composer-api-1.tar.gz",
            "shareWithAccounts": ["user:alice@x.test",
                                  "serviceAccount:b@p.iam.gserviceaccount.com"]
        })], size)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(res["target_results"][0]["options"],
                         {"image_name": "img-gcp-1", "project_id": "proj-1"})
        # Three chunks of 1 MiB max, the MD5 checked by the double.
        self.assertEqual(self.gcp.count("PUT", r"^/upload/", 308), 2)
        self.assertEqual(self.gcp.count("PUT", r"^/upload/", 200), 1)
        self.assertEqual(self.gcp.rejected, [])
        claims = self.gcp.assertions[0]
        self.assertEqual(claims["aud"], self.gcp.token_url)
        self.assertEqual(claims["exp"] - claims["iat"], 3600)
        # The import read the object, which is gone afterwards.
        img = self.gcp.images["img-gcp-1"]
        self.assertEqual(img["storageLocations"], ["us-central1"])
        # The fleet's mark, which ib-maintenance looks for.
        self.assertEqual(img["labels"], {"ib-fleet": "image-builder"})
        self.assertEqual(img["rawDisk"]["source"],
                         "https://storage.googleapis.com/cfg-bkt/"
                         "composer-api-1.tar.gz")
        self.assertEqual(self.gcp.deleted,
                         [("cfg-bkt", "composer-api-1.tar.gz")])
        self.assertGreaterEqual(self.gcp.count("GET", r"/operations/"), 2)
        # Sharing added a binding and kept the owner's.
        pol = self.gcp.policies["img-gcp-1"]
        roles = {b["role"]: b["members"] for b in pol["bindings"]}
        self.assertEqual(roles["roles/owner"], ["user:owner@x.test"])
        self.assertEqual(sorted(roles["roles/compute.imageUser"]),
                         ["serviceAccount:b@p.iam.gserviceaccount.com",
                          "user:alice@x.test"])
        self.assert_no_secrets(w, res)

    def test_upload_progress_reaches_the_server(self):
        """Through a slow uplink (1.2 s a 1 MiB chunk: some 7 s) the queue
        sees the resumable upload move: "uploading OBJECT to
        org.osbuild.gcp" with bytes done of the size, partway once the 5 s
        window has passed, whole at the end; STATUS= says the percent."""
        self.gcp.chunk_delay = 1.2
        n = self.keep(harness.Notify(self.tmp))
        self.start('[gcp]\ncredentials = "%s"\n' % self.credfile,
                   {"NOTIFY_SOCKET": n.path})
        size = 6 * 1024 * KiB
        jid = self.q.enqueue("osbuild", build_args([target({
            "region": "us-central1", "os": "", "bucket": "bkt",
            "object": "slow.tar.gz"})], size))
        seen = self.q.watch_progress(jid, 120)
        res = self.q.result(jid)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assert_upload_progress(seen, "org.osbuild.gcp", "slow.tar.gz",
                                    size)
        pcts = [int(m.group(1)) for m in (
            re.match(r"STATUS=uploading slow\.tar\.gz: (\d+)%$", x)
            for x in n.msgs) if m]
        self.assertTrue(any(0 < p < 100 for p in pcts), n.msgs)
        self.assertEqual(pcts[-1], 100, n.msgs)

    def test_no_progress_to_a_server_without_partial(self):
        """A server before partial updates takes a PATCH without "result"
        as the job's final, null result: the upload says how far it is in
        the log and STATUS= only, and the job's result arrives whole."""
        self.q.stop()
        self.q = self.queue("--no-partial")
        self.gcp.chunk_delay = 0.3
        self.start('[gcp]\ncredentials = "%s"\n' % self.credfile)
        size = 3 * 1024 * KiB
        res = self.run_job([target({"region": "us-central1", "os": "",
                                    "bucket": "bkt",
                                    "object": "old.tar.gz"})], size)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(res["target_results"][0]["options"]["image_name"],
                         "img-gcp-1")

    def test_target_credentials_and_retries(self):
        """Credentials from the target; a chunk the double fails with 503
        is resumed from where GCS says the upload is, and counted in the
        metrics under the target as a backoff with its wait; 429s on the
        import calls are retried."""
        self.gcp.chunk_failures = 1
        self.gcp.throttle = {r"/operations/": 2, r"/global/images$": 1}
        port = harness.free_port()
        w = self.start('metrics_listen = "127.0.0.1:%d"\n' % port)
        size = 3 * 1024 * KiB
        creds = base64.b64encode(self.keyjson.encode()).decode()
        res = self.run_job([target({"region": "", "bucket": "bkt",
                                    "object": "o/x.tar.gz",
                                    "credentials": creds})], size)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(self.gcp.count("PUT", r"^/upload/", 503), 1)
        self.assertEqual(self.gcp.count("GET", r"/operations/", 429), 2)
        self.assertEqual(self.gcp.count("POST", r"/global/images$", 429), 1)
        self.assertIn("asking where to resume", w.log())
        body = self.scrape(port)
        t = 'target="org.osbuild.gcp"'
        self.assertIn('ib_worker_upload_retries_total{%s,wait="backoff"} 1\n'
                      % t, body)
        self.assertIn('ib_worker_upload_retries_total{%s,wait="retry_after"}'
                      ' 0\n' % t, body)
        m = re.search(r'ib_worker_upload_retry_wait_seconds_total\{%s\} '
                      r'([0-9.]+)' % t, body)
        self.assertIsNotNone(m, body)
        self.assertGreaterEqual(float(m.group(1)), 0.5)
        self.assertEqual(self.gcp.deleted, [("bkt", "o/x.tar.gz")])
        self.assertNotIn("storageLocations", self.gcp.images["img-gcp-1"])
        self.assertNotIn(creds[40:80], w.log())
        self.assert_no_secrets(w, res)

    def test_failing_import_still_deletes_the_object(self):
        self.gcp.import_error = "The image file is not a valid gzip tarball"
        self.start('[gcp]\ncredentials = "%s"\n' % self.credfile)
        res = self.run_job([target({"bucket": "bkt", "object": "f.tar.gz",
                                    "region": ""})], 1000)
        self.assertEqual(res["job_error"]["id"], 28)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 12)
        self.assertIn("IMAGE_IMPORT_FAILED", terr["reason"])
        self.assertIn("not a valid gzip tarball", terr["reason"])
        self.assertEqual(self.gcp.deleted, [("bkt", "f.tar.gz")])
        self.assertNotIn("img-gcp-1", self.gcp.images)

    def test_wrong_key_is_refused(self):
        other = os.path.join(self.tmp, "other.pem")
        pem, _ = make_key(other)
        bad = json.loads(self.keyjson)
        bad["private_key"] = pem
        path = os.path.join(self.tmp, "bad.json")
        with open(path, "w") as f:
            json.dump(bad, f)
        w = self.start('[gcp]\ncredentials = "%s"\n' % path)
        res = self.run_job([target({"bucket": "bkt", "object": "a.tar.gz",
                                    "region": ""})], 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("Invalid JWT Signature", terr["reason"])
        self.assertEqual(self.gcp.rejected, ["token: Invalid JWT Signature."])
        self.assertNotIn(pem.split("\n")[5], w.log())
        self.assertTrue(w.alive())

    def test_bad_input_and_independent_targets(self):
        w = self.start()
        creds = base64.b64encode(self.keyjson.encode()).decode()
        ok = {"bucket": "bkt", "object": "good.tar.gz", "credentials": creds}
        res = self.run_job([
            target(dict(ok, bucket="no-such-bucket"), "img-a"),
            target(dict(ok, object="../etc/passwd"), "img-b"),
            target(dict(ok, object="x\ny"), "img-c"),
            target(ok, "Img_Upper"),
            target(dict(ok, credentials=""), "img-d"),
            target(dict(ok, shareWithAccounts=["alice"]), "img-e"),
            target(dict(ok, credentials="bm90IGpzb24="), "img-f"),
            target(ok, "img-ok"),
        ], 1000)
        self.assertEqual(res["job_error"]["id"], 28)
        errs = [t.get("target_error") for t in res["target_results"]]
        self.assertEqual(errs[0]["id"], 11)
        self.assertIn("The specified bucket does not exist", errs[0]["reason"])
        # The reference's ids: 2 for the target's options, 17 for the
        # credentials.
        self.assertEqual([e["id"] for e in errs[1:7]], [2, 2, 2, 17, 2, 17])
        self.assertIn("no credentials", errs[4]["reason"])
        self.assertIn("not a JSON object", errs[6]["reason"])
        self.assertIsNone(errs[7])
        self.assertEqual(res["target_results"][7]["options"]["image_name"],
                         "img-ok")
        self.assertEqual(list(self.gcp.images), ["img-ok"])
        self.assertTrue(w.alive())

    def test_guest_os_features(self):
        """UEFI_COMPATIBLE for a uefi or hybrid build (the job's
        image_boot_mode), none for a legacy one; the composer's list, when
        it sends one, as it is; a malformed one is the target's error."""
        w = self.start('[gcp]\ncredentials = "%s"\n' % self.credfile)
        got = {}
        for mode in ("uefi", "hybrid", "legacy", None):
            name = "img-%s" % (mode or "none")
            args = build_args([target({"bucket": "bkt",
                                       "object": name + ".tar.gz"}, name)],
                              1000)
            if mode:
                args["image_boot_mode"] = mode
            jid = self.q.enqueue("osbuild", args)
            self.q.wait(jid, 120)
            self.assertTrue(self.q.result(jid).get("success"))
            got[mode] = self.gcp.images[name].get("guestOsFeatures")
        self.assertEqual(got, {"uefi": [{"type": "UEFI_COMPATIBLE"}],
                               "hybrid": [{"type": "UEFI_COMPATIBLE"}],
                               "legacy": None, None: None})
        feats = [{"type": "UEFI_COMPATIBLE"}, {"type": "GVNIC"}]
        res = self.run_job([
            target({"bucket": "bkt", "object": "f.tar.gz",
                    "guestOsFeatures": feats}, "img-f"),
            target({"bucket": "bkt", "object": "g.tar.gz",
                    "guestOsFeatures": [{"type": "gvnic; rm"}]}, "img-g"),
            target({"bucket": "bkt", "object": "h.tar.gz",
                    "guestOsFeatures": "UEFI_COMPATIBLE"}, "img-h")], 1000)
        self.assertEqual(self.gcp.images["img-f"]["guestOsFeatures"], feats)
        errs = [t.get("target_error") for t in res["target_results"]]
        self.assertIsNone(errs[0])
        self.assertEqual([e["id"] for e in errs[1:]], [2, 2])
        self.assertIn("guest OS feature 0", errs[1]["reason"])
        self.assertNotIn("img-g", self.gcp.images)
        self.assertTrue(w.alive())


if __name__ == "__main__":
    harness.main()
