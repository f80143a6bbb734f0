#!/usr/bin/python3
"""The seams between the GCP and Azure image targets and ib-maintenance,
as t_aws_retention_seam.py for AWS: an image the worker binary makes
(org.osbuild.gcp against the GCP double; org.osbuild.azure.image against
the ARM double and the real azurite) is found by ib-maintenance in the
same double as the fleet's, kept a minute inside the retention and
deleted a minute past it (the Azure one with its VHD blob). The target's
mark and date and the clean-up's reading of them must agree, or this
fails."""

import calendar
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import azureenv  # noqa: E402
import harness  # noqa: E402
import jobs  # noqa: E402
from azure import AzureDouble  # noqa: E402
from gcp import GcpDouble  # noqa: E402
from t_gcp_target import EMAIL, make_key  # noqa: E402

DOUBLES = harness.DOUBLES
PROG = os.path.join(harness.BUILD, "ib-maintenance")
DAY = 86400


def maintenance(test, now, args, env):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
         "IB_MAINTENANCE_NOW": str(int(now))}
    e.update(env)
    p = subprocess.run([PROG] + args, env=e, capture_output=True, text=True,
                       timeout=120)
    with open(os.path.join(test.tmp, "maint.log"), "a") as f:
        f.write(p.stderr)
    test.assertEqual(p.returncode, 0, p.stderr)
    return p


def run_one(test, q, targets, export):
    jid = q.enqueue("osbuild", jobs.osbuild_args({"size": 1024 * 1024},
                                                 export, targets))
    q.wait(jid, 120)
    res = q.result(jid)
    test.assertTrue(res.get("success"), json.dumps(res)[:3000])
    return res


def gce_epoch(ts):
    """creationTimestamp ("2026-12-03T09:52:06.123-08:00") in epoch."""
    m = re.match(r"^(.{19})\.\d+([+-])(\d\d):(\d\d)$", ts)
    t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    off = int(m.group(3)) * 3600 + int(m.group(4)) * 60
    return t - off if m.group(2) == "+" else t + off


class GcpSeam(harness.TestCase):

    def test_imported_image_expires(self):
        keypath = os.path.join(self.tmp, "sa.pem")
        pem, modulus = make_key(keypath)
        gcp = self.keep(GcpDouble(EMAIL, "proj-1", modulus))
        creds = os.path.join(self.tmp, "gcp-key.json")
        with open(creds, "w") as f:
            json.dump({"type": "service_account", "project_id": "proj-1",
                       "private_key_id": "k1", "private_key": pem,
                       "client_email": EMAIL, "client_id": "1",
                       "token_uri": gcp.token_url}, f)
        env = {"IB_GCP_STORAGE_URL": gcp.url, "IB_GCP_COMPUTE_URL": gcp.url,
               "IB_GCP_POLL_MS": "20"}
        q = self.queue()
        self.worker("http://" + q.address,
                    '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1\n'
                    '[gcp]\ncredentials = "%s"\nbucket = "bkt"\n'
                    % (DOUBLES, creds), env=env)
        run_one(self, q, [jobs.target(
            "org.osbuild.gcp", {"region": "", "bucket": "",
                                "object": "composer-api-seam.tar.gz"},
            "composer-api-seam", ("gce", "image.tar.gz"),
            "0c1a2b3c-0000-4000-8000-00000000a5e1")], ("gce", "image.tar.gz"))
        gcp.add_image("not-ours", time.time() - 99 * DAY)
        created = gce_epoch(gcp.images["composer-api-seam"]
                            ["creationTimestamp"])
        args = ["--gcp-credentials", creds]
        maintenance(self, created + 14 * DAY - 60, args, env)
        self.assertIn("composer-api-seam", gcp.images)
        maintenance(self, created + 14 * DAY + 60, args, env)
        self.assertEqual(gcp.deleted_images, ["composer-api-seam"])
        self.assertIn("not-ours", gcp.images)


class AzureSeam(azureenv.OneAzurite, harness.TestCase):
    TENANT = "5f1c0a7e-0000-4000-8000-00000000eeee"
    SUB = "0d9c2f4e-0000-4000-8000-00000000ffff"
    SECRET = "Seam-Secret~1"

    def test_registered_image_expires_with_its_blob(self):
        az = self.keep(AzureDouble(self.azurite, self.TENANT, "client-s",
                                   self.SECRET, self.SUB, "rg-s"))
        creds = os.path.join(self.tmp, "azure-creds")
        with open(creds, "w") as f:
            f.write('client_id = "client-s"\nclient_secret = "%s"\n'
                    % self.SECRET)
        env = {"IB_AZURE_LOGIN_URL": az.url, "IB_AZURE_ARM_URL": az.url,
               "IB_AZURE_POLL_MS": "20"}
        q = self.queue()
        self.worker("http://" + q.address,
                    '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1\n'
                    '[azure]\ncredentials = "%s"\n' % (DOUBLES, creds),
                    env=env)
        t0 = time.time()
        run_one(self, q, [jobs.target(
            "org.osbuild.azure.image", {
                "tenant_id": self.TENANT, "subscription_id": self.SUB,
                "resource_group": "rg-s", "location": ""},
            "img-seam", ("vhd", "disk.vhd"),
            "0c1a2b3c-0000-4000-8000-00000000a5e2")], ("vhd", "disk.vhd"))
        account, = az.accounts
        self.assertEqual(self.azurite.request(
            "HEAD", account, "/imagebuilder/img-seam.vhd")[0], 200)
        args = ["--azure-credentials", creds, "--azure-tenant", self.TENANT,
                "--azure-subscription", self.SUB]
        # The target dates the image when it registers it: after t0.
        maintenance(self, t0 + 14 * DAY - 60, args, env)
        self.assertIn("img-seam", az.images)
        maintenance(self, time.time() + 14 * DAY + 60, args, env)
        self.assertEqual(az.deleted_images, ["img-seam"])
        self.assertEqual(self.azurite.request(
            "HEAD", account, "/imagebuilder/img-seam.vhd")[0], 404)


if __name__ == "__main__":
    harness.main()
