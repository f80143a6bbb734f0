"""Real S3 for the upload tests: s3rver (npm, see node.py), started
on loopback with its buckets, plus Debian's awscli as a second client to
cross-check what the worker stored. The EC2/IMDS doubles and the
signature-checking proxy are in doubles/."""

import datetime
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

import node
import sigv4
from net import free_port, stop_process, wait_listening
from node import skip  # noqa: F401  (the tests' skip)

S3RVER = os.path.join(node.NODE_DIR, "node_modules", "s3rver", "bin",
                      "s3rver.js")
AWS = "/usr/bin/aws"


class S3rver:
    """The real s3rver on 127.0.0.1 with the given buckets."""

    def __init__(self, tmp, buckets=("bkt",)):
        nodebin = node.ensure(S3RVER, "s3rver")
        self.dir = os.path.join(tmp, "s3rver-data")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        args = [nodebin, S3RVER, "-d", self.dir, "-a", "127.0.0.1", "-p",
                str(self.port), "-s"]
        for b in buckets:
            args += ["--configure-bucket", b]
        self.log = open(os.path.join(tmp, "s3rver.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        if not wait_listening(self.port, self.proc, timeout=60):
            self.stop()
            raise AssertionError("s3rver did not start")

    def create_bucket(self, name):
        """A new bucket, made with a signed CreateBucket as a client would."""
        amz = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y%m%dT%H%M%SZ")
        path = "/" + name
        headers = [("host", "127.0.0.1:%d" % self.port),
                   ("x-amz-content-sha256", sigv4.EMPTY_SHA256),
                   ("x-amz-date", amz)]
        signed = [h for h, _ in headers]
        creq = sigv4.canonical_request("PUT", path, [], headers, signed,
                                       sigv4.EMPTY_SHA256, s3=True)
        sig = sigv4.signature("S3RVER", amz, "us-east-1", "s3", creq)
        req = urllib.request.Request(self.url + path, method="PUT",
                                     data=b"", headers=dict(headers))
        req.add_header("Authorization", "%s Credential=S3RVER/%s/us-east-1/"
                       "s3/aws4_request, SignedHeaders=%s, Signature=%s" % (
                           sigv4.ALGO, amz[:8], ";".join(signed), sig))
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
        return name

    def stop(self):
        stop_process(self.proc)


class OneS3rver:
    """Mixin for a harness.TestCase: one real s3rver for the whole class
    (cls.s3), started once; each test gets a bucket of its own
    (self.bucket), which keeps the tests apart."""

    _names = itertools.count(1)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._s3tmp = tempfile.mkdtemp(prefix="ibt-s3-")
        cls.s3 = S3rver(cls._s3tmp, buckets=())

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()
        shutil.rmtree(cls._s3tmp, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.bucket = self.s3.create_bucket("bkt-%d" % next(self._names))


class AwsCli:
    """Debian's awscli against s3rver (access key S3RVER)."""

    def __init__(self, tmp, endpoint):
        self.endpoint = endpoint
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="S3RVER",
                        AWS_SECRET_ACCESS_KEY="S3RVER",
                        AWS_DEFAULT_REGION="us-east-1",
                        AWS_CONFIG_FILE=os.path.join(tmp, "aws-config"),
                        AWS_SHARED_CREDENTIALS_FILE=os.path.join(tmp, "nope"),
                        AWS_EC2_METADATA_DISABLED="true")
        self.tmp = tmp

    def available(self):
        return os.access(AWS, os.X_OK)

    def run(self, *args, check=True):
        r = subprocess.run([AWS, "--endpoint-url", self.endpoint] +
                           list(args), env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=600)
        if check and r.returncode != 0:
            raise AssertionError("aws %s: %s" % (" ".join(args),
                                                 r.stderr.decode()[-500:]))
        return r

    def head(self, bucket, key):
        r = self.run("s3api", "head-object", "--bucket", bucket, "--key",
                     key, check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def sha256(self, bucket, key):
        out = os.path.join(self.tmp, "aws-get.bin")
        self.run("s3api", "get-object", "--bucket", bucket, "--key", key,
                 out)
        h = hashlib.sha256()
        with open(out, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        os.unlink(out)
        return h.hexdigest()

    def keys(self, bucket):
        r = self.run("s3api", "list-objects-v2", "--bucket", bucket)
        if not r.stdout.strip():
            return []
        return [o["Key"] for o in json.loads(r.stdout).get("Contents", [])]


def double_export(size):
    """The bytes the osbuild double writes for an export of size bytes."""
    chunk = (b"osbuild-double\n" * 70000)[:1 << 20]
    h = hashlib.sha256()
    left = size
    while left > 0:
        n = min(left, len(chunk))
        h.update(chunk[:n])
        left -= n
    return h.hexdigest()
