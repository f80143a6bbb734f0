#!/usr/bin/python3
"""Job lifecycle against the local queue: the heartbeat during a long job,
cancellation, drain on SIGTERM, a second signal, and a worker that dies
mid-job (its job comes back and another worker completes it)."""

import calendar
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402


def ts(iso):
    base, frac = iso.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + \
        int(frac) / 1000.0


class Lifecycle(harness.TestCase):

    def test_heartbeat_cadence_during_a_long_job(self):
        # The cadence is heartbeat_interval (15 s by default, a setting so
        # that this test need not wait a minute).
        q = self.queue()
        files = self.keep(harness.FileServer({}))
        w = self.worker("http://" + q.address,
                        "[worker]\nheartbeat_interval = 2\n")
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/10"]})
        q.wait(jid, 40)
        self.assertTrue(q.result(jid)["success"])
        beats = [ts(b["ts"]) for b in q.show(jid)["heartbeats"]]
        # 10 s with a beat every 2 s: at least 4, never a gap near 4 s
        # (twice the interval).
        self.assertGreaterEqual(len(beats), 4, beats)
        gaps = [b - a for a, b in zip(beats, beats[1:])]
        self.assertLessEqual(max(gaps), 3.5, gaps)
        self.assertTrue(w.alive())

    def test_long_poll_held_longer_than_low_speed_time(self):
        # A real composer holds POST /jobs until a job exists; the worker
        # must wait quietly, not take the silence for a stalled transfer
        # (which t_composer_faults shows fails after low_speed_time plus about 6 s).
        q = self.queue()
        files = self.keep(harness.FileServer({"/a": b"a"}))
        w = self.worker("http://" + q.address, "[worker]\nrequest_timeout = 120\n"
                        "low_speed_time = 1\n")
        w.wait_log(r"registered as worker")
        time.sleep(12)
        t0 = time.monotonic()
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        w.wait_log(r"job accepted", 5)
        self.assertLess(time.monotonic() - t0, 2)
        q.wait(jid, 10)
        self.assertNotIn("warning", w.log())

    def test_cancel_stops_the_job_quickly(self):
        q = self.queue()
        files = self.keep(harness.FileServer({}))
        w = self.worker("http://" + q.address,
                        "[worker]\nheartbeat_interval = 2\n")
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/120"]})
        w.wait_log(r"job accepted")
        time.sleep(1)
        t0 = time.monotonic()
        q.cancel(jid)
        w.wait_log(r"job stopped after", 10)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("the server canceled it", w.log())
        # Back to polling: the next job runs.
        files.files["/a"] = b"a"
        j2 = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(j2, 10)
        self.assertTrue(q.result(j2)["success"])

    def canceled_before_its_heartbeat_told_the_worker(self, gen):
        # Canceled between two heartbeats, the job runs to its end; both
        # composer generations then answer the result with a 500 (1004,
        # "job was canceled" inside). That is no server failure to retry
        # for minutes (backoff up to 60 s, ten times), with the worker
        # taking no job: the job is canceled, the result dropped at once.
        q = self.queue("--generation", gen)
        files = self.keep(harness.FileServer({"/a": b"a"}))
        w = self.worker("http://" + q.address,
                        "[worker]\nheartbeat_interval = 60\n")
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/3"]})
        w.wait_log(r"job accepted")
        q.cancel(jid)
        w.wait_log(r"job finished after", 10)
        t0 = time.monotonic()
        j2 = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(j2, 10)
        self.assertTrue(q.result(j2)["success"])
        self.assertLess(time.monotonic() - t0, 5)
        self.assertRegex(w.log(), r"result dropped: the server canceled "
                         r"the job")
        self.assertEqual(q.show(jid)["state"], "canceled")

    def test_canceled_before_its_heartbeat_told_the_worker_2024(self):
        self.canceled_before_its_heartbeat_told_the_worker("2024")

    def test_canceled_before_its_heartbeat_told_the_worker_2026(self):
        self.canceled_before_its_heartbeat_told_the_worker("2026")

    def test_drain_finishes_the_job_and_exits_zero(self):
        q = self.queue()
        files = self.keep(harness.FileServer({}))
        w = self.worker("http://" + q.address)
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/4"]})
        w.wait_log(r"job accepted")
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait_exit(30), 0)
        self.assertEqual(q.show(jid)["state"], "success")
        self.assertIn("drained, exiting", w.log())
        # It took no new job while draining.
        j2 = q.enqueue("file-resolve", {"urls": [files.url + "/slow/1"]})
        time.sleep(1)
        self.assertEqual(q.show(j2)["state"], "pending")

    def test_drain_timeout_bounds_the_drain(self):
        q = self.queue()
        files = self.keep(harness.FileServer({}))
        w = self.worker("http://" + q.address,
                        "[worker]\ndrain_timeout = 2\n")
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/60"]})
        w.wait_log(r"job accepted")
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait_exit(15), 0)
        self.assertIn("drain_timeout reached", w.log())
        self.assertEqual(q.show(jid)["state"], "running")

    def test_second_signal_exits_without_reporting_and_job_is_requeued(self):
        q = self.queue("--heartbeat-timeout", "3", "--heartbeat-check", "1")
        files = self.keep(harness.FileServer({}))
        w1 = self.worker("http://" + q.address, name="w1")
        w1.wait_log(r"registered as worker")
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/5"]})
        w1.wait_log(r"job accepted")
        first = q.show(jid)["worker_id"]
        w1.signal(signal.SIGTERM)
        time.sleep(0.5)
        w1.signal(signal.SIGTERM)
        self.assertEqual(w1.wait_exit(20), 0)
        self.assertNotIn("result delivered", w1.log())
        self.assertNotEqual(q.show(jid)["state"], "success")
        # Another worker completes it after the heartbeat timeout.
        w2 = self.worker("http://" + q.address,
                         "[worker]\nheartbeat_interval = 1\n", name="w2")
        job = q.wait(jid, 40)
        self.assertEqual(job["state"], "success", job["result"])
        self.assertNotEqual(job["worker_id"], first)
        self.assertGreaterEqual(job["requeues"], 1)
        self.assertTrue(w2.alive())

    def test_sigquit_kills_the_job_at_once(self):
        q = self.queue()
        files = self.keep(harness.FileServer({}))
        w = self.worker("http://" + q.address)
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/60"]})
        w.wait_log(r"job accepted")
        t0 = time.monotonic()
        w.signal(signal.SIGQUIT)
        self.assertEqual(w.wait_exit(10), 0)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("must stop now", w.log())

    def test_worker_killed_mid_job_loses_nothing(self):
        q = self.queue("--heartbeat-timeout", "3", "--heartbeat-check", "1")
        files = self.keep(harness.FileServer({}))
        w1 = self.worker("http://" + q.address, name="w1")
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/slow/8"]})
        w1.wait_log(r"job accepted")
        w1.signal(signal.SIGKILL)
        w1.wait_exit(5)
        files.files["/fast"] = b"f"
        self.worker("http://" + q.address, "[worker]\nheartbeat_interval = 1\n",
                    name="w2")
        job = q.wait(jid, 60)
        self.assertEqual(job["state"], "success", job["result"])
        self.assertEqual(job["requeues"], 1)

    def test_sighup_reloads_a_valid_config_and_keeps_a_broken_one_out(self):
        q = self.queue("--request-job-timeout", "1")
        w = self.worker("http://" + q.address)
        w.wait_log(r"registered as worker")
        with open(w.conf, "a") as f:
            f.write('log_format = "json"\n')
        w.signal(signal.SIGHUP)
        w.wait_log(r'"msg":"configuration reloaded', 10)
        with open(w.conf, "a") as f:
            f.write("this is = = not toml\n")
        w.signal(signal.SIGHUP)
        w.wait_log(r"reload refused", 10)
        self.assertTrue(w.alive())
        files = self.keep(harness.FileServer({"/a": b"a"}))
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        q.wait(jid, 10)
        self.assertTrue(q.result(jid)["success"])


if __name__ == "__main__":
    harness.main()
