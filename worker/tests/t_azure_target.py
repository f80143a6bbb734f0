#!/usr/bin/python3
"""org.osbuild.azure.image end to end: the worker binary takes an osbuild
job from the project's queue (osbuild is the test double), logs in to the
Azure AD double, finds or creates the tagged storage account through the
ARM double, uploads the VHD as a page blob to the real azurite (which
verifies every SharedKey signature) and registers the image, polling the
operations. The blob is read back with a SharedKey client of our own.
Also: the upload's progress as the queue shows it, all-zero pages skipped,
ARM throttling, a failing image operation,
wrong secret, a VHD size not a multiple of 512, bad names, no secret in
the log."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import azureenv  # noqa: E402
import harness  # noqa: E402
import jobs  # noqa: E402
from azure import AzureDouble  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

DOUBLES = harness.DOUBLES
TENANT = "5f1c0a7e-0000-4000-8000-00000000aaaa"
SUB = "0d9c2f4e-0000-4000-8000-00000000bbbb"
SECRET = "Az-Secret~Value.123"
MiB = 1 << 20
TAG = "imageBuilderStorageAccount"


EXPORT = ("vhd", "disk.vhd")


def target(options, image_name="img-az-1"):
    return jobs.target("org.osbuild.azure.image", options, image_name,
                       EXPORT, "0c1a2b3c-0000-4000-8000-000000000002")


def build_args(targets, size, sparse=False, boot_mode=None):
    args = jobs.osbuild_args({"size": size, "sparse": "1" if sparse else "0"},
                             EXPORT, targets)
    if boot_mode:
        args["image_boot_mode"] = boot_mode
    return args


class AzureTarget(azureenv.OneAzurite, harness.TestCase):

    def setUp(self):
        super().setUp()
        self.az = self.keep(AzureDouble(self.azurite, TENANT, "client-1",
                                        SECRET, SUB, "rg-1"))
        self.creds = os.path.join(self.tmp, "azure-creds")
        with open(self.creds, "w") as f:
            f.write('client_id = "client-1"\nclient_secret = "%s"\n' % SECRET)
        self.q = self.queue()

    def start(self, creds=None, threads=4, arch="x86_64"):
        env = {"IB_AZURE_LOGIN_URL": self.az.url,
               "IB_AZURE_ARM_URL": self.az.url, "IB_AZURE_POLL_MS": "50"}
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\narch = "%s"\n[azure]\ncredentials = "%s"\n'
                           'upload_threads = %d\n' % (
                               DOUBLES, arch, creds or self.creds, threads),
                           env=env)

    def opts(self, **kw):
        o = {"tenant_id": TENANT, "subscription_id": SUB,
             "resource_group": "rg-1", "location": ""}
        o.update(kw)
        return o

    def run_job(self, targets, size, sparse=False, boot_mode=None,
                timeout=180, arch="x86_64"):
        jid = self.q.enqueue("osbuild", build_args(targets, size, sparse,
                                                   boot_mode), arch=arch)
        self.q.wait(jid, timeout)
        return self.q.result(jid)

    def test_new_account_upload_and_image(self):
        w = self.start()
        size = 10 * MiB + 512
        res = self.run_job([target(self.opts())], size, boot_mode="uefi")
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(res["target_results"][0]["options"],
                         {"image_name": "img-az-1"})
        # A storage account was created, tagged for the group's location.
        self.assertEqual(len(self.az.accounts), 1)
        name, acct = next(iter(self.az.accounts.items()))
        self.assertRegex(name, r"^ib[0-9a-f]{22}$")
        self.assertEqual(acct["tags"], {TAG: "location=eastus"})
        self.assertEqual(self.az.count("PUT", r"/storageAccounts/", 202), 1)
        # The page blob in azurite is the export, byte for byte.
        btype, n, digest = self.azurite.blob_sha256(name, "imagebuilder",
                                                    "img-az-1.vhd")
        self.assertEqual(btype, "PageBlob")
        self.assertEqual(n, size)
        self.assertEqual(digest, azureenv_export_sha256(size))
        img = self.az.images["img-az-1"]["properties"]
        self.assertEqual(img["hyperVGeneration"], "V2")
        # The fleet's mark, which ib-maintenance looks for.
        tags = self.az.images["img-az-1"]["tags"]
        self.assertEqual(tags["ib-fleet"], "image-builder")
        self.assertRegex(tags["ib-created"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(len(tags), 2)
        self.assertEqual(img["storageProfile"]["osDisk"]["blobUri"],
                         "%s/%s/imagebuilder/img-az-1.vhd" %
                         (self.azurite.url, name))
        self.assertGreaterEqual(self.az.count("GET", r"/operations/op-"), 2)
        self.assertIn("in 3 pages, skipped 0", w.log())
        self.assertEqual(self.az.rejected, [])
        self.assertNotIn(SECRET, w.log())
        self.assertNotIn(self.azurite.accounts[name], w.log())
        self.assertNotIn("SharedKey", w.log())
        for tok in self.az.tokens:
            self.assertNotIn(tok, w.log())

    def test_upload_progress_reaches_the_server(self):
        """Through a slow uplink to the blob service (750 kB/s, one page
        at a time: some 9 s) the queue sees the page-blob upload move:
        "uploading BLOB to org.osbuild.azure.image" with bytes done of the
        size, partway once the 5 s window has passed, whole at the end."""
        slow = self.keep(FaultProxy(self.azurite.port, rate=750000))
        self.az.blob_origin = "http://" + slow.address
        self.start(threads=1)
        size = 6 * MiB
        jid = self.q.enqueue("osbuild", build_args(
            [target(self.opts(), "img-az-slow")], size))
        seen = self.q.watch_progress(jid, 120)
        res = self.q.result(jid)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assert_upload_progress(seen, "org.osbuild.azure.image",
                                    "img-az-slow.vhd", size)

    def test_page_retry_after_is_counted(self):
        """Pages the blob service turns away with 503 and Retry-After: 1
        are sent again after that second, and the metrics count them under
        the target as waits the server asked for."""
        proxy = self.keep(FaultProxy(self.azurite.port))
        proxy.set(status=503, count=2, match=r"comp=page", retry_after=1)
        self.az.blob_origin = "http://" + proxy.address
        port = harness.free_port()
        env = {"IB_AZURE_LOGIN_URL": self.az.url,
               "IB_AZURE_ARM_URL": self.az.url, "IB_AZURE_POLL_MS": "50"}
        self.worker("http://" + self.q.address,
                    '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1\n'
                    'metrics_listen = "127.0.0.1:%d"\n[azure]\n'
                    'credentials = "%s"\nupload_threads = 2\n'
                    % (DOUBLES, port, self.creds), env=env)
        res = self.run_job([target(self.opts(), "img-az-ra")], 8 * MiB)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        body = self.scrape(port)
        t = 'target="org.osbuild.azure.image"'
        self.assertIn('ib_worker_upload_retries_total{%s,wait="retry_after"}'
                      ' 2\n' % t, body)
        self.assertIn('ib_worker_upload_retries_total{%s,wait="backoff"} 0\n'
                      % t, body)
        m = re.search(r'ib_worker_upload_retry_wait_seconds_total\{%s\} '
                      r'([0-9.]+)' % t, body)
        self.assertIsNotNone(m, body)
        self.assertGreaterEqual(float(m.group(1)), 2.0)

    def test_arm64_is_gen2(self):
        """An aarch64 worker's image is Hyper-V generation 2 whatever the
        build's boot mode: Azure's Arm64 VMs boot only with UEFI."""
        self.start(arch="aarch64")
        res = self.run_job([target(self.opts())], 1024, boot_mode="legacy",
                           arch="aarch64")
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(self.az.images["img-az-1"]["properties"]
                         ["hyperVGeneration"], "V2")

    def test_existing_account_sparse_vhd_and_throttling(self):
        self.az.add_account("ibexisting01", {TAG: "location=westeurope"})
        self.az.add_account("ibother", {TAG: "location=eastus"})
        self.az.throttle = 2
        w = self.start(threads=3)
        size = 64 * MiB
        res = self.run_job([target(self.opts(location="westeurope",
                                             hyperv_generation="V1"))],
                           size, sparse=True)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(self.az.count("PUT", r"/storageAccounts/"), 0)
        self.assertEqual(self.az.count("GET", r"", 429), 2)
        self.assertIn("TooManyRequests", w.log())
        # Every page was zeros: none sent, the blob reads back as zeros.
        self.assertIn("in 0 pages, skipped 16", w.log())
        btype, n, digest = self.azurite.blob_sha256(
            "ibexisting01", "imagebuilder", "img-az-1.vhd")
        self.assertEqual((btype, n), ("PageBlob", size))
        import hashlib
        self.assertEqual(digest, hashlib.sha256(bytes(size)).hexdigest())
        self.assertEqual(self.az.images["img-az-1"]["properties"]
                         ["hyperVGeneration"], "V1")

    def test_failing_image_operation(self):
        self.az.add_account("ibexisting02", {TAG: "location=eastus"})
        self.az.image_error = "The VHD footer is missing or corrupt"
        self.start()
        res = self.run_job([target(self.opts())], 2 * MiB)
        self.assertEqual(res["job_error"]["id"], 28)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 12)
        self.assertIn("InvalidVhd", terr["reason"])
        self.assertIn("footer is missing", terr["reason"])

    def test_wrong_secret_and_bad_input(self):
        bad = os.path.join(self.tmp, "bad-creds")
        with open(bad, "w") as f:
            f.write('client_id = "client-1"\nclient_secret = "Wr0ngS3cret"\n')
        w = self.start(creds=bad)
        res = self.run_job([
            target(self.opts()),
            target(self.opts(resource_group="rg/../x")),
            target(self.opts(tenant_id="t\nx")),
            target(self.opts(), "img.vhd-"),
            target(self.opts(hyperv_generation="V3")),
        ], 1024)
        errs = [t["target_error"] for t in res["target_results"]]
        # The reference's ids: 2 for what the target names (its resource
        # group lookup fails first on bad credentials).
        self.assertEqual(errs[0]["id"], 2)
        self.assertIn("AADSTS7000215", errs[0]["reason"])
        self.assertEqual([e["id"] for e in errs[1:]], [2] * 4)
        self.assertNotIn("Wr0ngS3cret", w.log())
        self.assertNotIn("Wr0ngS3cret", json.dumps(res))
        self.assertTrue(w.alive())

    def test_no_credentials_is_sharing_error(self):
        """A worker without [azure] credentials: the reference's id 3,
        the target's name in the job error's details."""
        env = {"IB_AZURE_LOGIN_URL": self.az.url,
               "IB_AZURE_ARM_URL": self.az.url}
        self.worker("http://" + self.q.address,
                    '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1\n'
                    % DOUBLES, env=env)
        res = self.run_job([target(self.opts())], 1024)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 3)
        self.assertIn("doesn't have azure credentials", terr["reason"])
        self.assertEqual(res["job_error"]["id"], 28)
        self.assertEqual(res["job_error"]["details"], [{
            "id": 3, "reason": terr["reason"],
            "details": "org.osbuild.azure.image"}])

    def test_size_not_multiple_of_512_and_missing_group(self):
        self.az.add_account("ibexisting03", {TAG: "location=eastus"})
        w = self.start()
        res = self.run_job([target(self.opts()),
                            target(self.opts(resource_group="rg-nope"),
                                   "img-az-2")], 1000)
        errs = [t["target_error"] for t in res["target_results"]]
        self.assertEqual(errs[0]["id"], 11)
        self.assertIn("not a positive multiple of 512", errs[0]["reason"])
        self.assertEqual(errs[1]["id"], 2)
        self.assertIn("ResourceGroupNotFound", errs[1]["reason"])
        self.assertEqual(self.az.images, {})
        self.assertTrue(w.alive())


def azureenv_export_sha256(size):
    import awsenv
    return awsenv.double_export(size)


if __name__ == "__main__":
    harness.main()
