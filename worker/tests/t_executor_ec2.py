#!/usr/bin/python3
"""The aws.ec2 osbuild executor end to end: the worker binary and the
project's queue, EC2 as its test double (no cloud here) and, standing in for
the instance, a real ib-agent on loopback (the double gives every instance
the address 127.0.0.1) whose builder is the osbuild double. A build through
the instance (RunInstances with the AMI, subnet, security group, instance
profile, key and the reaper's tag; the artifact at the queue; the instance
terminated); an instance that never becomes reachable; one terminated
mid-build; and a worker killed mid-build whose instance the next start
terminates, leaving other instances alone."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
from ec2 import EC2Double  # noqa: E402

DOUBLES = harness.DOUBLES
AGENT = os.path.join(harness.BUILD, "ib-agent")
KEY, SECRET = "AKIAEXECUTOR", "ExecSecret/77+q"


class Agent:
    """ib-agent on 127.0.0.1, a port of its own, the osbuild double."""

    def __init__(self, tmp, hold="0"):
        pf = os.path.join(tmp, "agent.port")
        if os.path.exists(pf):
            os.unlink(pf)
        env = dict(os.environ, IB_OSBUILD_DOUBLE_HOLD=hold,
                   IB_OSBUILD_DOUBLE_SIZE="2000000")
        self.log = open(os.path.join(tmp, "agent.log"), "ab")
        self.proc = subprocess.Popen(
            [AGENT, "--listen", "127.0.0.1:0", "--port-file", pf,
             "--builder", os.path.join(DOUBLES, "osbuild"), "--workdir",
             os.path.join(tmp, "agent-work"), "--idle-timeout", "120"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        harness.wait_until(lambda: os.path.exists(pf), 10, "agent port")
        with open(pf) as f:
            self.port = int(f.read())

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        self.kill()
        self.log.close()


class ExecutorEC2(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.ec2 = self.keep(EC2Double({KEY: (SECRET, None)},
                                       "http://127.0.0.1:1"))
        self.creds = os.path.join(self.tmp, "awscreds")
        with open(self.creds, "w") as f:
            f.write("[default]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n" % (KEY, SECRET))
        self.q = self.queue()

    def start(self, port, boot_timeout=30, name="worker"):
        return self.worker(
            "http://" + self.q.address,
            '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1\n'
            'job_types = ["osbuild"]\n'
            '[aws]\nendpoint = "%s"\ncredentials = "%s"\n'
            '[osbuild_executor]\ntype = "aws.ec2"\nami = "ami-0exec1"\n'
            'subnet_id = "subnet-0a1"\nsecurity_group = "sg-0b2"\n'
            'region = "us-east-1"\niam_profile = "ib-builder"\n'
            'key_name = "ops"\nagent_port = %d\nboot_timeout = %d\n' % (
                DOUBLES, self.ec2.url, self.creds, port, boot_timeout),
            name=name)

    def instances(self):
        with self.ec2.lock:
            return {i: dict(v) for i, v in self.ec2.instances.items()}

    def terminated(self):
        return [p["InstanceId.1"] for p in
                self.ec2.actions("TerminateInstances")]

    def test_build(self):
        agent = self.keep(Agent(self.tmp))
        w = self.start(agent.port)
        jid = self.q.enqueue("osbuild", jobs.worker_server_args())
        self.q.wait(jid, 60)
        res = self.q.result(jid)
        self.assertNotIn("job_error", res, res)
        self.assertTrue(res["success"], res)
        self.assertEqual(res["osbuild_version"], "129")
        (iid, inst), = self.instances().items()
        p = inst["params"]
        for k, v in (("ImageId", "ami-0exec1"), ("SubnetId", "subnet-0a1"),
                     ("SecurityGroupId.1", "sg-0b2"),
                     ("IamInstanceProfile.Name", "ib-builder"),
                     ("KeyName", "ops"),
                     ("InstanceInitiatedShutdownBehavior", "terminate")):
            self.assertEqual(p.get(k), v, k)
        self.assertTrue(inst["tags"]["ib-executor"].startswith("ibx-"))
        self.assertEqual(self.terminated(), [iid])
        self.assertEqual(agent.proc.wait(10), 0)   # one build, then done
        w.wait_log(r"instance %s terminated" % iid)
        self.assertNotIn(SECRET, w.log())

    def test_never_reachable(self):
        w = self.start(harness.free_port(), boot_timeout=6)
        t0 = time.time()
        jid = self.q.enqueue("osbuild", jobs.worker_server_args())
        self.q.wait(jid, 60)
        res = self.q.result(jid)
        self.assertIn("not reachable", str(res["job_error"]), res)
        self.assertLess(time.time() - t0, 30)
        (iid, _), = self.instances().items()
        self.assertEqual(self.terminated(), [iid])
        self.assertTrue(w.alive())

    def test_terminated_mid_build(self):
        agent = self.keep(Agent(self.tmp, hold="60"))
        w = self.start(agent.port)
        jid = self.q.enqueue("osbuild", jobs.worker_server_args())
        w.wait_log(r"executor: build sent", 30)
        (iid, _), = self.instances().items()
        t0 = time.time()
        self.ec2.kill(iid)      # EC2 ends it: the agent goes with it
        agent.kill()
        self.q.wait(jid, 60)
        res = self.q.result(jid)
        self.assertIn("build was lost", str(res["job_error"]), res)
        self.assertLess(time.time() - t0, 20)
        # Terminated again by the worker: every path ends with it.
        self.assertEqual(self.terminated(), [iid])
        self.assertTrue(w.alive())

    def test_reaper(self):
        agent = self.keep(Agent(self.tmp, hold="60"))
        # Somebody else's instance, which the reaper must leave alone.
        with self.ec2.lock:
            self.ec2.instances["i-0other"] = {
                "state": "running", "since": time.time(),
                "params": {"ImageId": "ami-0other"},
                "tags": {"ib-executor": "ibx-00000000"}, "region": "us-east-1"}
        w = self.start(agent.port)
        jid = self.q.enqueue("osbuild", jobs.worker_server_args())
        w.wait_log(r"executor: build sent", 30)
        ours = [i for i in self.instances() if i != "i-0other"]
        self.assertEqual(len(ours), 1)
        w.stop()                # SIGKILL: nothing terminated
        self.assertEqual(self.terminated(), [])
        self.q.cancel(jid)
        # The same cache directory: the same worker, restarted.
        w2 = self.start(agent.port)
        w2.wait_log(r"leftover instance %s of a dead worker terminated" %
                    ours[0], 30)
        self.assertEqual(self.terminated(), ours)
        self.assertEqual(self.instances()["i-0other"]["state"], "running")


if __name__ == "__main__":
    harness.main()
