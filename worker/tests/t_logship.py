#!/usr/bin/python3
"""ib-logship against real journal files (written by systemd-journal-
remote from export-format entries, read through sd_journal from
IB_JOURNAL_DIR) and the CloudWatch Logs test double, which checks every
SigV4 signature and PutLogEvents' limits: only ib-* units are shipped,
from the current boot on; a restart resumes at the saved cursor with
nothing sent twice; throttling and 5xx lose nothing; big backlogs and big
events are split within the limits; a permanently refused batch is split
and skipped, not retried forever; SIGTERM ships what is left within its
bound; IMDSv2 gives credentials, region and stream; no secret is logged."""

import os
import signal
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import autoscaling  # noqa: E402
import cwlogs  # noqa: E402

LOGSHIP = os.path.join(harness.BUILD, "ib-logship")
JREMOTE = "/lib/systemd/systemd-journal-remote"
AK, SK, TOKEN = "AKIALOGSHIPDOUBLE001", "logship/double/secret", \
    "logship-session-token-0001"
GROUP = "/ib-worker/t"
OTHER_BOOT = "0123456789abcdef0123456789abcdef"


def this_boot():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip().replace("-", "")


def now_us():
    return int(time.time() * 1e6)


class Journal:
    """A directory of journal files; each write() adds one file."""

    def __init__(self, path):
        self.path = path
        self.n = 0
        self.mono = 1000
        self.boot = this_boot()
        os.makedirs(path, exist_ok=True)

    def write(self, entries):
        """entries: dicts of journal fields (str or bytes values);
        __REALTIME_TIMESTAMP defaults to now, _BOOT_ID to this boot."""
        out = bytearray()
        for e in entries:
            self.mono += 1
            e = dict(e)
            e.setdefault("__REALTIME_TIMESTAMP", str(now_us()))
            e.setdefault("__MONOTONIC_TIMESTAMP", str(self.mono))
            e.setdefault("_BOOT_ID", self.boot)
            for k, v in e.items():
                v = v.encode() if isinstance(v, str) else v
                if b"\n" in v or any(c < 0x20 for c in v):
                    out += k.encode() + b"\n" + struct.pack("<Q", len(v)) \
                        + v + b"\n"
                else:
                    out += k.encode() + b"=" + v + b"\n"
            out += b"\n"
        self.n += 1
        f = os.path.join(self.path, "t%03d.journal" % self.n)
        subprocess.run([JREMOTE, "--output=" + f, "-"], input=bytes(out),
                       check=True, capture_output=True, timeout=120)


def unit_entries(unit, n, prefix="line", **extra):
    return [dict({"_SYSTEMD_UNIT": unit, "_PID": "4242",
                  "MESSAGE": "%s %d" % (prefix, i)}, **extra)
            for i in range(n)]


