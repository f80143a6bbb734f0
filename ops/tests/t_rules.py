#!/usr/bin/python3
"""The alert rules and the Grafana dashboard of ops/ with Prometheus's own
tool: the rules parse (`promtool check rules`) and fire as meant on
made-up series in the worker's and the queue's shapes (`promtool test
rules`, alerts-test.yml); every query of the dashboard parses (as a
recording rule) and names only series the worker or the queue exports
(the README's metric table, the queue's metrics code)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..", "..")
RULES = os.path.join(HERE, "..", "ib-worker-alerts.yml")
DASHBOARD = os.path.join(HERE, "..", "ib-worker-dashboard.json")


def known_series():
    """Metric names the README documents and the queue writes."""
    with open(os.path.join(TOP, "README.md")) as f:
        names = set(re.findall(r"^\| `([a-z_]+)` \| (?:gauge|counter|"
                               r"histogram) \|", f.read(), re.M))
    with open(os.path.join(TOP, "queue", "ibq_admin.py")) as f:
        names |= set(re.findall(r'family\("([a-z_]+)"', f.read()))
    return names


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

    def test_dashboard_queries(self):
        with open(DASHBOARD) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 10)
        known = known_series()
        self.assertIn("ib_worker_job_duration_seconds", known)
        self.assertIn("composer_ready_jobs", known)
        for e in exprs:
            for name in re.findall(r"\b((?:ib_worker|composer)_[a-z_]+)", e):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertIn(base, known, e)
        # Grafana's $__rate_interval is not PromQL: 5m in its place.
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, e in enumerate(exprs):
                f.write("      - record: dashboard:q%d\n        expr: %s\n"
                        % (i, json.dumps(e.replace("$__rate_interval",
                                                   "5m"))))
            f.flush()
            self.promtool("check", "rules", f.name)


if __name__ == "__main__":
    if shutil.which("promtool") is None:
        print("skipped: promtool (Debian's prometheus) is not installed")
        sys.exit(77)
    unittest.main(verbosity=2)
