#!/usr/bin/python3
"""org.osbuild.aws and the aws-ec2-copy/aws-ec2-share kinds end to end:
the worker binary and the project's queue, osbuild and EC2/IMDS as test
doubles (no cloud here), S3 the real s3rver behind the SigV4-checking
proxy. The AMI flow (upload, ImportSnapshot of exactly the exported bytes,
polling, object deleted, tags, RegisterImage with arch/boot mode/ENA,
sharing), instance-role credentials over IMDSv2 only, throttling and
ResourceLimitExceeded retried, an import failure with EC2's StatusMessage,
cancellation while polling, wrong credentials, no secret in the log.
Nothing left in the account after a failure: a failed registration deletes
the snapshot; a failed tag or share step, or a cancellation, after
RegisterImage deregisters the AMI then deletes the snapshot, and when that
clean-up fails the job still reports the first error."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import awsenv  # noqa: E402
import harness  # noqa: E402
import jobs  # noqa: E402
from ec2 import EC2Double  # noqa: E402
from imds import ImdsDouble, role_paths  # noqa: E402
from s3proxy import S3Proxy  # noqa: E402

DOUBLES = harness.DOUBLES
ROLE_KEY, ROLE_SECRET, ROLE_TOKEN = "ASIAROLEKEY", "RoleSecret/42+x", "RoleTok"
MiB = 1 << 20


def build_args(options, size, image_name="my-ami-1", boot_mode=None,
               sleep=None):
    args = jobs.osbuild_args({"size": size})
    if boot_mode:
        args["image_boot_mode"] = boot_mode
    return args, jobs.one_target(args, "org.osbuild.aws", image_name,
                                 options)


class AWSTarget(awsenv.OneS3rver, harness.TestCase):

    def setUp(self):
        super().setUp()
        secrets = {ROLE_KEY: (ROLE_SECRET, ROLE_TOKEN),
                   "AKIAJOBKEY": ("JobSecret9", None)}
        self.proxy = self.keep(S3Proxy(self.s3.port, secrets, "eu-west-1"))
        self.ec2 = self.keep(EC2Double(secrets, self.s3.url))
        self.imds = self.keep(ImdsDouble(role_paths(
            "ib-role", ROLE_KEY, ROLE_SECRET, ROLE_TOKEN)))
        self.cli = awsenv.AwsCli(self.tmp, self.s3.url)
        self.q = self.queue()

    def start(self, aws="", arch="x86_64"):
        # The doubles are reachable only through the [aws] endpoint keys.
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\narch = "%s"\n[aws]\nendpoint = "%s"\n'
                           's3_endpoint = "%s"\ns3_part_size = %d\n%s'
                           % (DOUBLES, arch, self.ec2.url, self.proxy.url,
                              5 * MiB, aws),
                           env={"IB_IMDS_ENDPOINT": self.imds.url})

    def opts(self, **kw):
        o = {"region": "eu-west-1", "bucket": self.bucket, "key": "k",
             "accessKeyID": "", "secretAccessKey": "", "sessionToken": "",
             "shareWithAccounts": ["123456789012", "210987654321"]}
        o.update(kw)
        return o

    def run_job(self, opts, size=7 * MiB, timeout=120, arch="x86_64", **kw):
        args, fname = build_args(opts, size, **kw)
        jid = self.q.enqueue("osbuild", args, arch=arch)
        self.q.wait(jid, timeout)
        return self.q.result(jid), fname

    def assert_clean_log(self, w):
        log = w.log()
        for s in (ROLE_SECRET, ROLE_TOKEN, "JobSecret9"):
            self.assertNotIn(s, log)

    def test_ami_flow_with_instance_role(self):
        w = self.start()
        size = 7 * MiB + 3
        res, fname = self.run_job(self.opts(), size, boot_mode="hybrid")
        self.assertTrue(res.get("success"), json.dumps(res)[-2000:])
        out = res["target_results"][0]["options"]
        self.assertEqual(out["region"], "eu-west-1")
        ami = out["ami"]
        img = self.ec2.images[ami]
        p = img["params"]
        self.assertEqual(img["region"], "eu-west-1")
        self.assertEqual(p["Architecture"], "x86_64")
        self.assertEqual(p["RootDeviceName"], "/dev/sda1")
        self.assertEqual(p["BlockDeviceMapping.1.DeviceName"], "/dev/sda1")
        self.assertEqual(p["EnaSupport"], "true")
        self.assertEqual(p["VirtualizationType"], "hvm")
        self.assertEqual(p["BootMode"], "uefi-preferred")
        self.assertEqual(img["tags"], {"Name": "my-ami-1"})
        snap = self.ec2.snapshots[img["snapshot"]]
        self.assertEqual(snap["tags"], {"Name": "my-ami-1"})
        # EC2 imported exactly the exported bytes.
        self.assertEqual(snap["sha256"], awsenv.double_export(size))
        self.assertEqual(snap["size"], size)
        self.assertEqual(sorted(img["shared"]), ["123456789012",
                                                 "210987654321"])
        self.assertEqual(sorted(snap["shared"]), ["123456789012",
                                                  "210987654321"])
        imp = self.ec2.actions("ImportSnapshot")[0]
        self.assertEqual(imp["DiskContainer.UserBucket.S3Key"],
                         "k-" + fname)
        # Polled until completed, then the object was deleted.
        self.assertGreaterEqual(
            len(self.ec2.actions("DescribeImportSnapshotTasks")), 2)
        self.assertEqual(self.proxy.count("DeleteObject", 204), 1)
        if self.cli.available():
            self.assertEqual(self.cli.keys(self.bucket), [])
        # Credentials: IMDSv2 only; every signature was right.
        self.assertEqual(self.imds.v1_attempts, 0)
        self.assertIn(("PUT", "/latest/api/token"), self.imds.requests)
        self.assertEqual(self.ec2.rejected, [])
        self.assertEqual(self.proxy.rejected, [])
        self.assertIn("instance role ib-role", w.log())
        self.assert_clean_log(w)

    def test_import_progress_reaches_the_server(self):
        """EC2's import percentage (DescribeImportSnapshotTasks Progress)
        is the job's progress the queue shows: "importing KEY to
        org.osbuild.aws" of 100, partway once the 5 s window since the
        upload's last update has passed, 100 at the end; the log says
        each step."""
        self.ec2.steps = 12     # 8%, 16%, ... 91% (polls of 0.5-1 s)
        w = self.start()
        args, fname = build_args(self.opts(), 6 * MiB)
        jid = self.q.enqueue("osbuild", args)
        seen = self.q.watch_progress(jid, 120)
        res = self.q.result(jid)
        self.assertTrue(res.get("success"), json.dumps(res)[-2000:])
        msg = "importing k-%s to org.osbuild.aws" % fname
        imp = [p for p in seen if p["message"] == msg]
        self.assertEqual({p["total"] for p in imp}, {100}, seen)
        done = [p["done"] for p in imp]
        self.assertEqual(done, sorted(done), seen)
        self.assertTrue(any(0 < d < 100 for d in done), seen)
        self.assertEqual(done[-1], 100, seen)
        self.assertRegex(w.log(), r"info org\.osbuild\.aws: importing "
                         r"k-\S+: 50%")

    def test_arm64_legacy_job_credentials_throttling_and_limit(self):
        self.ec2.throttle = 3
        self.ec2.limit_busy = 2
        w = self.start(arch="aarch64")
        res, _ = self.run_job(self.opts(accessKeyID="AKIAJOBKEY",
                                        secretAccessKey="JobSecret9",
                                        shareWithAccounts=[],
                                        bootMode="legacy-bios"), 1000,
                              arch="aarch64")
        self.assertTrue(res.get("success"), json.dumps(res)[-2000:])
        img = self.ec2.images[res["target_results"][0]["options"]["ami"]]
        self.assertEqual(img["params"]["Architecture"], "arm64")
        self.assertEqual(img["params"]["BootMode"], "legacy-bios")
        # 3 throttled, 2 refused over the import limit, then accepted.
        self.assertEqual(len(self.ec2.actions("ImportSnapshot")), 6)
        self.assertEqual(self.ec2.actions("ModifyImageAttribute"), [])
        self.assertIn("RequestLimitExceeded", w.log())
        self.assertIn("ResourceLimitExceeded", w.log())
        self.assertEqual(self.imds.requests, [])
        self.assert_clean_log(w)

    def test_arm64_registers_uefi(self):
        """arm64 AMIs boot only with UEFI: whatever boot mode the build
        names (or none), an aarch64 worker registers BootMode uefi; a mode
        it does not know is still refused."""
        w = self.start(arch="aarch64")
        got = []
        for i, mode in enumerate(("hybrid", None, "legacy", "uefi")):
            res, _ = self.run_job(self.opts(), 1000, arch="aarch64",
                                  image_name="arm-%d" % i, boot_mode=mode)
            self.assertTrue(res.get("success"), json.dumps(res)[-2000:])
            img = self.ec2.images[res["target_results"][0]["options"]["ami"]]
            got.append((img["params"]["Architecture"],
                        img["params"]["BootMode"]))
        self.assertEqual(got, [("arm64", "uefi")] * 4)
        res, _ = self.run_job(self.opts(), 1000, arch="aarch64",
                              image_name="arm-x", boot_mode="bios-or-so")
        self.assertEqual(res["target_results"][0]["target_error"]["id"], 2)
        self.assert_clean_log(w)

    def test_import_failure_reports_status_message(self):
        self.ec2.import_mode = "fail"
        w = self.start()
        res, _ = self.run_job(self.opts(), 1000)
        self.assertEqual(res["job_error"]["id"], 28)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 12)
        self.assertIn("Disk validation failed", terr["reason"])
        self.assertEqual(self.proxy.count("DeleteObject", 204), 1)
        self.assertEqual(self.ec2.images, {})
        self.assertTrue(w.alive())

    def test_cancel_while_polling(self):
        self.ec2.import_mode = "hang"
        w = self.start()
        args, _ = build_args(self.opts(), 1000)
        jid = self.q.enqueue("osbuild", args)
        harness.wait_until(lambda: self.ec2.actions(
            "DescribeImportSnapshotTasks"), 60, "the import to be polled")
        self.q.cancel(jid)
        harness.wait_until(lambda: self.ec2.actions("CancelImportTask"),
                           60, "the import to be canceled")
        harness.wait_until(lambda: self.proxy.count("DeleteObject", 204),
                           30, "the object to be deleted")
        self.assertTrue(w.alive())
        self.assertEqual(self.ec2.images, {})

    def assert_discarded(self, w, ami, snap):
        """ami deregistered, then snap deleted, both logged; none left."""
        self.assertEqual(self.ec2.images, {})
        self.assertEqual(self.ec2.snapshots, {})
        self.assertIn(ami, self.ec2.deregistered)
        order = [(a, p.get("ImageId") or p.get("SnapshotId"))
                 for _, a, p in self.ec2.calls
                 if a in ("DeregisterImage", "DeleteSnapshot")]
        self.assertEqual(order, [("DeregisterImage", ami),
                                 ("DeleteSnapshot", snap)])
        self.assertIn("aws: deregistered %s" % ami, w.log())
        self.assertIn("aws: deleted snapshot %s" % snap, w.log())

    def registered(self):
        """The (ami, snapshot) of the one image the worker registered."""
        imgs = list(self.ec2.deregistered.items()) + \
            list(self.ec2.images.items())
        self.assertEqual(len(imgs), 1, imgs)
        return imgs[0][0], imgs[0][1]["snapshot"]

    def test_failure_after_register_leaves_nothing(self):
        w = self.start()
        # The AMI's tag fails (the snapshot's, before registration, works).
        self.ec2.fail("CreateTags", "InvalidParameterValue", "Tag value "
                      "exceeds the maximum length of 256 characters",
                      when=lambda p: p["ResourceId.1"].startswith("ami-"),
                      times=1)
        res, _ = self.run_job(self.opts(), 1000)
        self.assertEqual(res["job_error"]["id"], 28, res)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 12)
        self.assertIn("CreateTags: InvalidParameterValue: Tag value",
                      terr["reason"])
        ami, snap = self.registered()
        self.assert_discarded(w, ami, snap)
        self.assertEqual(self.proxy.count("DeleteObject", 204), 1)
        # Sharing the AMI fails after the snapshot was shared.
        self.ec2.calls.clear()
        self.ec2.deregistered.clear()
        self.ec2.fail("ModifyImageAttribute", "InvalidAMIAttributeItemValue",
                      'Invalid attribute item value "210987654321" for '
                      "userId item type.", times=1)
        res, _ = self.run_job(self.opts(), 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 12)
        self.assertIn("sharing: ModifyImageAttribute: "
                      "InvalidAMIAttributeItemValue", terr["reason"])
        self.assertEqual(len(self.ec2.actions("ModifySnapshotAttribute")), 1)
        ami, snap = self.registered()
        self.assert_discarded(w, ami, snap)
        # The daemon goes on: the next job makes its image.
        self.assertTrue(w.alive())
        res, _ = self.run_job(self.opts(), 1000)
        self.assertTrue(res.get("success"), json.dumps(res)[-2000:])
        self.assertIn(res["target_results"][0]["options"]["ami"],
                      self.ec2.images)
        self.assertEqual(self.ec2.rejected, [])
        self.assert_clean_log(w)

    def test_failed_clean_up_keeps_the_first_error(self):
        w = self.start()
        self.ec2.fail("ModifyImageAttribute", "InvalidAMIAttributeItemValue",
                      "Invalid attribute item value for userId item type.")
        self.ec2.fail("DeregisterImage", "UnauthorizedOperation", "You are "
                      "not authorized to perform this operation.",
                      status=403)
        res, _ = self.run_job(self.opts(), 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 12)
        self.assertIn("ModifyImageAttribute: InvalidAMIAttributeItemValue",
                      terr["reason"])
        self.assertNotIn("UnauthorizedOperation", terr["reason"])
        self.assertNotIn("InUse", terr["reason"])
        ami, snap = self.registered()
        # Tried once each (no retry on a refusal), both failures logged;
        # EC2 keeps a snapshot that a registered image uses.
        self.assertEqual(len(self.ec2.actions("DeregisterImage")), 1)
        self.assertEqual(len(self.ec2.actions("DeleteSnapshot")), 1)
        log = w.log()
        self.assertIn("could not deregister %s: DeregisterImage: "
                      "UnauthorizedOperation" % ami, log)
        self.assertIn("could not delete snapshot %s: DeleteSnapshot: "
                      "InvalidSnapshot.InUse" % snap, log)
        self.assertNotIn("aws: deregistered", log)
        self.assertIn(ami, self.ec2.images)
        self.assertIn(snap, self.ec2.snapshots)
        self.assertTrue(w.alive())

    def test_failed_registration_deletes_only_its_snapshot(self):
        w = self.start()
        res, _ = self.run_job(self.opts(shareWithAccounts=[]), 1000,
                              image_name="same-name")
        self.assertTrue(res.get("success"), json.dumps(res)[-2000:])
        first = res["target_results"][0]["options"]["ami"]
        first_snap = self.ec2.images[first]["snapshot"]
        # EC2 refuses a second image of the same name in the region.
        res, _ = self.run_job(self.opts(shareWithAccounts=[]), 1000,
                              image_name="same-name")
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 12)
        self.assertIn("RegisterImage: InvalidAMIName.Duplicate",
                      terr["reason"])
        deleted = [p["SnapshotId"] for p in self.ec2.actions("DeleteSnapshot")]
        self.assertEqual(len(deleted), 1)
        self.assertNotEqual(deleted[0], first_snap)
        self.assertEqual(list(self.ec2.snapshots), [first_snap])
        self.assertEqual(list(self.ec2.images), [first])
        self.assertEqual(self.ec2.actions("DeregisterImage"), [])
        self.assertIn("aws: deleted snapshot %s" % deleted[0], w.log())
        self.assertTrue(w.alive())

    def test_cancel_after_register(self):
        release = self.ec2.hold("ModifyImageAttribute")
        self.addCleanup(release.set)
        w = self.start()
        args, _ = build_args(self.opts(), 1000)
        jid = self.q.enqueue("osbuild", args)
        harness.wait_until(lambda: self.ec2.actions("ModifyImageAttribute"),
                           60, "the AMI to be shared")
        self.q.cancel(jid)
        harness.wait_until(lambda: self.ec2.actions("DeleteSnapshot"), 60,
                           "the clean-up after the cancellation")
        w.wait_log("aws: deleted snapshot", 10)
        ami, snap = self.registered()
        self.assert_discarded(w, ami, snap)
        self.assertTrue(w.alive())

    def test_bad_input(self):
        w = self.start()
        res, _ = self.run_job(self.opts(accessKeyID="AKIAJOBKEY",
                                        secretAccessKey="NotTheSecret7"),
                              1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("SignatureDoesNotMatch", terr["reason"])
        self.assertEqual(self.ec2.actions("ImportSnapshot"), [])
        # The reference's ids: 2 for the target's options, 17 for the
        # worker's configuration and credentials.
        res, _ = self.run_job(self.opts(shareWithAccounts=["12345"]), 1000)
        self.assertEqual(res["target_results"][0]["target_error"]["id"], 2)
        self.assertEqual(res["job_error"]["details"], [{
            "id": 2, "reason": res["target_results"][0]["target_error"][
                "reason"], "details": "org.osbuild.aws"}])
        # Refused before the build by the osbuild kind, by the target after.
        res, _ = self.run_job(self.opts(), 1000, image_name="bad\x01name")
        self.assertEqual(res["job_error"]["id"], 4)
        res, _ = self.run_job(self.opts(), 1000, image_name="no*stars")
        self.assertEqual(res["target_results"][0]["target_error"]["id"], 2)
        res, _ = self.run_job(self.opts(region=""), 1000)
        self.assertEqual(res["target_results"][0]["target_error"]["id"], 2)
        self.assertNotIn("NotTheSecret7", w.log())
        self.assertTrue(w.alive())

    def test_copy_and_share_jobs(self):
        creds = os.path.join(self.tmp, "awscreds")
        with open(creds, "w") as f:
            f.write("[default]\naws_access_key_id = AKIAJOBKEY\n"
                    "aws_secret_access_key = JobSecret9\n")
        w = self.start('credentials = "%s"\n' % creds)
        res, _ = self.run_job(self.opts(shareWithAccounts=[]), 1000)
        src = res["target_results"][0]["options"]["ami"]
        cid = self.q.enqueue("aws-ec2-copy", {
            "ami": src, "source_region": "eu-west-1",
            "target_region": "us-east-2", "target_name": "copied-ami"})
        self.q.wait(cid, 60)
        cres = self.q.result(cid)
        self.assertNotIn("job_error", cres, cres)
        self.assertEqual(cres["region"], "us-east-2")
        new = self.ec2.images[cres["ami"]]
        self.assertEqual(new["region"], "us-east-2")
        self.assertEqual(new["state"], "available")
        self.assertEqual(new["tags"], {"Name": "copied-ami"})
        self.assertEqual(new["copied_from"], src)
        sid = self.q.enqueue("aws-ec2-share", {
            "ami": "", "region": "", "shareWithAccounts": ["111122223333"]},
            depends=[cid])
        self.q.wait(sid, 60)
        sres = self.q.result(sid)
        self.assertNotIn("job_error", sres, sres)
        self.assertEqual(sres["ami"], cres["ami"])
        self.assertEqual(new["shared"], ["111122223333"])
        self.assertEqual(self.ec2.snapshots[new["snapshot"]]["shared"],
                         ["111122223333"])
        # An AMI that does not exist: EC2's words in the job error.
        bid = self.q.enqueue("aws-ec2-copy", {
            "ami": "ami-0000000000000000", "source_region": "eu-west-1",
            "target_region": "us-east-2", "target_name": "x"})
        self.q.wait(bid, 60)
        bres = self.q.result(bid)
        self.assertIn("InvalidAMIID.NotFound", bres["job_error"]["reason"])
        self.assertEqual(self.ec2.rejected, [])
        self.assertEqual(self.imds.requests, [])
        self.assert_clean_log(w)


if __name__ == "__main__":
    harness.main()
