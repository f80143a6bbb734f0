#!/usr/bin/python3
"""The alert rules of ops/ with Prometheus's own tool: they parse
(`promtool check rules`) and fire as meant on made-up series in the
worker's and the queue's shapes (`promtool test rules`, alerts-test.yml)."""

import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, "..", "ib-worker-alerts.yml")


class Rules(unittest.TestCase):

    def promtool(self, *args):
        r = subprocess.run(["promtool"] + list(args), cwd=HERE,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_check(self):
        self.assertIn("SUCCESS: 8 rules found", self.promtool(
            "check", "rules", RULES))

    def test_alerts_fire(self):
        self.promtool("test", "rules", "alerts-test.yml")


if __name__ == "__main__":
    if shutil.which("promtool") is None:
        print("skipped: promtool (Debian's prometheus) is not installed")
        sys.exit(77)
    unittest.main(verbosity=2)
