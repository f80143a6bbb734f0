#!/usr/bin/python3
"""The seam between org.osbuild.aws and ib-maintenance: an AMI the worker
registers (the real worker binary, the project's queue, the EC2 double
with s3rver behind the SigV4 proxy, as t_aws_target.py) is found by
ib-maintenance in the same EC2 double as the fleet's, kept while the clock
(IB_MAINTENANCE_NOW) is a minute inside the retention and deleted with its
snapshot a minute past it. The two sides agree on the mark (the Name tag
the target sets) and on EC2's creationDate, or this fails. An image of the
same account that the worker did not make stays."""

import calendar
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import awsenv  # noqa: E402
import harness  # noqa: E402
import jobs  # noqa: E402
from ec2 import EC2Double  # noqa: E402
from s3proxy import S3Proxy  # noqa: E402

DOUBLES = harness.DOUBLES
PROG = os.path.join(harness.BUILD, "ib-maintenance")
KEY, SECRET = "AKIASEAMKEY", "SeamSecret/3+z"
DAY = 86400
MiB = 1 << 20


class RetentionSeam(awsenv.OneS3rver, harness.TestCase):

    def setUp(self):
        super().setUp()
        secrets = {KEY: (SECRET, None)}
        self.proxy = self.keep(S3Proxy(self.s3.port, secrets, "eu-west-1"))
        self.ec2 = self.keep(EC2Double(secrets, self.s3.url))
        self.creds = os.path.join(self.tmp, "aws-creds")
        with open(self.creds, "w") as f:
            f.write("[default]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n" % (KEY, SECRET))

    def maintenance(self, now):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "IB_MAINTENANCE_NOW": str(int(now))}
        p = subprocess.run([PROG, "--aws", "--aws-endpoint", self.ec2.url,
                            "--aws-credentials", self.creds,
                            "--aws-region", "eu-west-1",
                            "--aws-home-region", "eu-west-1"],
                           env=env, capture_output=True, text=True,
                           timeout=120)
        with open(os.path.join(self.tmp, "maint.log"), "a") as f:
            f.write(p.stderr)
        self.assertNotIn(SECRET, p.stdout + p.stderr)
        return p

    def test_registered_ami_expires_with_its_snapshot(self):
        q = self.queue()
        self.worker("http://" + q.address,
                    '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1\n'
                    '[aws]\ncredentials = "%s"\nendpoint = "%s"\n'
                    's3_endpoint = "%s"\n' % (DOUBLES, self.creds,
                                              self.ec2.url, self.proxy.url))
        args = jobs.osbuild_args({"size": 2 * MiB})
        jobs.one_target(args, "org.osbuild.aws", "composer-api-seam",
                        {"region": "eu-west-1", "bucket": self.bucket,
                         "key": "seam", "shareWithAccounts": []})
        jid = q.enqueue("osbuild", args)
        q.wait(jid, 120)
        res = q.result(jid)
        self.assertTrue(res.get("success"), str(res)[-2000:])
        ami = res["target_results"][0]["options"]["ami"]
        snap = self.ec2.images[ami]["snapshot"]
        other, other_snap = self.ec2.add_image("eu-west-1", "golden",
                                               time.time() - 99 * DAY)
        created = calendar.timegm(time.strptime(
            self.ec2.images[ami]["created"], "%Y-%m-%dT%H:%M:%S.000Z"))

        p = self.maintenance(created + 14 * DAY - 60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(ami, self.ec2.images)
        self.assertEqual(self.ec2.images[ami]["state"], "available")

        p = self.maintenance(created + 14 * DAY + 60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(ami, self.ec2.images)
        self.assertIn(ami, self.ec2.deregistered)
        self.assertNotIn(snap, self.ec2.snapshots)
        # Not the worker's: kept, however old.
        self.assertIn(other, self.ec2.images)
        self.assertIn(other_snap, self.ec2.snapshots)


if __name__ == "__main__":
    harness.main()
