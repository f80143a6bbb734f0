#!/usr/bin/python3
"""The worker in an Auto Scaling group: scale-in protection while a build
runs (not for light jobs), and the termination lifecycle hook: a worker
told its instance is leaving stops taking jobs, heartbeats while its build
finishes, delivers the result, completes the action with CONTINUE and exits
0. A SIGHUP reload that changes these settings applies them between jobs; a
refused or unrelated reload keeps the running thread. Against the project's
queue, the osbuild test double and the IMDSv2 and Auto Scaling API test
doubles (which check every SigV4 signature)."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402

DOUBLES = harness.DOUBLES
import autoscaling  # noqa: E402
from jobs import worker_server_args as build_args  # noqa: E402

# 20 stages in the fixture's manifest: about 8 s of build.
SLOW_BUILD = {"sleep": 0.4}


class Fleet(harness.TestCase):

    def fleet(self, **kw):
        return self.keep(autoscaling.Fleet(**kw))

    def conf(self, fleet, extra="", protect=True, hook=True):
        return ('dnf-json = "%s/depsolver"\n[worker]\nosbuild = "%s/osbuild"\n'
                'autoscaling_endpoint = "%s"\nlifecycle_poll_interval = 1\n'
                'lifecycle_heartbeat_interval = 1\n%s%s%s' % (
                    DOUBLES, DOUBLES, fleet.api_url,
                    "scale_in_protection = true\n" if protect else "",
                    'lifecycle_hook = "%s"\n' % fleet.hook if hook else "",
                    extra))

    def start(self, q, fleet, extra="", protect=True, hook=True):
        w = self.worker("http://" + q.address,
                        self.conf(fleet, extra, protect, hook),
                        env={"IB_IMDS_ENDPOINT": fleet.imds_url})
        if protect or hook:
            self.wait_identified(w, fleet)
        w.wait_log(r"registered as worker", 20)
        return w

    def wait_identified(self, w, fleet, count=1):
        rx = re.compile(r"Auto Scaling: instance %s in group %s" % (
            fleet.instance_id, fleet.group))
        harness.wait_until(lambda: len(rx.findall(w.log())) >= count, 20,
                           "the Auto Scaling thread to identify the instance")

    def reload(self, w, text, expect):
        """Rewrites the worker's configuration, sends SIGHUP and waits for
        the log line matching expect."""
        text = text.replace("[worker]", '[worker]\ncache_directory = "%s"' %
                            w.cache, 1)
        with open(w.conf, "w") as f:
            f.write(text)
        before = w.log().count("configuration reloaded") + \
            w.log().count("reload refused")
        w.signal(signal.SIGHUP)
        harness.wait_until(
            lambda: w.log().count("configuration reloaded") +
            w.log().count("reload refused") > before, 15, "the reload")
        self.assertRegex(w.log(), expect)

    def build(self, q, fleet, protected):
        """Runs one build to success; with protected, checks that the
        instance was protected while it ran."""
        jid = q.enqueue("osbuild", build_args(double={"sleep": 0.1}))
        if protected:
            harness.wait_until(lambda: fleet.protected, 20, "protection")
            self.assertEqual(q.show(jid)["state"], "running")
        job = q.wait(jid, 60)
        self.assertEqual(job["state"], "success", job.get("result"))
        if protected:
            harness.wait_until(lambda: not fleet.protected, 10,
                               "the protection to be lifted")

    def protection_calls(self, fleet):
        return [p["ProtectedFromScaleIn"]
                for _, _, p in fleet.actions("SetInstanceProtection")]

    def assert_clean(self, fleet):
        self.assertEqual(fleet.rejected, [])
        self.assertEqual(fleet.v1_attempts, 0)

    def test_build_is_protected_and_light_jobs_are_not(self):
        q = self.queue()
        fleet = self.fleet()
        files = self.keep(harness.FileServer({"/a": b"a"}))
        w = self.start(q, fleet)

        # A light job long enough for the Auto Scaling thread to act.
        light = q.enqueue("file-resolve", {"urls": [files.url + "/slow/3"]})
        self.assertEqual(q.wait(light, 20)["state"], "success")
        self.assertEqual(self.protection_calls(fleet), [])

        jid = q.enqueue("osbuild", build_args(double=SLOW_BUILD))
        harness.wait_until(lambda: fleet.protected, 20, "protection")
        self.assertEqual(q.show(jid)["state"], "running")
        job = q.wait(jid, 60)
        self.assertEqual(job["state"], "success", job.get("result"))
        harness.wait_until(lambda: not fleet.protected, 10,
                           "the protection to be lifted")
        self.assertEqual(self.protection_calls(fleet), ["true", "false"])
        # The group's name came from the instance's tags.
        self.assertIn("/latest/meta-data/tags/instance/"
                      "aws:autoscaling:groupName", fleet.imds_gets)
        self.assertTrue(w.alive())
        self.assertEqual(fleet.actions("CompleteLifecycleAction"), [])
        self.assert_clean(fleet)
        self.assertNotIn(fleet.secret, w.log())
        self.assertNotIn(fleet.session_token, w.log())

    def test_terminated_mid_build_drains_heartbeats_and_continues(self):
        q = self.queue()
        fleet = self.fleet()
        files = self.keep(harness.FileServer({"/a": b"a"}))
        w = self.start(q, fleet)
        jid = q.enqueue("osbuild", build_args(double={"sleep": 0.5}))
        harness.wait_until(lambda: fleet.protected, 20, "protection")
        t0 = time.monotonic()
        fleet.terminate()
        w.wait_log(r"leaving the group \(target lifecycle state "
                   r"Terminated\): draining", 10)
        later = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        self.assertEqual(w.wait_exit(60), 0)

        self.assertEqual(q.show(jid)["state"], "success")
        self.assertEqual(q.show(later)["state"], "pending")
        beats = [t for t, _, p in fleet.actions(
            "RecordLifecycleActionHeartbeat")]
        done = fleet.actions("CompleteLifecycleAction")
        self.assertGreaterEqual(len(beats), 2, fleet.calls)
        self.assertEqual(len(done), 1, fleet.calls)
        t_done, _, p = done[0]
        self.assertEqual(p, {"AutoScalingGroupName": fleet.group,
                             "LifecycleHookName": fleet.hook,
                             "InstanceId": fleet.instance_id,
                             "LifecycleActionResult": "CONTINUE"})
        self.assertTrue(all(t0 < t < t_done for t in beats), (t0, beats))
        self.assertEqual(fleet.state, "Terminating:Proceed")
        log = w.log()
        self.assertLess(log.index("result delivered"),
                        log.index("lifecycle action completed"))
        self.assertIn("drained, exiting", log)
        # A leaving instance keeps its protection: no call after t0.
        self.assertEqual([t for t, _, _ in fleet.actions(
            "SetInstanceProtection") if t > t0], [])
        self.assert_clean(fleet)

    def test_terminated_while_idle_exits_at_once(self):
        q = self.queue()
        fleet = self.fleet(tags_in_metadata=False)
        w = self.start(q, fleet, 'autoscaling_group = "%s"\n' % fleet.group,
                       protect=False)
        fleet.terminate()
        t0 = time.monotonic()
        self.assertEqual(w.wait_exit(15), 0)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertEqual(len(fleet.actions("CompleteLifecycleAction")), 1)
        self.assertEqual(fleet.actions("RecordLifecycleActionHeartbeat"), [])
        self.assertEqual(fleet.actions("SetInstanceProtection"), [])
        self.assertEqual(fleet.state, "Terminating:Proceed")
        self.assert_clean(fleet)

    def test_back_to_the_warm_pool_drains_too(self):
        q = self.queue()
        fleet = self.fleet()
        w = self.start(q, fleet)
        fleet.warm()
        self.assertEqual(w.wait_exit(15), 0)
        self.assertIn("target lifecycle state Warmed:Stopped", w.log())
        self.assertEqual(len(fleet.actions("CompleteLifecycleAction")), 1)
        self.assertEqual(fleet.state, "Warmed:Terminating:Proceed")
        self.assert_clean(fleet)

    def test_no_group_name_means_no_calls(self):
        q = self.queue()
        fleet = self.fleet(tags_in_metadata=False)
        files = self.keep(harness.FileServer({"/a": b"a"}))
        conf = ('[worker]\nscale_in_protection = true\n'
                'autoscaling_endpoint = "%s"\n' % fleet.api_url)
        w = self.worker("http://" + q.address, conf,
                        env={"IB_IMDS_ENDPOINT": fleet.imds_url})
        w.wait_log(r"Auto Scaling: no \[worker\] autoscaling_group and the "
                   r"instance's tags are not in its metadata", 20)
        # The worker still works.
        jid = q.enqueue("file-resolve", {"urls": [files.url + "/a"]})
        self.assertEqual(q.wait(jid, 20)["state"], "success")
        self.assertEqual(fleet.calls, [])
        self.assertTrue(w.alive())

    def test_sigquit_mid_build_still_lifts_the_protection(self):
        q = self.queue()
        fleet = self.fleet()
        w = self.start(q, fleet, hook=False)
        q.enqueue("osbuild", build_args(double={"mode": "hang"}))
        harness.wait_until(lambda: fleet.protected, 20, "protection")
        w.signal(signal.SIGQUIT)
        self.assertEqual(w.wait_exit(30), 0)
        self.assertFalse(fleet.protected)
        self.assertEqual(self.protection_calls(fleet), ["true", "false"])
        # No hook configured: the lifecycle state is never read.
        self.assertNotIn("/latest/meta-data/autoscaling/"
                         "target-lifecycle-state", fleet.imds_gets)
        self.assert_clean(fleet)


    def test_reload_turns_protection_on(self):
        q = self.queue()
        fleet = self.fleet()
        w = self.start(q, fleet, protect=False, hook=False)
        self.build(q, fleet, protected=False)
        # Off: no thread, so not even the instance metadata is read.
        self.assertEqual(fleet.calls, [])
        self.assertEqual(fleet.imds_gets, [])

        self.reload(w, self.conf(fleet, protect=True, hook=False),
                    r"Auto Scaling settings changed \(scale_in_protection "
                    r"on\): restarting its thread with them")
        self.wait_identified(w, fleet)
        self.build(q, fleet, protected=True)
        self.assertEqual(self.protection_calls(fleet), ["true", "false"])
        self.assertTrue(w.alive())
        self.assert_clean(fleet)

    def test_reload_turns_protection_off(self):
        q = self.queue()
        fleet = self.fleet()
        w = self.start(q, fleet, hook=False)
        self.build(q, fleet, protected=True)
        self.assertEqual(self.protection_calls(fleet), ["true", "false"])

        self.reload(w, self.conf(fleet, protect=False, hook=False),
                    r"Auto Scaling settings changed \(scale_in_protection "
                    r"off\): stopping its thread")
        # The old thread is joined before the reload is logged.
        calls, gets = len(fleet.calls), len(fleet.imds_gets)
        self.build(q, fleet, protected=False)
        time.sleep(1)       # five ticks of a thread that should not be
        self.assertEqual(len(fleet.calls), calls, fleet.calls)
        self.assertEqual(len(fleet.imds_gets), gets, fleet.imds_gets)
        self.assertEqual(self.protection_calls(fleet), ["true", "false"])
        self.assertFalse(fleet.protected)
        self.assertTrue(w.alive())
        self.assert_clean(fleet)

    def test_reload_sets_the_lifecycle_hook(self):
        q = self.queue()
        fleet = self.fleet()
        w = self.start(q, fleet, hook=False)
        time.sleep(1)
        self.assertNotIn("/latest/meta-data/autoscaling/"
                         "target-lifecycle-state", fleet.imds_gets)
        self.reload(w, self.conf(fleet, protect=True, hook=True),
                    r"Auto Scaling settings changed \(lifecycle_hook set\): "
                    r"restarting its thread with them")
        self.wait_identified(w, fleet, 2)
        self.build(q, fleet, protected=True)
        fleet.terminate()
        self.assertEqual(w.wait_exit(15), 0)
        done = fleet.actions("CompleteLifecycleAction")
        self.assertEqual(len(done), 1, fleet.calls)
        self.assertEqual(done[0][2]["LifecycleHookName"], fleet.hook)
        self.assertEqual(fleet.state, "Terminating:Proceed")
        self.assertEqual(self.protection_calls(fleet), ["true", "false"])
        self.assert_clean(fleet)

    def test_reload_refused_or_unchanged_keeps_the_thread(self):
        q = self.queue()
        fleet = self.fleet()
        w = self.start(q, fleet, hook=False)
        # Would turn protection off, but the hook's name is invalid.
        self.reload(w, self.conf(fleet, 'lifecycle_hook = ""\n',
                                 protect=False, hook=False),
                    r"reload refused, keeping the running configuration: "
                    r".*lifecycle_hook.*must not be empty")
        # Another key changes, the Auto Scaling ones do not.
        self.reload(w, self.conf(fleet, "poll_interval = 0\n", hook=False),
                    r"configuration reloaded")
        self.assertNotIn("Auto Scaling settings changed", w.log())
        self.build(q, fleet, protected=True)
        self.assertEqual(self.protection_calls(fleet), ["true", "false"])
        # Still the first thread: the instance was identified once.
        self.assertEqual(len(re.findall(r"Auto Scaling: instance ",
                                        w.log())), 1)
        self.assertTrue(w.alive())
        self.assert_clean(fleet)


# A builder that is there but whose machine cannot build: it answers
# --version, then fails as osbuild does on a full disk.
FULL_DISK_BUILDER = """#!/bin/sh
if [ "${1-}" = "--version" ]; then echo "osbuild 131"; exit 0; fi
cat >/dev/null
echo "OSError: [Errno 28] No space left on device: '/store/tmp'" >&2
exit 1
"""


class LeavesTheFleet(harness.TestCase):
    """A worker that cannot work: it asks only for what it can run, and
    after machine_fault_limit failures that are the machine's fault it
    marks its instance Unhealthy and exits 4."""

    def builder(self, text, path=None):
        path = path or os.path.join(self.tmp, "builder")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def conf(self, osbuild, extra=""):
        return ('dnf-json = "%s/depsolver"\n[worker]\nosbuild = "%s"\n'
                'cache_min_free = 0\n%s' % (DOUBLES, osbuild, extra))

    def test_missing_builder_takes_no_build(self):
        q = self.queue()
        osbuild = os.path.join(self.tmp, "osbuild")
        w = self.worker("http://" + q.address, self.conf(osbuild) +
                        'job_types = ["osbuild", "file-resolve"]\n')
        w.wait_log(r"registered as worker")
        self.assertRegex(w.log(), r"not taking osbuild jobs: the builder "
                         r"%s cannot be run" % osbuild)
        self.assertRegex(w.log(), r"taking job types: file-resolve\n")
        jid = q.enqueue("osbuild", build_args())
        time.sleep(2)
        self.assertEqual(q.show(jid)["state"], "pending")
        self.assertTrue(w.alive())
        # The builder appears: checked again between jobs, builds are
        # asked for from the next request on.
        self.builder('#!/bin/sh\nexec "%s/osbuild" "$@"\n' % DOUBLES,
                     osbuild)
        files = self.keep(harness.FileServer({"/a": b"a"}))
        q.wait(q.enqueue("file-resolve", {"urls": [files.url + "/a"]}), 20)
        q.wait(jid, 60)
        self.assertNotIn("job_error", q.result(jid))
        self.assertRegex(w.log(), r"taking job types: file-resolve osbuild")

    def test_depsolver_missing_means_neither_depsolve_nor_search(self):
        q = self.queue()
        w = self.worker("http://" + q.address,
                        'dnf-json = "/nonexistent/depsolver"\n')
        w.wait_log(r"taking job types")
        log = w.log()
        self.assertIn("not taking depsolve jobs", log)
        self.assertIn("not taking search-packages jobs", log)
        self.assertNotRegex(log, r"taking job types: .*\bdepsolve\b")

    def run_full_disk(self, fleet, extra):
        q = self.queue()
        env = {"IB_IMDS_ENDPOINT": fleet.imds_url} if fleet else {}
        w = self.worker("http://" + q.address, self.conf(
            self.builder(FULL_DISK_BUILDER), extra), env=env)
        jobs = [q.enqueue("osbuild", build_args()) for _ in range(5)]
        self.assertEqual(w.wait_exit(60), 4, w.log()[-3000:])
        states = [q.show(j)["state"] for j in jobs]
        failed = [j for j in jobs if q.show(j)["state"] not in
                  ("pending", "running")]
        self.assertEqual(len(failed), 2, states)
        for j in failed:
            self.assertIn("ENOSPC", q.result(j)["job_error"]["reason"])
        self.assertIn("2 failures in a row were this machine's fault",
                      w.log())
        return w

    def test_full_disk_leaves_the_group(self):
        fleet = self.keep(autoscaling.Fleet())
        w = self.run_full_disk(fleet, 'machine_fault_limit = 2\n'
                               'autoscaling_group = "%s"\n'
                               'autoscaling_endpoint = "%s"\n' % (
                                   fleet.group, fleet.api_url))
        calls = fleet.actions("SetInstanceHealth")
        self.assertEqual(len(calls), 1, fleet.rejected)
        self.assertEqual(fleet.rejected, [])
        self.assertEqual(calls[0][2]["InstanceId"], fleet.instance_id)
        self.assertEqual(fleet.health, "Unhealthy")
        self.assertIn("marked Unhealthy", w.log())

    def test_full_disk_without_a_group_just_exits(self):
        w = self.run_full_disk(None, "machine_fault_limit = 2\n")
        self.assertIn("no Auto Scaling group configured", w.log())

    def test_cache_that_can_never_take_a_build_leaves_at_once(self):
        # A cache file system smaller than cache_min_free (here: a bound
        # no disk meets) never takes a build, whatever is evicted: the
        # worker leaves without waiting for builds to fail.
        fleet = self.keep(autoscaling.Fleet())
        q = self.queue()
        jid = q.enqueue("osbuild", build_args())
        w = self.worker(
            "http://" + q.address,
            'dnf-json = "%s/depsolver"\n[worker]\nosbuild = "%s/osbuild"\n'
            'cache_min_free = %d\nautoscaling_group = "%s"\n'
            'autoscaling_endpoint = "%s"\n' % (
                DOUBLES, DOUBLES, 1 << 50, fleet.group, fleet.api_url),
            env={"IB_IMDS_ENDPOINT": fleet.imds_url})
        self.assertEqual(w.wait_exit(60), 4, w.log()[-3000:])
        self.assertRegex(w.log(), r"this machine can never build: the cache "
                         r".* smaller than cache_min_free")
        self.assertEqual(q.show(jid)["state"], "pending")
        self.assertEqual(len(fleet.actions("SetInstanceHealth")), 1,
                         fleet.rejected)
        self.assertEqual(fleet.health, "Unhealthy")

    def test_job_failures_do_not_count(self):
        # A manifest the builder rejects and an unusable job: the job's
        # fault, however many in a row.
        q = self.queue()
        w = self.worker("http://" + q.address, self.conf(
            os.path.join(DOUBLES, "osbuild"), "machine_fault_limit = 1\n"))
        jobs = [q.enqueue("osbuild", build_args(double={"mode": "fail"})),
                q.enqueue("osbuild", {}),
                q.enqueue("osbuild", build_args(double={"mode": "validation"}))]
        for j in jobs:
            q.wait(j, 60)
            self.assertIn("job_error", q.result(j))
        time.sleep(0.5)
        self.assertTrue(w.alive(), w.log()[-2000:])
        self.assertNotIn("machine's fault", w.log())


if __name__ == "__main__":
    harness.main()