class Logship(harness.TestCase):

    def setUp(self):
        super().setUp()
        if not os.access(JREMOTE, os.X_OK):
            self.skipTest("systemd-journal-remote is not installed")
        self.cw = self.keep(cwlogs.CloudWatchLogs({AK: (SK, TOKEN)}))
        self.journal = Journal(os.path.join(self.tmp, "journal"))
        self.state = os.path.join(self.tmp, "state", "logship.cursor")
        self.procs = []
        self.runs = 0

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        super().tearDown()

    def env(self, **kw):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("AWS_", "IB_"))}
        e.update(IB_LOG_GROUP=GROUP, IB_AWS_REGION="eu-test-1",
                 IB_LOGS_ENDPOINT=self.cw.url, IB_LOG_STREAM="i-test",
                 IB_LOGSHIP_STATE=self.state, IB_JOURNAL_DIR=self.journal.path,
                 IB_LOGSHIP_INTERVAL="1", IB_IMDS_ENDPOINT="http://127.0.0.1:9",
                 AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK,
                 AWS_SESSION_TOKEN=TOKEN)
        for k, v in kw.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return e

    def start(self, **kw):
        self.runs += 1
        self.log = os.path.join(self.tmp, "logship%d.log" % self.runs)
        with open(self.log, "w") as err:
            p = subprocess.Popen([LOGSHIP], env=self.env(**kw),
                                 stdout=subprocess.DEVNULL, stderr=err)
        self.procs.append(p)
        return p

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self, p, within=25):
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=within + 5)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, self.text())
        self.assertLess(took, within, "SIGTERM took %.1f s" % took)
        self.no_secret()
        return took

    def no_secret(self):
        for i in range(1, self.runs + 1):
            with open(os.path.join(self.tmp, "logship%d.log" % i),
                      errors="replace") as f:
                t = f.read()
            for s in (SK, TOKEN, "double/secret", "session-"):
                self.assertNotIn(s, t)

    def wait_events(self, n, timeout=30):
        try:
            harness.wait_until(lambda: len(self.cw.events()) >= n, timeout,
                               "%d events at CloudWatch Logs" % n)
        except AssertionError as e:
            # How many came by the end, not at the start of the wait.
            raise AssertionError("%s (have %d)" % (
                e, len(self.cw.events()))) from None
        time.sleep(0.3)
        return self.cw.events()

    def test_ships_only_worker_units_of_this_boot(self):
        self.journal.write(
            unit_entries("ib-worker@old.service", 2, "old boot",
                         _BOOT_ID=OTHER_BOOT) +
            [{"_SYSTEMD_UNIT": "ib-worker@q.example.service",
              "MESSAGE": "took job 1"},
             {"_SYSTEMD_UNIT": "sshd.service", "MESSAGE": "Accepted key"},
             {"_SYSTEMD_UNIT": "ib-vmcheck.service",
              "MESSAGE": b"bad \xff\xfe utf8 \"quoted\"\ttab"},
             {"_SYSTEMD_UNIT": "ib-logship.service",
              "MESSAGE": "own line"},
             # PID 1 about a worker unit (trusted) and about another one.
             {"_PID": "1", "_SYSTEMD_UNIT": "init.scope",
              "UNIT": "ib-worker@q.example.service",
              "MESSAGE": "Main process exited, status=4"},
             {"_PID": "1", "_SYSTEMD_UNIT": "init.scope",
              "UNIT": "cron.service", "MESSAGE": "Started cron"},
             # UNIT= from any other process is not believed.
             {"_PID": "777", "_SYSTEMD_UNIT": "evil.service",
              "UNIT": "ib-worker@x.service", "MESSAGE": "forged"},
             {"_SYSTEMD_UNIT": "ib-worker-firstboot.service",
              "MESSAGE": "multi\nline"}])
        p = self.start()
        evs = self.wait_events(4)
        self.stop(p)
        self.assertEqual([m for _, m in evs], [
            "ib-worker@q.example.service: took job 1",
            "ib-vmcheck.service: bad \ufffd\ufffd utf8 \"quoted\"\ttab",
            "ib-worker@q.example.service: Main process exited, status=4",
            "ib-worker-firstboot.service: multi\nline"])
        self.assertEqual(self.cw.streams(), ["i-test"])
        self.assertEqual(self.cw.count("PutLogEvents", ok=False), 0)
        with open(self.state) as f:
            self.assertIn("s=", f.read())

    def test_restart_resumes_at_the_cursor(self):
        self.journal.write(unit_entries("ib-worker@a.service", 3, "first"))
        p = self.start()
        self.wait_events(3)
        # While it runs: a new journal file is noticed.
        self.journal.write(unit_entries("ib-worker@a.service", 2, "second"))
        self.wait_events(5)
        self.stop(p)
        self.journal.write(unit_entries("ib-worker@a.service", 2, "third"))
        p = self.start()
        evs = self.wait_events(7)
        self.stop(p)
        msgs = [m for _, m in evs]
        self.assertEqual(len(msgs), 7, msgs)
        self.assertEqual(len(set(msgs)), 7, "sent twice: %s" % msgs)
        self.assertEqual(msgs[-1], "ib-worker@a.service: third 1")
        # The second start found its stream there already.
        self.assertEqual(self.cw.count("CreateLogStream", ok=False), 1)
        # A third start with nothing new sends nothing.
        calls = self.cw.count("PutLogEvents")
        p = self.start()
        time.sleep(2.5)
        self.stop(p)
        self.assertEqual(self.cw.count("PutLogEvents"), calls)
        self.assertEqual(len(self.cw.events()), 7)

    def test_throttling_and_5xx_lose_nothing(self):
        self.journal.write(unit_entries("ib-worker@a.service", 5))
        self.cw.fail(400, "ThrottlingException", 3)
        self.cw.fail(500, "ServiceUnavailableException", 1)
        p = self.start()
        evs = self.wait_events(5, timeout=60)
        self.stop(p)
        self.assertEqual(len(evs), 5)
        self.assertEqual(self.cw.count(ok=False), 4)
        self.assertIn("ThrottlingException", self.text())

    def test_batch_limits(self):
        now = now_us()
        day = 24 * 3600 * 10**6
        entries = []
        # Out of order in time (a clock step), 15 days old (not taken by
        # CloudWatch), more than a day apart, then 25,000 small lines,
        # then 9 big ones, and one beyond the event size. The clock step
        # goes back an hour, well inside the 14 days: an entry on that
        # edge is shipped or skipped depending on how long the start
        # took, as the wall clock moves on.
        entries.append({"_SYSTEMD_UNIT": "ib-worker@a.service",
                        "MESSAGE": "too old",
                        "__REALTIME_TIMESTAMP": str(now - 15 * day)})
        entries.append({"_SYSTEMD_UNIT": "ib-worker@a.service",
                        "MESSAGE": "13 days ago",
                        "__REALTIME_TIMESTAMP": str(now - 13 * day)})
        entries.append({"_SYSTEMD_UNIT": "ib-worker@a.service",
                        "MESSAGE": "clock stepped back",
                        "__REALTIME_TIMESTAMP":
                            str(now - 13 * day - 3600 * 10**6)})
        for i in range(25000):
            entries.append({"_SYSTEMD_UNIT": "ib-worker@a.service",
                            "MESSAGE": "small %d" % i,
                            "__REALTIME_TIMESTAMP": str(now + i)})
        for i in range(9):
            entries.append({"_SYSTEMD_UNIT": "ib-worker@a.service",
                            "MESSAGE": ("%d" % i) * 200000,
                            "__REALTIME_TIMESTAMP": str(now + 30000 + i)})
        entries.append({"_SYSTEMD_UNIT": "ib-worker@a.service",
                        "MESSAGE": "\u00e9" * 200000,
                        "__REALTIME_TIMESTAMP": str(now + 40000)})
        self.journal.write(entries)
        p = self.start()
        evs = self.wait_events(2 + 25000 + 10, timeout=120)
        self.stop(p)
        self.assertEqual(len(evs), 25012)
        self.assertEqual(self.cw.count("PutLogEvents", ok=False), 0,
                         "a batch broke a limit")
        msgs = [m for _, m in evs]
        self.assertEqual(msgs[0], "ib-worker@a.service: 13 days ago")
        self.assertEqual(msgs[1], "ib-worker@a.service: clock stepped back")
        self.assertEqual(evs[1][0], evs[0][0], "not kept in order")
        self.assertNotIn("ib-worker@a.service: too old", msgs)
        self.assertIn("skipped a log event", self.text())
        big = msgs[-1]
        self.assertLessEqual(len(big.encode()) + 26, 256 * 1024)
        self.assertTrue(big.endswith("[truncated by ib-logship: 400021 "
                                     "bytes]"), big[-80:])
        self.assertTrue(msgs[-2].endswith("8" * 200000))
        # 10,000 per call, 1 MiB per call, 24 h per call: at least
        # 1 (old ones) + 3 (small) + 2 (big) calls.
        self.assertGreaterEqual(self.cw.count("PutLogEvents", ok=True), 6)

    def test_refused_batch_is_split_then_skipped(self):
        self.journal.write(unit_entries("ib-worker@a.service", 4))
        # The batch of 4 is refused once: its halves go through.
        self.cw.fail(400, "InvalidParameterException", 1)
        p = self.start()
        self.wait_events(4)
        # One event refused for good: skipped, the next ones still go.
        self.cw.fail(400, "InvalidParameterException", 1)
        self.journal.write(unit_entries("ib-worker@a.service", 1, "bad"))
        harness.wait_until(lambda: "skipped a log event" in self.text(), 30,
                           "the refused event skipped")
        self.journal.write(unit_entries("ib-worker@a.service", 1, "after"))
        evs = self.wait_events(5)
        self.stop(p)
        self.assertEqual([m for _, m in evs][-1],
                         "ib-worker@a.service: after 0")
        self.assertEqual(len(evs), 5)
        self.assertEqual(self.cw.count("PutLogEvents", ok=False), 2)

    def test_sigterm_ships_what_is_left(self):
        self.journal.write(unit_entries("ib-worker@a.service", 1, "early"))
        p = self.start(IB_LOGSHIP_INTERVAL="300")
        self.wait_events(1)
        # Within the 300 s interval: held back until SIGTERM.
        self.journal.write(unit_entries("ib-worker@a.service", 3, "late"))
        time.sleep(2)
        self.assertEqual(len(self.cw.events()), 1)
        took = self.stop(p, within=10)
        self.assertEqual(len(self.cw.events()), 4, "took %.1f s" % took)

    def test_missing_group_then_created_loses_nothing(self):
        self.cw.groups.clear()
        self.journal.write(unit_entries("ib-worker@a.service", 3))
        p = self.start()
        harness.wait_until(lambda: "does not exist" in self.text(), 20,
                           "a message about the missing group")
        self.assertIn("the log group /ib-worker/t does not exist",
                      self.text())
        # SIGTERM while it cannot ship: bounded, exit 0, nothing lost.
        took = self.stop(p, within=26)
        self.assertGreater(took, 15)
        self.assertIn("not shipped yet", self.text())
        with self.cw.lock:
            self.cw.groups[GROUP] = {}
        p = self.start()
        self.wait_events(3)
        self.stop(p)
        self.assertEqual(len(self.cw.events()), 3)

    def test_access_denied_is_logged_clearly(self):
        self.cw.denied = True
        self.journal.write(unit_entries("ib-worker@a.service", 1))
        p = self.start()
        harness.wait_until(lambda: "AccessDenied" in self.text(), 20,
                           "the refusal logged")
        self.assertIn("lack logs:CreateLogStream/logs:PutLogEvents",
                      self.text())
        p.kill()
        p.wait()
        self.no_secret()

    def test_no_log_group_is_off(self):
        r = subprocess.run([LOGSHIP], env=self.env(IB_LOG_GROUP=None),
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn("log shipping is off", r.stderr)
        self.assertEqual(self.cw.count(), 0)
        r = subprocess.run([LOGSHIP], env=self.env(IB_LOG_GROUP="bad name"),
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)

    def test_instance_role_region_and_stream_from_imds(self):
        fleet = self.keep(autoscaling.Fleet(region="eu-test-1"))
        self.cw.secrets = {fleet.access_key: (fleet.secret,
                                              fleet.session_token)}
        self.journal.write(unit_entries("ib-worker@a.service", 2))
        p = self.start(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                       AWS_SESSION_TOKEN=None, IB_AWS_REGION=None,
                       IB_LOG_STREAM=None, IB_IMDS_ENDPOINT=fleet.imds_url)
        self.wait_events(2)
        self.stop(p)
        self.assertEqual(self.cw.streams(), [fleet.instance_id])
        self.assertEqual(fleet.v1_attempts, 0)
        t = self.text()
        self.assertNotIn(fleet.secret, t)
        self.assertNotIn(fleet.session_token, t)


if __name__ == "__main__":
    unittest.main(verbosity=2)
