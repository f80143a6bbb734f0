#!/usr/bin/python3
"""The Grafana dashboard's queries on real data: a real Prometheus
(Debian's) scrapes the worker and the project's queue on loopback while
the worker runs builds (osbuild double), depsolves (depsolver double, one
of them failing) and file-resolve jobs; every query of
ops/ib-worker-dashboard.json is then asked of Prometheus's HTTP API and
must return data for the panels the workload exercises; gnuplot draws the
panels into a PNG (IB_DASHBOARD_PNG=path keeps it: ops/dashboard.png in
the README is made this way)."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "worker", "tests", "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import net  # noqa: E402
from jobs import fixture  # noqa: E402
from jobs import worker_server_args as build_args  # noqa: E402

DASHBOARD = os.path.join(HERE, "..", "ib-worker-dashboard.json")
DOUBLES = harness.DOUBLES
STEP = 2            # seconds between points of a query_range
RATE = "20s"        # for Grafana's $__rate_interval


class Prometheus:
    """Debian's prometheus on loopback, scraping every second."""

    def __init__(self, tmp, targets):
        self.port = net.free_port()
        conf = os.path.join(tmp, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "  evaluation_interval: 1s\nscrape_configs:\n")
            for job, addr in targets:
                f.write("  - job_name: %s\n    static_configs:\n"
                        "      - targets: ['%s']\n" % (job, addr))
        self.log = open(os.path.join(tmp, "prometheus.log"), "ab")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + conf,
             "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)
        if not net.wait_listening(self.port, self.proc, 60):
            raise AssertionError("prometheus did not listen")

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (
            self.port, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=30) as r:
            doc = json.loads(r.read())
        if doc.get("status") != "success":
            raise AssertionError("%s: %s" % (url, doc))
        return doc["data"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def plot(panels, out, tmp):
    """One gnuplot multiplot of every panel: [(title, [(legend, [(t, v)])])]."""
    script = ["set terminal pngcairo size 1600,%d font 'sans,9'" %
              (300 * ((len(panels) + 1) // 2)),
              "set output '%s'" % out,
              "set multiplot layout %d,2 title 'ib-worker fleet (a test run)'"
              % ((len(panels) + 1) // 2),
              "set xdata time", "set timefmt '%s'", "set format x '%H:%M:%S'",
              "set key top left", "set grid"]
    for i, (title, series) in enumerate(panels):
        script.append("set title %s" % json.dumps(title))
        plots = []
        for j, (legend, points) in enumerate(series):
            path = os.path.join(tmp, "p%d-%d.dat" % (i, j))
            with open(path, "w") as f:
                for t, v in points:
                    f.write("%d %s\n" % (t, v))
            plots.append("'%s' using 1:2 with lines lw 2 title %s" % (
                path, json.dumps(legend or " ")))
        if not plots:
            script.append("unset key")
            plots = ["NaN notitle"]
        script.append("plot " + ", ".join(plots))
        script.append("set key top left")
    script.append("unset multiplot")
    gp = os.path.join(tmp, "dashboard.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script) + "\n")
    subprocess.run(["gnuplot", gp], check=True, timeout=120)


def legend_of(fmt, metric):
    out = fmt
    for k, v in metric.items():
        out = out.replace("{{%s}}" % k, v)
    return out


class Dashboard(harness.TestCase):

    def test_queries_on_a_real_run(self):
        q = self.queue()
        wport = net.free_port()
        w = self.worker("http://" + q.address, (
            'dnf-json = "%s/depsolver"\n[worker]\nosbuild = "%s/osbuild"\n'
            'metrics_listen = "127.0.0.1:%d"\nrequest_timeout = 5\n' % (
                DOUBLES, DOUBLES, wport)))
        w.wait_log(r"registered as worker")
        prom = self.keep(Prometheus(self.tmp, [("ib-worker",
                                                 "127.0.0.1:%d" % wport),
                                                ("ib-queue", q.address)]))
        start = time.time()
        dep = fixture("composer-v105-requestjob-depsolve-response.json")[
            "args"]
        bad = json.loads(json.dumps(dep))
        bad["grouped_package_sets"] = {"os": [{
            "Include": ["no-such-package"], "Repositories":
            dep["grouped_package_sets"]["os"][0]["Repositories"]}]}
        jobs = []
        # A workload over about a minute: builds with stages, depsolves
        # (one failing), the queue filling up then draining.
        for i in range(4):
            jobs.append(q.enqueue("osbuild", build_args(double={
                "size": 3000000 + i, "sleep": 0.3})))
            jobs.append(q.enqueue("depsolve", dep))
            jobs.append(q.enqueue("depsolve", bad))
        for jid in jobs:
            q.wait(jid, 180)
        time.sleep(8)      # a few scrapes after the last job
        end = time.time()
        with open(DASHBOARD) as f:
            dash = json.load(f)
        panels = []
        empty = []
        for p in dash["panels"]:
            series = []
            for t in p["targets"]:
                expr = t["expr"].replace("$__rate_interval", RATE)
                data = prom.api("query_range", query=expr, start=start,
                                end=end, step=STEP)
                for r in data["result"]:
                    series.append((legend_of(t["legendFormat"], r["metric"]),
                                   [(int(float(ts)), v) for ts, v in
                                    r["values"] if v not in ("NaN",)]))
            if not any(pts for _, pts in series):
                empty.append(p["title"])
            panels.append((p["title"], series))
        # Every panel has data from this run.
        self.assertEqual(empty, [])
        byname = dict(panels)
        busy = [float(v) for _, pts in byname["Workers busy"]
                for _, v in pts]
        self.assertIn(1.0, busy)
        err = {lg: [float(v) for _, v in pts]
               for lg, pts in byname["Job error rate by type"]}
        self.assertGreater(max(err["depsolve"]), 0.2, err)
        self.assertEqual(max(err["osbuild"]), 0.0, err)
        out = os.environ.get("IB_DASHBOARD_PNG") or os.path.join(
            self.tmp, "dashboard.png")
        plot(panels, out, self.tmp)
        with open(out, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(out), 20000)


if __name__ == "__main__":
    for tool in ("prometheus", "gnuplot"):
        if shutil.which(tool) is None:
            print("skipped: %s is not installed" % tool)
            sys.exit(77)
    harness.main()
