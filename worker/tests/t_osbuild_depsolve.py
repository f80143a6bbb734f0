#!/usr/bin/python3
"""The osbuild and depsolve kinds end to end: the worker binary against the
project's queue, with the osbuild and depsolver test doubles (the real ones
cannot run here). A build whose worker.server target leaves the artifact in
the queue, progress updates, cancellation and drain mid-build (nothing of
osbuild left running, output removed), a failed build, and a depsolve."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
from jobs import fixture  # noqa: E402
from jobs import worker_server_args as build_args  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

DOUBLES = harness.DOUBLES


def osbuild_procs(marker):
    """PIDs of processes whose command line mentions marker."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and "t_osbuild" not in cmd:
            out.append(int(pid))
    return out


class Build(harness.TestCase):

    def config(self, extra=""):
        return ('dnf-json = "%s/depsolver"\n[worker]\nosbuild = "%s/osbuild"\n'
                'cancel_grace = 2\n%s' % (DOUBLES, DOUBLES, extra))

    def output_empty(self, w):
        out = os.path.join(w.cache, "output")
        return not os.path.isdir(out) or os.listdir(out) == []

    def test_build_upload_and_progress(self):
        q = self.queue()
        port = harness.free_port()
        w = self.worker("http://" + q.address, self.config(
            'metrics_listen = "127.0.0.1:%d"\n' % port))
        size = 3 * 1024 * 1024 + 17
        jid = q.enqueue("osbuild", build_args(double={
            "size": size, "sleep": 0.5}))
        seen = q.watch_progress(jid, 90)
        res = q.result(jid)
        self.assertTrue(res["success"], json.dumps(res)[:2000])
        self.assertNotIn("job_error", res)
        self.assertEqual(res["upload_status"], "success")
        self.assertEqual(res["osbuild_version"], "129")
        self.assertTrue(res["osbuild_output"]["success"])
        tr = res["target_results"][0]
        self.assertEqual(tr["name"], "org.osbuild.worker.server")
        self.assertEqual(tr["options"]["artifact_relative_path"], "disk.qcow2")
        self.assertEqual(tr["osbuild_artifact"]["export_name"], "qcow2")
        # The artifact is in the queue, byte for byte.
        dest = os.path.join(self.tmp, "got.qcow2")
        subprocess.run([harness.QUEUE, "--url", q.url, "artifact", jid,
                        "disk.qcow2", "-o", dest], check=True, timeout=60)
        self.assertEqual(os.path.getsize(dest), size)
        with open(dest, "rb") as f:
            self.assertEqual(f.read(15), b"osbuild-double\n")
        # Progress went out while it built (0.5 s a stage: over the 5 s
        # between two progress updates).
        self.assertIsNotNone(q.show(jid).get("partial"), q.show(jid))
        # The stage step within its pipeline, as the 2026 composer reads
        # the partial back (its JobProgress keeps only "sub_progress").
        builds = [p for p in seen if "sub_progress" in p]
        self.assertNotEqual(builds, [], seen)
        self.assertRegex(builds[-1]["sub_progress"]["message"],
                         r"^pipeline: ")
        self.assertGreater(builds[-1]["sub_progress"]["total"], 0)
        # Then the artifact's upload, whole at the end.
        self.assertEqual(q.show(jid)["progress"], {
            "message": "uploading disk.qcow2 to org.osbuild.worker.server",
            "done": size, "total": size})
        log = w.log()
        # Stages are debug; info hears of it per pipeline.
        self.assertRegex(log, r"osbuild: pipeline \S+")
        self.assertNotRegex(log, r" info osbuild: stage org\.osbuild")
        self.assertIn("job_id=" + jid, log)
        self.assertTrue(self.output_empty(w))
        # The upload counted under its target, byte for byte.
        body = urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
        self.assertIn('ib_worker_upload_bytes_total{target='
                      '"org.osbuild.worker.server"} %d\n' % size, body)
        self.assertIn('ib_worker_uploads_total{target="org.osbuild.worker.'
                      'server",outcome="success"} 1\n', body)
        self.assertIn('ib_worker_job_duration_seconds_count{type="osbuild"} '
                      '1\n', body)
        self.assertRegex(body, r"\nib_worker_cache_bytes [1-9]")

    def test_held_progress_reaches_the_server(self):
        """Records that come within 5 s of the last progress update are
        held, not dropped: in a long last stage the server sees that stage
        once the window ends, not the progress of seconds before; the log
        and STATUS= say where the build is."""
        import socket
        q = self.queue()
        sock_path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        s.settimeout(0.5)
        self.addCleanup(s.close)
        msgs = []

        def listen():
            while True:
                try:
                    msgs.append(s.recv(4096).decode())
                except socket.timeout:
                    continue
                except OSError:
                    return
        import threading
        threading.Thread(target=listen, daemon=True).start()
        w = self.worker("http://" + q.address, self.config(),
                        env={"NOTIFY_SOCKET": sock_path})
        args = build_args(double={"hold": 11})
        pipes = args["manifest"]["pipelines"]
        last = pipes[-1]
        jid = q.enqueue("osbuild", args)
        w.wait_log(r"osbuild: starting", 30)
        started = time.monotonic()

        def at_last_stage():
            prog = q.show(jid).get("progress") or {}
            sub = prog.get("sub_progress") or {}
            return (sub.get("message") == "pipeline: " + last["name"] and
                    sub.get("done") == len(last["stages"]) - 1)
        try:
            harness.wait_until(at_last_stage, 8, "the last stage's "
                               "progress", step=0.25)
        except AssertionError:
            raise AssertionError("progress: %s\nlog:\n%s" % (
                q.show(jid).get("progress"), w.log()[-3000:]))
        # Within the window plus a tick, while osbuild still holds.
        self.assertLess(time.monotonic() - started, 8.5)
        self.assertEqual(q.show(jid)["state"], "running", q.show(jid))
        q.wait(jid, 60)
        self.assertTrue(q.result(jid)["success"])
        self.assertIn("STATUS=building: pipeline %s %d/%d, stage %d/%d" % (
            last["name"], len(pipes), len(pipes), len(last["stages"]),
            len(last["stages"])), msgs)
        # A long stage is not silent at info level.
        self.assertRegex(w.log(), r"info osbuild: pipeline %s %d/%d, stage "
                         r"\S+ %d/%d, \d+ s in it" % (
                             last["name"], len(pipes), len(pipes),
                             len(last["stages"]), len(last["stages"])))

    def test_last_progress_goes_out_before_the_upload(self):
        """A build shorter than the 5 s between updates: the progress it
        ended with reaches the server before the upload, not the first
        record's. The artifact goes through a slow uplink (3 MB at 1 MB/s)
        so that the build's last word stays there while it goes out: the
        upload's own progress keeps the job's 5 s window."""
        q = self.queue()
        slow = self.keep(FaultProxy(q.port, rate=1000000))
        self.worker("http://" + slow.address, self.config())
        args = build_args(double={"size": 3000000})
        pipes = args["manifest"]["pipelines"]
        jid = q.enqueue("osbuild", args)
        seen = q.watch_progress(jid, 60)
        builds = [p for p in seen if "sub_progress" in p]
        self.assertNotEqual(builds, [], seen)
        prog = builds[-1]
        self.assertEqual((prog["done"], prog["total"]),
                         (len(pipes), len(pipes)), seen)
        self.assertEqual(prog["sub_progress"]["message"],
                         "pipeline: " + pipes[-1]["name"])
        self.assertEqual(seen[-1]["done"], 3000000, seen)

    def test_2024_server_reads_the_result(self):
        """A 2024 composer cannot decode worker.server options: the result
        must come without them and be taken (no 500, no lost build)."""
        q = self.queue("--generation", "2024")
        w = self.worker("http://" + q.address, self.config())
        jid = q.enqueue("osbuild", build_args(double={"size": 1000}))
        q.wait(jid, 60)
        res = q.result(jid)
        self.assertTrue(res["success"], json.dumps(res)[:2000])
        tr = res["target_results"][0]
        self.assertNotIn("options", tr)
        w.wait_log(r"result delivered", 10)
        self.assertNotIn("1004", w.log())

    def finish_as_worker(self, q, jtype, result):
        """Takes the one queued job of jtype over the worker API and
        finishes it with result (a manifest job, as the composer would)."""
        def call(method, path, body):
            req = urllib.request.Request(
                q.url + "/api/worker/v1" + path, method=method,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"null")
        wid = call("POST", "/workers", {"arch": "x86_64"})["worker_id"]
        job = call("POST", "/jobs", {"types": [jtype], "arch": "x86_64",
                                     "worker_id": wid})
        call("PATCH", "/jobs/" + job["location"].rsplit("/", 1)[1],
             {"result": result})

    def test_2026_pipeline_names_from_the_manifest_result(self):
        """The 2026 cloud API gives pipeline_names in the manifest job's
        info, not in the args; the result must carry them, or its
        /composes/ID/metadata is a 500 (10001)."""
        q = self.queue()
        args = build_args(double={"size": 1000})
        manifest = args.pop("manifest")
        names = args.pop("pipeline_names")
        dep = q.enqueue("manifest-by-test", {})
        jid = q.enqueue("osbuild", args, depends=[dep])
        self.finish_as_worker(q, "manifest-by-test", {
            "data": manifest, "error": "",
            "info": {"osbuild_composer_version": "test",
                     "pipeline_names": names}})
        self.worker("http://" + q.address, self.config())
        q.wait(jid, 60)
        res = q.result(jid)
        self.assertTrue(res["success"], json.dumps(res)[:2000])
        self.assertEqual(res["pipeline_names"], names)
        q.admin("GET", "composes/%s/metadata" % jid)
        q.admin("GET", "composes/%s" % jid)

    def test_failed_worker_server_result_per_generation(self):
        """A failed worker.server target: 2026 reads its options in the
        compose status (the reference sends them from the start), 2024
        knows none (1004 if sent)."""
        for gen in ("2024", "2026"):
            d = os.path.join(self.tmp, gen)
            os.mkdir(d)
            q = self.keep(harness.Queue(d, "--generation", gen))
            self.worker("http://" + q.address, self.config(), name="w" + gen)
            jid = q.enqueue("osbuild", build_args(double={
                "size": 100, "mode": "noexport"}))
            q.wait(jid, 60)
            res = q.result(jid)
            tr = res["target_results"][0]
            self.assertEqual(tr["target_error"]["id"], 2, tr)
            if gen == "2026":
                self.assertIn("artifact_relative_path", tr["options"])
            else:
                self.assertNotIn("options", tr)
            self.assertEqual(q.admin("GET", "composes/" + jid)["state"],
                             "failure")

    def test_failed_build(self):
        q = self.queue()
        w = self.worker("http://" + q.address, self.config())
        jid = q.enqueue("osbuild", build_args(double={"mode": "fail"}))
        q.wait(jid, 60)
        res = q.result(jid)
        self.assertFalse(res["success"])
        self.assertEqual(res["job_error"]["id"], 10)
        self.assertIn("in stage", res["job_error"]["reason"])
        self.assertEqual(res["osbuild_output"]["type"], "error")
        self.assertTrue(self.output_empty(w))
        self.assertTrue(w.alive())

    def test_cancel_mid_build(self):
        q = self.queue()
        w = self.worker("http://" + q.address,
                        self.config("heartbeat_interval = 1\n"))
        marker = os.path.join(w.cache, "osbuild-store")
        jid = q.enqueue("osbuild", build_args(double={"mode": "hang"}))
        harness.wait_until(lambda: osbuild_procs(marker), 30,
                           "osbuild to start")
        q.cancel(jid)
        harness.wait_until(lambda: not osbuild_procs(marker), 20,
                           "osbuild and its children to be gone")
        harness.wait_until(lambda: self.output_empty(w), 10,
                           "the output directory to be removed")
        self.assertTrue(w.alive())
        # And the worker takes the next job.
        jid2 = q.enqueue("osbuild", build_args(double={"size": 1000}))
        q.wait(jid2, 60)
        self.assertTrue(q.result(jid2)["success"])

    def test_cancel_learned_from_a_refused_progress_update(self):
        # The 2026 composer answers a partial update for a canceled job
        # with a 500 (1010); the worker asks the job's status then, and
        # stops the build at once rather than at its next heartbeat (a
        # minute here): real composer, 15 s heartbeats, osbuild ran on.
        q = self.queue("--generation", "2026")
        w = self.worker("http://" + q.address,
                        self.config("heartbeat_interval = 60\n"))
        marker = os.path.join(w.cache, "osbuild-store")
        jid = q.enqueue("osbuild", build_args(double={"sleep": 1}))
        harness.wait_until(lambda: osbuild_procs(marker), 30,
                           "osbuild to start")
        harness.wait_until(lambda: q.show(jid).get("partial"), 10,
                           "a first progress update")
        q.cancel(jid)
        t0 = time.monotonic()
        harness.wait_until(lambda: not osbuild_procs(marker), 30,
                           "osbuild and its children to be gone")
        self.assertLess(time.monotonic() - t0, 9, w.log()[-3000:])
        w.wait_log(r"job stopped after", 10)
        self.assertIn("the server canceled it", w.log())

    def test_drain_mid_build(self):
        q = self.queue()
        w = self.worker("http://" + q.address, self.config())
        marker = os.path.join(w.cache, "osbuild-store")
        jid = q.enqueue("osbuild", build_args(double={"sleep": 0.5}))
        harness.wait_until(lambda: osbuild_procs(marker), 30,
                           "osbuild to start")
        w.signal(signal.SIGTERM)
        # The job finishes and is reported, then the worker leaves.
        self.assertEqual(w.wait_exit(90), 0)
        job = q.wait(jid, 10)
        self.assertTrue(q.result(jid)["success"], job)
        self.assertFalse(osbuild_procs(marker))
        self.assertTrue(self.output_empty(w))

    def test_depsolve(self):
        q = self.queue()
        self.worker("http://" + q.address, self.config())
        args = fixture("composer-v105-requestjob-depsolve-response.json")["args"]
        jid = q.enqueue("depsolve", args)
        q.wait(jid, 60)
        res = q.result(jid)
        self.assertNotIn("job_error", res)
        self.assertEqual(res["error"], "")
        names = {p["name"] for p in res["package_specs"]["os"]}
        self.assertIn("kernel-core", names)
        self.assertEqual(len(res["transactions"]["os"][0]),
                         len(res["package_specs"]["os"]))
        bad = dict(args)
        bad["grouped_package_sets"] = {"os": [{
            "Include": ["no-such-package"], "Repositories":
            args["grouped_package_sets"]["os"][0]["Repositories"]}]}
        jid = q.enqueue("depsolve", bad)
        q.wait(jid, 60)
        self.assertEqual(q.result(jid)["job_error"]["id"], 21)


if __name__ == "__main__":
    harness.main()
