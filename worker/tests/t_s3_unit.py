#!/usr/bin/python3
"""Runs the S3 client's cmocka tests (build/tests/test_s3) against a real
s3rver on loopback: without a server they only run their offline part."""

import os
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import awsenv  # noqa: E402
import harness  # noqa: E402

BIN = os.path.join(harness.BUILD, "tests", "test_s3")


def main():
    if not os.access(BIN, os.X_OK):
        awsenv.skip("%s is not built (make unit)" % BIN)
    tmp = tempfile.mkdtemp(prefix="ibt-s3u-")
    srv = None
    try:
        srv = awsenv.S3rver(tmp, buckets=("bkt",))
        env = dict(os.environ, IB_S3_TEST_ENDPOINT=srv.url,
                   IB_S3_TEST_BUCKET="bkt")
        r = subprocess.run([BIN], env=env, timeout=300)
        if r.returncode != 0:
            print("test_s3 failed (%d)" % r.returncode)
        return 1 if r.returncode != 0 else 0
    finally:
        if srv:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
