#!/usr/bin/python3
"""ib-maintenance, the retention clean-up, against the EC2 test double
(doubles/ec2.py: no cloud here; it checks every SigV4 signature). Images
just past the retention go with their snapshots, images just inside stay,
images without the fleet's mark (the Name tag equal to the image's name,
which org.osbuild.aws puts on what it registers) stay whatever their age;
every enabled region (DescribeRegions) is visited; DescribeImages pages are
followed; throttling (503 RequestLimitExceeded) is retried; --limit stops a
run with exit 3; --dry-run deletes nothing; the Prometheus text file says
what was done; bad arguments exit 2; bad credentials exit 1."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
from ec2 import EC2Double  # noqa: E402

PROG = os.path.join(harness.BUILD, "ib-maintenance")
KEY, SECRET = "AKIAMAINTKEY", "MaintSecret/7+q"
DAY = 86400
NOW = 1790000000


class Maintenance(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.ec2 = self.keep(EC2Double({KEY: (SECRET, None)}, "http://x"))
        self.prom = os.path.join(self.tmp, "maint.prom")

    def run_prog(self, *args, key=KEY, secret=SECRET):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_REGION": "us-east-1",
               "IB_MAINTENANCE_NOW": str(NOW)}
        p = subprocess.run([PROG, "--aws", "--aws-endpoint", self.ec2.url,
                            "--metrics-file", self.prom] + list(args),
                           env=env, capture_output=True, text=True,
                           timeout=120)
        with open(os.path.join(self.tmp, "maint.log"), "a") as f:
            f.write(p.stderr)
        self.assertNotIn(SECRET, p.stdout + p.stderr)
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

    def fleet(self, region, name, age):
        return self.ec2.add_image(region, name, NOW - age, {"Name": name})

    def test_retention_marks_and_regions(self):
        old, old_snap = self.fleet("us-east-1", "composer-api-old",
                                   14 * DAY + 60)
        young, young_snap = self.fleet("us-east-1", "composer-api-young",
                                       14 * DAY - 60)
        eu, eu_snap = self.fleet("eu-west-1", "composer-api-eu", 30 * DAY)
        # Not the fleet's: no tag, another tag, a Name tag that is not the
        # image's name. Old, and kept.
        bare, _ = self.ec2.add_image("us-east-1", "golden", NOW - 99 * DAY)
        other, _ = self.ec2.add_image("us-east-1", "team-img",
                                      NOW - 99 * DAY, {"Team": "x"})
        renamed, _ = self.ec2.add_image("us-east-1", "composer-api-r",
                                        NOW - 99 * DAY, {"Name": "mine"})
        p = self.run_prog()
        self.assertEqual(p.returncode, 0, p.stderr)
        for ami in (old, eu):
            self.assertNotIn(ami, self.ec2.images)
            self.assertIn(ami, self.ec2.deregistered)
        for snap in (old_snap, eu_snap):
            self.assertNotIn(snap, self.ec2.snapshots)
        for ami in (young, bare, other, renamed):
            self.assertIn(ami, self.ec2.images)
        self.assertIn(young_snap, self.ec2.snapshots)
        # Every enabled region, asked with the fleet's tag filter.
        self.assertEqual(len(self.ec2.actions("DescribeRegions")), 1)
        regions = sorted(r for r, a, _ in self.ec2.calls
                         if a == "DescribeImages")
        self.assertEqual(regions, ["eu-west-1", "us-east-1"])
        q = self.ec2.actions("DescribeImages")[0]
        self.assertEqual(q["Owner.1"], "self")
        self.assertEqual((q["Filter.1.Name"], q["Filter.1.Value.1"]),
                         ("tag-key", "Name"))
        self.assertEqual(self.ec2.rejected, [])
        m = self.metrics()
        lab = '{cloud="aws",where="us-east-1",dry_run="0"}'
        self.assertEqual(m["ib_maintenance_images_seen" + lab], 2)
        self.assertEqual(m["ib_maintenance_images_expired" + lab], 1)
        self.assertEqual(m["ib_maintenance_images_deleted" + lab], 1)
        self.assertEqual(m["ib_maintenance_snapshots_deleted" + lab], 1)
        self.assertEqual(m["ib_maintenance_errors" + lab], 0)
        self.assertEqual(m['ib_maintenance_images_deleted{cloud="aws",'
                           'where="eu-west-1",dry_run="0"}'], 1)
        self.assertEqual(m["ib_maintenance_success"], 1)
        self.assertEqual(m["ib_maintenance_limit_reached"], 0)
        # A second run finds nothing more to do.
        p = self.run_prog()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.ec2.actions("DeregisterImage")), 2)

    def test_retention_days_and_prefix(self):
        a, _ = self.fleet("us-east-1", "composer-api-a", 3 * DAY + 1)
        b, _ = self.fleet("us-east-1", "other-b", 3 * DAY + 1)
        p = self.run_prog("--retention-days", "3", "--name-prefix",
                          "composer-api-", "--aws-region", "us-east-1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(a, self.ec2.images)
        self.assertIn(b, self.ec2.images)
        # The region given: no DescribeRegions.
        self.assertEqual(self.ec2.actions("DescribeRegions"), [])

    def test_throttling_and_pages(self):
        self.ec2.page_cap = 2
        amis = [self.fleet("us-east-1", "img-%d" % i, 20 * DAY)[0]
                for i in range(5)]
        self.ec2.throttle = 1
        self.ec2.fail("DeregisterImage", "RequestLimitExceeded",
                      "Request limit exceeded.", status=503, times=1)
        t0 = time.monotonic()
        p = self.run_prog("--aws-region", "us-east-1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertLess(time.monotonic() - t0, 60)
        for ami in amis:
            self.assertNotIn(ami, self.ec2.images)
        self.assertEqual(self.ec2.snapshots, {})
        self.assertGreaterEqual(len(self.ec2.actions("DescribeImages")), 3)
        self.assertIn("NextToken", self.ec2.actions("DescribeImages")[-1])

    def test_limit(self):
        amis = [self.fleet("us-east-1", "img-%d" % i, 20 * DAY)[0]
                for i in range(4)]
        p = self.run_prog("--limit", "3", "--aws-region", "us-east-1")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(sum(a in self.ec2.images for a in amis), 1)
        self.assertEqual(self.metrics()["ib_maintenance_limit_reached"], 1)
        p = self.run_prog("--limit", "3", "--aws-region", "us-east-1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sum(a in self.ec2.images for a in amis), 0)

    def test_dry_run(self):
        ami, snap = self.fleet("us-east-1", "img-old", 20 * DAY)
        p = self.run_prog("--dry-run", "--aws-region", "us-east-1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(ami, self.ec2.images)
        self.assertIn(snap, self.ec2.snapshots)
        self.assertEqual(self.ec2.actions("DeregisterImage"), [])
        self.assertEqual(self.ec2.actions("DeleteSnapshot"), [])
        self.assertIn("would delete " + ami, p.stderr)
        m = self.metrics()
        self.assertEqual(m['ib_maintenance_images_deleted{cloud="aws",'
                           'where="us-east-1",dry_run="1"}'], 1)

    def test_failures(self):
        ami, _ = self.fleet("us-east-1", "img-old", 20 * DAY)
        p = self.run_prog("--aws-region", "us-east-1", secret="wrong")
        self.assertEqual(p.returncode, 1)
        self.assertIn("SignatureDoesNotMatch", p.stderr)
        self.assertIn(ami, self.ec2.images)
        self.assertEqual(self.metrics()["ib_maintenance_success"], 0)
        # A snapshot EC2 refuses to delete is an error the metrics show.
        self.ec2.fail("DeleteSnapshot", "UnauthorizedOperation",
                      "You are not authorized to perform this operation.")
        p = self.run_prog("--aws-region", "us-east-1")
        self.assertEqual(p.returncode, 1)
        self.assertNotIn(ami, self.ec2.images)
        self.assertIn("UnauthorizedOperation", p.stderr)
        self.assertEqual(self.metrics()['ib_maintenance_errors{cloud="aws",'
                                        'where="us-east-1",dry_run="0"}'], 1)

    def test_usage(self):
        for args in (["--limit", "x"], ["--retention-days", "0"],
                     ["--aws-region", "EU WEST"], ["--bogus"],
                     ["--name-prefix", "a\tb"]):
            p = self.run_prog(*args)
            self.assertEqual(p.returncode, 2, args)
        p = subprocess.run([PROG], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("nothing to do", p.stderr)


if __name__ == "__main__":
    if not os.access(PROG, os.X_OK):
        print("skipped: %s is not built" % PROG)
        raise SystemExit(77)
    harness.main()
