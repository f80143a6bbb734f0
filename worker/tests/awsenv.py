"""Real S3 for the upload tests: s3rver (npm, installed from
worker/tests/node/package-lock.json with `npm ci` when missing), started
on loopback with a bucket, plus Debian's awscli as a second client to
cross-check what the worker stored. The EC2/IMDS doubles and the
signature-checking proxy are in doubles/."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")
S3RVER = os.path.join(NODE_DIR, "node_modules", "s3rver", "bin", "s3rver.js")
AWS = "/usr/bin/aws"
sys.path.insert(0, os.path.join(HERE, "doubles"))


def skip(why):
    print("skipped: " + why)
    raise SystemExit(77)


def ensure_s3rver():
    node = shutil.which("node")
    if node is None:
        skip("node is not installed (ci/deps.sh all)")
    if not os.path.exists(S3RVER):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                           cwd=NODE_DIR, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
        if r.returncode != 0 or not os.path.exists(S3RVER):
            skip("npm ci for s3rver failed: " +
                 r.stdout.decode(errors="replace")[-300:])
    return node


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3rver:
    """The real s3rver on 127.0.0.1 with the given buckets."""

    def __init__(self, tmp, buckets=("bkt",)):
        node = ensure_s3rver()
        self.dir = os.path.join(tmp, "s3rver-data")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        args = [node, S3RVER, "-d", self.dir, "-a", "127.0.0.1", "-p",
                str(self.port), "-s"]
        for b in buckets:
            args += ["--configure-bucket", b]
        self.log = open(os.path.join(tmp, "s3rver.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise AssertionError("s3rver did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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
