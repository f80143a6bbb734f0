#!/usr/bin/python3
"""ib-maintenance for GCP against the GCP test double (doubles/gcp.py: no
cloud here; it checks the RS256 JWT assertion and every bearer token).
Images labelled ib-fleet=image-builder (what org.osbuild.gcp puts on its
imports, t_gcp_target.py) just past the retention are deleted, waiting for
their operations; just inside stay; unlabelled images and images with
another value stay whatever their age; creation times are read as GCE
writes them (US Pacific offset); every page is read before deleting;
throttling is retried; --limit exits 3; --dry-run deletes nothing; the
Prometheus text file says what was done; a bad key file exits 1, with
nothing from it in the output."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
from gcp import GcpDouble  # noqa: E402
from t_gcp_target import EMAIL, make_key  # noqa: E402

PROG = os.path.join(harness.BUILD, "ib-maintenance")
DAY = 86400
NOW = 1790000000
FLEET = {"ib-fleet": "image-builder"}


class MaintenanceGcp(harness.TestCase):

    def setUp(self):
        super().setUp()
        keypath = os.path.join(self.tmp, "sa.pem")
        self.pem, modulus = make_key(keypath)
        self.gcp = self.keep(GcpDouble(EMAIL, "proj-1", modulus))
        self.creds = os.path.join(self.tmp, "gcp-key.json")
        with open(self.creds, "w") as f:
            json.dump({"type": "service_account", "project_id": "proj-1",
                       "private_key_id": "k1", "private_key": self.pem,
                       "client_email": EMAIL, "client_id": "1",
                       "token_uri": self.gcp.token_url}, f)
        self.prom = os.path.join(self.tmp, "maint.prom")

    def run_prog(self, *args, creds=None):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "IB_GCP_COMPUTE_URL": self.gcp.url, "IB_GCP_POLL_MS": "20",
               "IB_MAINTENANCE_NOW": str(NOW)}
        p = subprocess.run([PROG, "--gcp-credentials", creds or self.creds,
                            "--metrics-file", self.prom] + list(args),
                           env=env, capture_output=True, text=True,
                           timeout=120)
        with open(os.path.join(self.tmp, "maint.log"), "a") as f:
            f.write(p.stderr)
        self.assertNotIn("PRIVATE KEY", p.stdout + p.stderr)
        for tok in self.gcp.tokens:
            self.assertNotIn(tok, p.stdout + p.stderr)
        return p

    def metrics(self):
        out = {}
        with open(self.prom) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def test_retention_marks_pages_and_throttling(self):
        for i in range(7):
            self.gcp.add_image("old-%d" % i, NOW - 14 * DAY - 60, FLEET)
        self.gcp.add_image("young", NOW - 14 * DAY + 60, FLEET)
        self.gcp.add_image("golden", NOW - 99 * DAY)
        self.gcp.add_image("other-team", NOW - 99 * DAY,
                           {"ib-fleet": "someone-else"})
        self.gcp.throttle = {r"/global/images$": 2}
        p = self.run_prog("-d")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(self.gcp.deleted_images),
                         ["old-%d" % i for i in range(7)])
        self.assertEqual(sorted(self.gcp.images),
                         ["golden", "other-team", "young"])
        # Listed with the fleet's filter, in pages of 100, throttled twice.
        self.assertEqual(self.gcp.list_calls[0]["filter"],
                         "labels.ib-fleet=image-builder")
        self.assertEqual(self.gcp.count("GET", r"/global/images\?", 429), 2)
        self.assertGreaterEqual(self.gcp.count("GET", r"/operations/"), 7)
        self.assertEqual(self.gcp.rejected, [])
        m = self.metrics()
        lab = '{cloud="gcp",where="proj-1",dry_run="0"}'
        self.assertEqual(m["ib_maintenance_images_seen" + lab], 8)
        self.assertEqual(m["ib_maintenance_images_expired" + lab], 7)
        self.assertEqual(m["ib_maintenance_images_deleted" + lab], 7)
        self.assertEqual(m["ib_maintenance_errors" + lab], 0)
        self.assertEqual(m["ib_maintenance_success"], 1)

    def test_every_page_read_before_deleting(self):
        for i in range(101):
            self.gcp.add_image("old-%03d" % i, NOW - 30 * DAY, FLEET)
        p = self.run_prog("--limit", "1")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(len(self.gcp.list_calls), 2)
        self.assertEqual(self.gcp.list_calls[1]["pageToken"], "100")
        self.assertEqual(self.gcp.deleted_images, ["old-000"])
        calls = [m for m, path, s in self.gcp.log
                 if m in ("GET", "DELETE") and "/operations/" not in path]
        self.assertEqual(calls, ["GET", "GET", "DELETE"])
        m = self.metrics()
        lab = '{cloud="gcp",where="proj-1",dry_run="0"}'
        self.assertEqual(m["ib_maintenance_images_seen" + lab], 101)
        self.assertEqual(m["ib_maintenance_images_expired" + lab], 101)

    def test_limit_and_dry_run(self):
        for i in range(4):
            self.gcp.add_image("old-%d" % i, NOW - 20 * DAY, FLEET)
        p = self.run_prog("--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.gcp.images), 4)
        self.assertEqual(p.stderr.count("would delete"), 4)
        m = self.metrics()
        self.assertEqual(m['ib_maintenance_images_deleted{cloud="gcp",'
                           'where="proj-1",dry_run="1"}'], 4)
        p = self.run_prog("--limit", "3")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(len(self.gcp.deleted_images), 3)
        self.assertEqual(self.metrics()["ib_maintenance_limit_reached"], 1)

    def test_bad_and_refused_keys(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"type": "service_account", "private_key": "-----BEGIN '
                    'PRIVATE KEY-----\\nnot a key"}')
        p = self.run_prog(creds=bad)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(self.metrics()["ib_maintenance_success"], 0)
        # A key the token endpoint refuses: the listing fails, exit 1.
        other = os.path.join(self.tmp, "other.pem")
        pem, _ = make_key(other)
        with open(self.creds) as f:
            doc = json.load(f)
        doc["private_key"] = pem
        wrong = os.path.join(self.tmp, "wrong.json")
        with open(wrong, "w") as f:
            json.dump(doc, f)
        self.gcp.add_image("old", NOW - 20 * DAY, FLEET)
        p = self.run_prog(creds=wrong)
        self.assertEqual(p.returncode, 1)
        self.assertIn("old", self.gcp.images)
        self.assertEqual(self.metrics()['ib_maintenance_errors{cloud="gcp",'
                                        'where="proj-1",dry_run="0"}'], 1)


if __name__ == "__main__":
    harness.main()
