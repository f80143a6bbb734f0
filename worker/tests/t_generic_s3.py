#!/usr/bin/python3
"""[generic_s3] against the real s3rver serving HTTPS with a certificate
of the test's own CA: every key of osbuild-worker.toml.example's table
honoured (credentials, endpoint, region, bucket, ca_bundle,
skip_ssl_verification) for the composer's aws.s3 target without endpoint
and region, as the reference decides: a target with a region only is AWS
and never goes to the [generic_s3] server; a target naming its endpoint
uses its own TLS settings, not the table's; an incomplete table or target
is the configuration's fault (17). The object is fetched back through the
result's presigned URL over verified TLS."""

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import awsenv  # noqa: E402
import harness  # noqa: E402
import jobs  # noqa: E402
import node  # noqa: E402
from net import free_port, stop_process, wait_listening  # noqa: E402

DOUBLES = harness.DOUBLES
BUCKET = "gbkt"


class TlsS3rver:
    """s3rver on 127.0.0.1 over HTTPS (its --key/--cert) with a
    self-signed certificate for IP 127.0.0.1, which is its own CA."""

    def __init__(self, tmp):
        nodebin = node.ensure(awsenv.S3RVER, "s3rver")
        self.cert = os.path.join(tmp, "s3.crt")
        key = os.path.join(tmp, "s3.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", self.cert, "-days",
                        "2", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        data = os.path.join(tmp, "s3rver-data")
        os.makedirs(data)
        self.port = free_port()
        self.log = open(os.path.join(tmp, "s3rver.log"), "ab")
        self.proc = subprocess.Popen(
            [nodebin, awsenv.S3RVER, "-d", data, "-a", "127.0.0.1", "-p",
             str(self.port), "-s", "--key", key, "--cert", self.cert,
             "--configure-bucket", BUCKET], stdout=self.log,
            stderr=subprocess.STDOUT)
        self.url = "https://127.0.0.1:%d" % self.port
        if not wait_listening(self.port, self.proc, timeout=60):
            self.stop()
            raise AssertionError("s3rver did not start")

    def fetch(self, url):
        ctx = ssl.create_default_context(cafile=self.cert)
        with urllib.request.urlopen(url, context=ctx, timeout=30) as r:
            return r.read()

    def keys(self):
        body = self.fetch("%s/%s" % (self.url, BUCKET)).decode()
        return [k.split("</Key>")[0] for k in body.split("<Key>")[1:]]

    def stop(self):
        stop_process(self.proc)


def s3_target(key, **kw):
    o = {"region": "", "endpoint": "", "bucket": "", "key": key,
         "accessKeyID": "", "secretAccessKey": ""}
    o.update(kw)
    return jobs.target("org.osbuild.aws.s3", o, "img.qcow2",
                       ("qcow2", "disk.qcow2"),
                       "0c1a2b3c-0000-4000-8000-0000000000e3")


class GenericS3(harness.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._s3tmp = tempfile.mkdtemp(prefix="ibt-gs3-")
        cls.s3 = TlsS3rver(cls._s3tmp)

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()
        shutil.rmtree(cls._s3tmp, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.creds = os.path.join(self.tmp, "s3-creds")
        with open(self.creds, "w") as f:
            f.write("[default]\naws_access_key_id = S3RVER\n"
                    "aws_secret_access_key = S3RVER\n")

    def table(self, **kw):
        t = {"credentials": self.creds, "endpoint": self.s3.url,
             "region": "us-east-1", "bucket": BUCKET}
        t.update(kw)
        return "[generic_s3]\n" + "".join(
            "%s = %s\n" % (k, json.dumps(v)) for k, v in t.items()
            if v is not None)

    def run_job(self, config, targets, size=3000):
        """One job on a queue and worker of its own (own state folder:
        queues sharing one would hand the job to an earlier worker)."""
        self.runs = getattr(self, "runs", 0) + 1
        d = os.path.join(self.tmp, "run%d" % self.runs)
        os.mkdir(d)
        q = self.keep(harness.Queue(d))
        # The log in self.tmp, where the harness looks for sanitizer reports.
        w = self.keep(harness.Worker(
            self.tmp, "http://" + q.address, '[worker]\nosbuild = '
            '"%s/osbuild"\nbackoff_max = 1\n%s' % (DOUBLES, config),
            name="worker%d" % self.runs))
        jid = q.enqueue("osbuild", jobs.osbuild_args(
            {"size": size}, ("qcow2", "disk.qcow2"), targets))
        q.wait(jid, 120)
        w.stop()
        return q.result(jid)

    def check_object(self, tr, key, size):
        url = tr["options"]["url"]
        self.assertTrue(url.startswith("%s/%s/%s-disk.qcow2?" %
                                       (self.s3.url, BUCKET, key)), url)
        self.assertEqual(hashlib.sha256(self.s3.fetch(url)).hexdigest(),
                         awsenv.double_export(size))

    def test_table_with_ca_bundle_then_skip_verification(self):
        # The composer's target: no endpoint, region or bucket of its own
        # (one it carries anyway is not the table's: the table wins).
        res = self.run_job(self.table(ca_bundle=self.s3.cert),
                           [s3_target("ca", bucket="not-this-one")])
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.check_object(res["target_results"][0], "ca", 3000)
        res = self.run_job(self.table(skip_ssl_verification=True),
                           [s3_target("skip")], size=5000)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.check_object(res["target_results"][0], "skip", 5000)
        # Neither: the server's certificate is not trusted.
        res = self.run_job(self.table(), [s3_target("none")])
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11, terr)
        self.assertRegex(terr["reason"], "(?i)certificate|SSL")
        self.assertNotIn("none-disk.qcow2", self.s3.keys())

    def test_target_endpoint_and_aws_keep_their_own_settings(self):
        """The table's skip_ssl_verification does not reach an endpoint
        the job names; its ca_bundle does. A region-only target is AWS:
        [aws] s3_endpoint (closed here), never the [generic_s3] server."""
        closed = free_port()
        cfg = self.table(skip_ssl_verification=True) + (
            '[aws]\nbucket = "aws-bucket"\ncredentials = "%s"\n'
            's3_endpoint = "http://127.0.0.1:%d"\n' % (self.creds, closed))
        named = dict(endpoint=self.s3.url, region="us-east-1",
                     bucket=BUCKET)
        res = self.run_job(cfg, [
            s3_target("named", **named),
            s3_target("named-ca", ca_bundle=self.s3.cert, **named),
            s3_target("aws", region="us-east-1"),
        ])
        trs = res["target_results"]
        self.assertEqual(trs[0]["target_error"]["id"], 11, trs[0])
        self.assertRegex(trs[0]["target_error"]["reason"],
                         "(?i)certificate|SSL")
        self.assertNotIn("target_error", trs[1], trs[1])
        self.check_object(trs[1], "named-ca", 3000)
        self.assertEqual(trs[2]["target_error"]["id"], 11, trs[2])
        self.assertIn(str(closed), trs[2]["target_error"]["reason"])
        self.assertNotIn("aws-disk.qcow2", self.s3.keys())

    def test_incomplete_configuration_is_17(self):
        res = self.run_job(self.table(region=None), [
            s3_target("a"),
            s3_target("b", endpoint=self.s3.url),
        ])
        errs = [t["target_error"] for t in res["target_results"]]
        self.assertEqual([e["id"] for e in errs], [17, 17])
        self.assertIn("no default region for S3 was set", errs[0]["reason"])
        self.assertIn("s3 server configuration is incomplete",
                      errs[1]["reason"])
        res = self.run_job("", [s3_target("c", endpoint=self.s3.url,
                                          region="us-east-1")])
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 17)
        self.assertIn("no credentials found", terr["reason"])


if __name__ == "__main__":
    harness.main()
