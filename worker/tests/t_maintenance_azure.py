#!/usr/bin/python3
"""ib-maintenance for Azure against the ARM double (doubles/azure.py: no
control plane here) and the real azurite for the blobs. Managed images
tagged ib-fleet=image-builder (what org.osbuild.azure.image puts on its
images, with their ib-created date, t_azure_target.py) a minute past the
retention are deleted (the operation waited for), then their VHD page
blob with the account's key; a minute inside they stay, as do images
without the mark, with another value, or without a date; every page of
ARM's list is read (nextLink); throttling is retried; --dry-run deletes
nothing; the Prometheus text says what was done; a wrong secret exits 1
without the secret in the output; Azure options come together."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import azureenv  # noqa: E402
import harness  # noqa: E402
from azure import AzureDouble  # noqa: E402

PROG = os.path.join(harness.BUILD, "ib-maintenance")
TENANT = "5f1c0a7e-0000-4000-8000-00000000cccc"
SUB = "0d9c2f4e-0000-4000-8000-00000000dddd"
SECRET = "Maint-Secret~Value.9"
ACCOUNT = "ibmaint01"
DAY = 86400
NOW = 1790000000


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class MaintenanceAzure(azureenv.OneAzurite, harness.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.azurite.add_account(ACCOUNT)
        st, _, body = cls.azurite.request("PUT", ACCOUNT, "/imagebuilder",
                                          "restype=container")
        assert st == 201, (st, body)

    def setUp(self):
        super().setUp()
        self.az = self.keep(AzureDouble(self.azurite, TENANT, "client-m",
                                        SECRET, SUB, "rg-m"))
        self.az.accounts[ACCOUNT] = {"tags": {}, "location": "eastus",
                                     "state": "Succeeded"}
        self.creds = os.path.join(self.tmp, "azure-creds")
        with open(self.creds, "w") as f:
            f.write('client_id = "client-m"\nclient_secret = "%s"\n' % SECRET)
        self.prom = os.path.join(self.tmp, "maint.prom")

    def image(self, name, tags):
        """A managed image and the page blob it was made from."""
        blob = "/imagebuilder/%s.vhd" % name
        st, _, body = self.azurite.request(
            "PUT", ACCOUNT, blob, headers={"x-ms-blob-type": "PageBlob",
                                           "x-ms-blob-content-length": "512"})
        assert st == 201, (st, body)
        self.az.add_image(name, tags, "%s/%s%s" % (self.azurite.url,
                                                   ACCOUNT, blob))

    def blob_exists(self, name):
        st, _, _ = self.azurite.request("HEAD", ACCOUNT,
                                        "/imagebuilder/%s.vhd" % name)
        return st == 200

    def run_prog(self, *args, creds=None):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "IB_AZURE_LOGIN_URL": self.az.url,
               "IB_AZURE_ARM_URL": self.az.url, "IB_AZURE_POLL_MS": "20",
               "IB_MAINTENANCE_NOW": str(NOW)}
        p = subprocess.run([PROG, "--azure-credentials", creds or self.creds,
                            "--azure-tenant", TENANT, "--azure-subscription",
                            SUB, "--metrics-file", self.prom] + list(args),
                           env=env, capture_output=True, text=True,
                           timeout=120)
        with open(os.path.join(self.tmp, "maint.log"), "a") as f:
            f.write(p.stderr)
        self.assertNotIn(SECRET, p.stdout + p.stderr)
        self.assertNotIn(self.azurite.accounts[ACCOUNT], p.stdout + p.stderr)
        for tok in self.az.tokens:
            self.assertNotIn(tok, p.stdout + p.stderr)
        return p

    def metrics(self):
        out = {}
        with open(self.prom) as f:
            for line in f:
                if not line.startswith("#") and line.strip():
                    name, value = line.rsplit(" ", 1)
                    out[name] = float(value)
        return out

    def seed(self):
        fleet = {"ib-fleet": "image-builder"}
        self.image("old", dict(fleet, **{"ib-created":
                                         iso(NOW - 14 * DAY - 60)}))
        self.image("young", dict(fleet, **{"ib-created":
                                           iso(NOW - 14 * DAY + 60)}))
        self.image("undated", fleet)
        self.image("golden", {"ib-created": iso(NOW - 99 * DAY)})
        self.image("other", {"ib-fleet": "someone-else",
                             "ib-created": iso(NOW - 99 * DAY)})

    def test_retention_marks_pages_and_blobs(self):
        self.seed()
        self.az.throttle = 2
        p = self.run_prog("-d")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.az.deleted_images, ["old"])
        self.assertFalse(self.blob_exists("old"))
        for name in ("young", "undated", "golden", "other"):
            self.assertIn(name, self.az.images)
            self.assertTrue(self.blob_exists(name))
        # 5 images in pages of 2: three list calls, throttled twice.
        self.assertEqual(self.az.count("GET", r"/Microsoft.Compute/images\?",
                                       200), 3)
        self.assertEqual(self.az.count("GET", r"", 429) +
                         self.az.count("POST", r"", 429), 2)
        self.assertEqual(self.az.rejected, [])
        m = self.metrics()
        lab = '{cloud="azure",where="%s",dry_run="0"}' % SUB
        self.assertEqual(m["ib_maintenance_images_seen" + lab], 3)
        self.assertEqual(m["ib_maintenance_images_expired" + lab], 1)
        self.assertEqual(m["ib_maintenance_images_deleted" + lab], 1)
        self.assertEqual(m["ib_maintenance_snapshots_deleted" + lab], 1)
        self.assertEqual(m["ib_maintenance_errors" + lab], 0)

    def test_dry_run_wrong_secret_and_usage(self):
        self.seed()
        p = self.run_prog("--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("would delete old", p.stderr)
        self.assertEqual(self.az.deleted_images, [])
        self.assertTrue(self.blob_exists("old"))
        bad = os.path.join(self.tmp, "bad-creds")
        with open(bad, "w") as f:
            f.write('client_id = "client-m"\nclient_secret = "Wr0ng"\n')
        p = self.run_prog(creds=bad)
        self.assertEqual(p.returncode, 1)
        self.assertIn("AADSTS7000215", p.stderr)
        self.assertNotIn("Wr0ng", p.stderr)
        self.assertIn("old", self.az.images)
        p = subprocess.run([PROG, "--azure-credentials", self.creds],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--azure-tenant", p.stderr)


if __name__ == "__main__":
    harness.main()
