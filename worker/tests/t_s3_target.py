#!/usr/bin/python3
"""org.osbuild.aws.s3 end to end: the worker binary takes an osbuild job
from the project's queue (osbuild is the test double), uploads the export
to a real s3rver through a proxy that checks every SigV4 signature, and
the result's presigned URL is fetched through that proxy too. awscli,
a second client, reads the object back and its sha256 is compared.
Also: the upload's progress as the queue shows it, retries on SlowDown, an
aborted multipart upload on a lasting part failure, wrong credentials,
[generic_s3] fallbacks, no secret in the log."""

import hashlib
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import awsenv  # noqa: E402
import harness  # noqa: E402
import jobs  # noqa: E402
from s3proxy import S3Proxy  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

DOUBLES = harness.DOUBLES
SECRET = "S3RVER"
MiB = 1 << 20


def build_args(options, size, image_name="img.qcow2"):
    args = jobs.osbuild_args({"size": size})
    return args, jobs.one_target(args, "org.osbuild.aws.s3", image_name,
                                 options)


class S3Target(awsenv.OneS3rver, harness.TestCase):

    def setUp(self):
        super().setUp()
        self.proxy = self.keep(S3Proxy(self.s3.port, {"S3RVER": (SECRET,
                                                                 None)}))
        self.cli = awsenv.AwsCli(self.tmp, self.s3.url)
        self.q = self.queue()

    def start(self, extra="", env=None, parallel=3, part=5 * MiB):
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\n%s\n[aws]\ns3_part_size = %d\ns3_parallel = %d\n'
                           % (DOUBLES, extra, part, parallel), env=env)

    def opts(self, **kw):
        o = {"region": "us-east-1", "bucket": self.bucket, "key": "job-key",
             "endpoint": self.proxy.url, "accessKeyID": "S3RVER",
             "secretAccessKey": SECRET, "sessionToken": "",
             "ca_bundle": "", "skip_ssl_verification": False}
        o.update(kw)
        return o

    def run_job(self, options, size, timeout=120):
        args, fname = build_args(options, size)
        jid = self.q.enqueue("osbuild", args)
        self.q.wait(jid, timeout)
        return self.q.result(jid), fname

    def test_multipart_upload_presigned_and_crosscheck(self):
        w = self.start()
        size = 12 * MiB + 12345
        res, fname = self.run_job(self.opts(), size)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        url = res["target_results"][0]["options"]["url"]
        self.assertIn("/%s/job-key-%s?" % (self.bucket, fname), url)
        self.assertIn("X-Amz-Expires=604800", url)
        # Every request the worker made had a valid signature.
        self.assertEqual(self.proxy.rejected, [])
        self.assertEqual(self.proxy.count("CreateMultipartUpload", 200), 1)
        self.assertEqual(self.proxy.count("UploadPart", 200), 3)
        self.assertEqual(self.proxy.count("CompleteMultipartUpload", 200), 1)
        # The presigned URL works (its signature checked by the proxy).
        with urllib.request.urlopen(url, timeout=60) as r:
            got = hashlib.sha256(r.read()).hexdigest()
        self.assertEqual(self.proxy.rejected, [])
        want = awsenv.double_export(size)
        self.assertEqual(got, want)
        if self.cli.available():
            head = self.cli.head(self.bucket, "job-key-" + fname)
            self.assertEqual(head["ContentLength"], size)
            self.assertEqual(self.cli.sha256(self.bucket, "job-key-" + fname),
                             want)
        self.assertNotIn(SECRET + "\n", w.log())
        self.assertNotIn("X-Amz-Signature", w.log())

    def test_upload_progress_reaches_the_server(self):
        """Through a slow uplink (1.2 MB/s, one part at a time: some 7 s)
        the queue sees the multipart upload move: "uploading KEY to
        org.osbuild.aws.s3" with bytes done of the size, partway once the
        5 s window has passed, whole at the end."""
        slow = self.keep(FaultProxy(self.proxy.port, rate=1200000))
        self.start(parallel=1)
        size = 6 * MiB
        args, fname = build_args(self.opts(endpoint="http://" +
                                           slow.address), size)
        jid = self.q.enqueue("osbuild", args)
        seen = self.q.watch_progress(jid, 120)
        res = self.q.result(jid)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(self.proxy.count("UploadPart", 200), 2)
        self.assert_upload_progress(seen, "org.osbuild.aws.s3",
                                    "job-key-" + fname, size)
        self.assertEqual(self.proxy.rejected, [])

    def test_single_put_progress_reaches_the_server(self):
        """Below the multipart threshold the object goes up in one PUT,
        and that PUT says how far it is too: in the log and to the queue,
        partway once the 5 s window has passed (sent from inside the
        transfer), whole at the end. Through a slow uplink (1 MB/s: some
        10 s); the bytes are those handed to the socket, and loopback
        buffers up to 4 MiB at once, so the export is larger than that by
        more than 5 s of the rate."""
        slow = self.keep(FaultProxy(self.proxy.port, rate=1000000))
        w = self.start(part=16 * MiB)
        size = 10 * MiB
        args, fname = build_args(self.opts(endpoint="http://" +
                                           slow.address), size)
        jid = self.q.enqueue("osbuild", args)
        seen = self.q.watch_progress(jid, 120)
        res = self.q.result(jid)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(self.proxy.count("PutObject", 200), 1)
        self.assertEqual(self.proxy.count("UploadPart"), 0)
        self.assert_upload_progress(seen, "org.osbuild.aws.s3",
                                    "job-key-" + fname, size)
        self.assertRegex(w.log(), r"info org\.osbuild\.aws\.s3: job-key-"
                         r"\S+: \d+ of %d bytes \(\d+%%\), [0-9.]+ MB/s "
                         r"bytes=\d+" % size)
        self.assertEqual(self.proxy.rejected, [])

    def test_slowdown_is_retried(self):
        """SlowDown on parts is retried after a backoff, and counted in the
        metrics under the target, every target's series there from the
        start (one label set: target and wait)."""
        self.proxy.inject("UploadPart", 503, "SlowDown", count=2)
        self.proxy.inject("CreateMultipartUpload", 500, "InternalError")
        port = harness.free_port()
        w = self.start('metrics_listen = "127.0.0.1:%d"' % port)
        res, fname = self.run_job(self.opts(), 11 * MiB)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(self.proxy.count("UploadPart", 503), 2)
        self.assertIn("SlowDown", w.log())
        body = self.scrape(port)
        t = 'target="org.osbuild.aws.s3"'
        self.assertIn('ib_worker_upload_retries_total{%s,wait="backoff"} 2\n'
                      % t, body)
        self.assertIn('ib_worker_upload_retries_total{%s,wait="retry_after"}'
                      ' 0\n' % t, body)
        self.assertRegex(body, r'ib_worker_upload_retry_wait_seconds_total'
                         r'\{%s\} (0\.0*[1-9]|[1-9])' % t)
        self.assertIn('ib_worker_upload_retries_total{target="org.osbuild.'
                      'azure.image",wait="retry_after"} 0\n', body)
        self.assertEqual(self.cli.sha256(self.bucket, "job-key-" + fname)
                         if self.cli.available() else
                         awsenv.double_export(11 * MiB),
                         awsenv.double_export(11 * MiB))

    def test_lasting_part_failure_aborts_the_upload(self):
        self.proxy.inject("UploadPart", 500, "InternalError", count=100)
        self.start()
        res, fname = self.run_job(self.opts(), 11 * MiB)
        self.assertFalse(res.get("success"))
        self.assertEqual(res["job_error"]["id"], 28)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("InternalError", terr["reason"])
        self.assertEqual(self.proxy.count("AbortMultipartUpload"), 1)
        self.assertEqual(self.proxy.count("CompleteMultipartUpload"), 0)

    def test_wrong_credentials(self):
        w = self.start()
        res, _ = self.run_job(self.opts(secretAccessKey="Wr0ngSecretValue"),
                              1000)
        self.assertEqual(res["job_error"]["id"], 28)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("SignatureDoesNotMatch", terr["reason"])
        res, _ = self.run_job(self.opts(accessKeyID="NOSUCHKEY"), 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertIn("InvalidAccessKeyId", terr["reason"])
        self.assertNotIn("Wr0ngSecretValue", w.log())
        self.assertNotIn("Wr0ngSecretValue", json.dumps(res))
        self.assertTrue(w.alive())

    def test_missing_bucket_and_bad_key(self):
        self.start()
        res, _ = self.run_job(self.opts(bucket="no-such-bucket"), 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("NoSuchBucket", terr["reason"])
        res, _ = self.run_job(self.opts(key="../../etc"), 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 2)     # the reference's: target config

    def test_failed_result_as_the_composer_reads_it(self):
        """A failed aws.s3 result carries "options": null as the
        reference's: without the key the composer's GET /composes/ID is a
        500 (10001, interface conversion) on both generations. No bucket
        anywhere is the worker's configuration at fault: 17."""
        for gen in ("2024", "2026"):
            d = os.path.join(self.tmp, gen)
            os.mkdir(d)
            q = self.keep(harness.Queue(d, "--generation", gen))
            self.worker("http://" + q.address,
                        '[worker]\nosbuild = "%s/osbuild"\n' % DOUBLES,
                        name="w" + gen)
            args, _ = build_args(self.opts(bucket="", endpoint="",
                                           region="us-east-1"), 1000)
            jid = q.enqueue("osbuild", args)
            q.wait(jid, 60)
            res = q.result(jid)
            tr = res["target_results"][0]
            self.assertEqual(tr["target_error"]["id"], 17, tr)
            self.assertIn("options", tr)
            self.assertIsNone(tr["options"])
            self.assertEqual(res["job_error"]["details"][0]["details"],
                             "org.osbuild.aws.s3")
            self.assertEqual(q.admin("GET", "composes/" + jid)["state"],
                             "failure")

    def test_generic_s3_fallbacks_and_session_token(self):
        self.proxy.secrets = {"S3RVER": (SECRET, "SessTok123")}
        creds = os.path.join(self.tmp, "s3creds")
        with open(creds, "w") as f:
            f.write("[default]\naws_access_key_id = S3RVER\n"
                    "aws_secret_access_key = %s\n"
                    "aws_session_token = SessTok123\n" % SECRET)
        w = self.start('[generic_s3]\nendpoint = "%s"\nregion = "us-east-1"'
                       '\nbucket = "%s"\ncredentials = "%s"\n'
                       % (self.proxy.url, self.bucket, creds))
        res, fname = self.run_job({"region": "", "bucket": "", "key": "fb",
                                   "endpoint": "", "accessKeyID": "",
                                   "secretAccessKey": "", "public": True},
                                  3000)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertEqual(self.proxy.rejected, [])
        url = res["target_results"][0]["options"]["url"]
        self.assertEqual(url, "%s/%s/fb-%s" % (self.proxy.url, self.bucket,
                                                fname))
        put = [h for op, h in self.proxy.seen_headers if op == "PutObject"]
        self.assertEqual(put[0].get("x-amz-acl"), "public-read")
        self.assertEqual(put[0].get("x-amz-security-token"), "SessTok123")
        self.assertNotIn("SessTok123", w.log())


if __name__ == "__main__":
    harness.main()
