#!/usr/bin/python3
"""org.osbuild.azure (the legacy storage-account target) end to end: the
worker binary takes an osbuild job from the project's queue (osbuild is
the test double) and uploads the VHD as a page blob to the real azurite,
which verifies every SharedKey signature, with the account and key the
target carries. The blob is read back with a SharedKey client of our own.
The reference's result has no options, failed or not: a composer cannot
decode any for this name. Failures a user meets: a missing container, a
wrong key, a key that is not base64, a bad container name; no key in the
log or the result."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import awsenv  # noqa: E402
import azureenv  # noqa: E402
import harness  # noqa: E402
import jobs  # noqa: E402

DOUBLES = harness.DOUBLES
EXPORT = ("vpc", "disk.vhd")
MiB = 1 << 20
ACCOUNT = "iblegacy01"


def target(account, key, container="images", image_name="img-legacy"):
    return jobs.target("org.osbuild.azure",
                       {"storageAccount": account, "storageAccessKey": key,
                        "container": container}, image_name, EXPORT,
                       "0c1a2b3c-0000-4000-8000-000000000005")


class AzureStorageTarget(azureenv.OneAzurite, harness.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.azurite.add_account(ACCOUNT)
        st, _, body = cls.azurite.request("PUT", ACCOUNT, "/images",
                                          "restype=container")
        assert st == 201, (st, body)

    def run_job(self, targets, size, generation="2026"):
        q = self.queue("--generation", generation)
        w = self.worker("http://" + q.address,
                        '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                        '\n' % DOUBLES,
                        env={"IB_AZURE_BLOB_URL": self.azurite.url})
        jid = q.enqueue("osbuild", jobs.osbuild_args({"size": size}, EXPORT,
                                                     targets))
        q.wait(jid, 120)
        return q.result(jid), w

    def test_page_blob_uploaded_with_the_target_key(self):
        size = 9 * MiB + 512
        res, w = self.run_job([target(ACCOUNT, self.key)], size)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertNotIn("options", res["target_results"][0])
        btype, n, digest = self.azurite.blob_sha256(ACCOUNT, "images",
                                                    "img-legacy.vhd")
        self.assertEqual((btype, n), ("PageBlob", size))
        self.assertEqual(digest, awsenv.double_export(size))
        self.assertIn("in 3 pages, skipped 0", w.log())
        self.assertNotIn(self.key, w.log())
        self.assertNotIn(self.key, json.dumps(res))

    def test_failures_a_user_meets(self):
        wrong = azureenv.new_key()
        res, w = self.run_job([
            target(ACCOUNT, self.key, container="nosuchcontainer"),
            target(ACCOUNT, wrong),
            target(ACCOUNT, "not base64!"),
            target(ACCOUNT, self.key, container="Bad_Name"),
            target(ACCOUNT, self.key, image_name="img legacy?"),
        ], 1024, generation="2024")
        self.assertEqual(res["job_error"]["id"], 28)
        trs = res["target_results"]
        errs = [t["target_error"] for t in trs]
        self.assertEqual([e["id"] for e in errs], [11, 11, 17, 2, 2])
        self.assertIn("ContainerNotFound", errs[0]["reason"])
        self.assertIn("HTTP 403", errs[1]["reason"])
        self.assertIn("failed to authenticate", errs[1]["reason"])
        self.assertIn("not base64", errs[2]["reason"])
        # No options key, not even null: the composer would fail on it.
        for t in trs:
            self.assertNotIn("options", t)
        for k in (self.key, wrong):
            self.assertNotIn(k, w.log())
            self.assertNotIn(k, json.dumps(res))
        self.assertTrue(w.alive())


if __name__ == "__main__":
    harness.main()
