"""The npm packages the tests run for real (s3rver, azurite), installed
from worker/tests/node/package-lock.json with `npm ci` when missing."""

import os
import shutil
import subprocess

NODE_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "node")


def skip(why):
    """Ends the test script as skipped (ci/check.sh's exit code 77)."""
    print("skipped: " + why)
    raise SystemExit(77)


def ensure(script, what):
    """The node binary, once script (a path under NODE_DIR) exists; skips
    the test when node or the package cannot be had."""
    node = shutil.which("node")
    if node is None:
        skip("node is not installed (ci/deps.sh all)")
    if not os.path.exists(script):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                           cwd=NODE_DIR, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
        if r.returncode != 0 or not os.path.exists(script):
            skip("npm ci for %s failed: %s" %
                 (what, r.stdout.decode(errors="replace")[-300:]))
    return node
