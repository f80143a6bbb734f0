"""`ib-loadtest local`: the whole local stack under load, with faults.

Started here: the project's queue (queue/ib-queue, state on disk, HS256
bearer tokens), N worker processes (build/ib-worker, the test osbuild that
the worker runs through `[worker] osbuild=`), real S3 (s3rver) behind the
signature-checking relay of the worker tests, and the fault relay between
workers and queue. Workers get their tokens from the OAuth2 test double;
ib-loadtest signs admin tokens with the queue's secret.

Test doubles used (no real one can run here), all from
worker/tests/doubles: faultproxy.FaultProxy (network faults),
oauth.OAuthDouble (SSO), s3proxy.S3Proxy (SigV4 checks, S3 error
injection) and osbuild. They are imported from there as they are; the
queue, the workers and s3rver are the real programs.

Faults on a schedule (seconds into the run; the short run compresses it):
workers killed (SIGKILL, a new one started) and frozen (SIGSTOP, then
SIGCONT), the queue killed and restarted on its state dir, every S3 call
failing for a while, the relay slow, and connections cut.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.realpath(__file__))
TOP = os.path.dirname(HERE)
TESTS = os.path.join(TOP, "worker", "tests")
sys.path.insert(0, os.path.join(TESTS, "lib"))

import testpath    # noqa: F401,E402  (shared helpers and doubles on the path)
import awsenv      # noqa: E402  (s3rver)
import harness     # noqa: E402  (wait_until)
from faultproxy import FaultProxy  # noqa: E402
from net import free_port  # noqa: E402
from oauth import OAuthDouble  # noqa: E402
from s3proxy import S3Proxy  # noqa: E402

BUILD = os.path.join(TOP, os.environ.get("B", "build"))
WORKER = os.path.join(BUILD, "ib-worker")
QUEUE = os.path.join(TOP, "queue", "ib-queue")
OSBUILD = os.path.join(TESTS, "doubles", "osbuild")
S3_OPS = ("PutObject", "CreateMultipartUpload", "UploadPart",
          "CompleteMultipartUpload")

# (seconds, fault, argument) for the 10-minute run; the short one scales it.
SCHEDULE = [
    (45, "kill_worker", None),
    (90, "freeze_worker", 20),
    (130, "slow", (0.3, 30)),
    (150, "cut", 6),
    (200, "kill_worker", None),
    (240, "restart_queue", None),
    (300, "s3_down", 10),
    (340, "freeze_worker", 20),
    (390, "kill_worker", None),
    (420, "cut", 6),
    (450, "restart_queue", None),
    (500, "s3_down", 8),
]
SHORT_SCHEDULE = [
    (12, "kill_worker", None),
    (20, "freeze_worker", 12),
    (28, "restart_queue", None),
    (34, "s3_down", 5),
    (40, "slow", (0.2, 8)),
    (44, "cut", 3),
]


def log(msg):
    sys.stderr.write("%s ib-loadtest local: %s\n" % (
        time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class QueueProc:
    def __init__(self, d, port, secret_file):
        self.d, self.port = d, port
        self.args = [QUEUE, "serve", "--listen", "127.0.0.1:%d" % port,
                     "--state-dir", os.path.join(d, "queue-state"),
                     "--jwt-secret", secret_file, "--s3-bucket", "bkt",
                     "--heartbeat-timeout", "8", "--heartbeat-check", "1",
                     "--max-requeues", "3", "--port-file",
                     os.path.join(d, "queue.port")]
        self.proc = None
        self.start()

    def start(self):
        pf = os.path.join(self.d, "queue.port")
        if os.path.exists(pf):
            os.unlink(pf)
        with open(os.path.join(self.d, "queue.log"), "ab") as lf:
            self.proc = subprocess.Popen(self.args, stdout=lf,
                                         stderr=subprocess.STDOUT)
        harness.wait_until(lambda: os.path.exists(pf), 20,
                           "the queue to listen")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class WorkerProc:
    def __init__(self, d, n, address, conf_text):
        self.name = "worker%02d" % n
        self.cache = os.path.join(d, self.name + "-cache")
        os.makedirs(self.cache, exist_ok=True)
        self.conf = os.path.join(d, self.name + ".toml")
        with open(self.conf, "w") as f:
            f.write(conf_text.replace("@CACHE@", self.cache))
        with open(os.path.join(d, self.name + ".log"), "ab") as lf:
            self.proc = subprocess.Popen(
                [WORKER, "-c", self.conf, address], stdout=lf,
                stderr=subprocess.STDOUT)
        self.frozen = False

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            if self.frozen:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


class Stack:
    def __init__(self, d, n_workers):
        self.d = d
        self.lock = threading.Lock()
        self.faults = []
        self.started = []
        secret = os.urandom(24).hex().encode()
        self.secret_file = os.path.join(d, "jwt.secret")
        with open(self.secret_file, "wb") as f:
            f.write(secret)
        client_secret = os.urandom(16).hex()
        cs_file = os.path.join(d, "client.secret")
        with open(cs_file, "w") as f:
            f.write(client_secret)
        creds = os.path.join(d, "s3.credentials")
        with open(creds, "w") as f:
            f.write("[default]\naws_access_key_id = S3RVER\n"
                    "aws_secret_access_key = S3RVER\n")
        self.s3 = self._keep(awsenv.S3rver(d, buckets=("bkt",)))
        self.s3proxy = self._keep(S3Proxy(self.s3.port, {"S3RVER": (
            "S3RVER", None)}))
        self.sso = self._keep(OAuthDouble(
            secret, "ib-worker", client_secret=client_secret,
            expires_in=300))
        self.queue = self._keep(QueueProc(d, free_port(), self.secret_file))
        self.relay = self._keep(FaultProxy(self.queue.port))
        self.url = "http://127.0.0.1:%d" % self.queue.port
        # The cloud API's aws.s3 target names a region, which a worker
        # sends to AWS ([aws], here with s3rver as its S3 endpoint), as
        # the reference does; [generic_s3] is for targets without one.
        self.conf = (
            '[worker]\ncache_directory = "@CACHE@"\nosbuild = "%s"\n'
            'backoff_max = 4\nheartbeat_interval = 2\n'
            '[authentication]\noauth_url = "%s"\nclient_id = "ib-worker"\n'
            'client_secret = "%s"\n'
            '[aws]\ns3_endpoint = "%s"\nbucket = "bkt"\ncredentials = "%s"\n'
            % (OSBUILD, self.sso.url, cs_file, self.s3proxy.url, creds))
        self.n = 0
        self.workers = []
        for _ in range(n_workers):
            self.add_worker()

    def check_workers(self):
        """Every worker registered with the queue, or RuntimeError with
        the log of one that died."""
        def ready():
            for w in self.workers:
                if not w.alive():
                    with open(os.path.join(self.d, w.name + ".log"),
                              errors="replace") as f:
                        raise RuntimeError("%s exited: %s" % (
                            w.name, f.read()[-800:]))
            return all("registered as worker" in open(os.path.join(
                self.d, w.name + ".log"), errors="replace").read()
                for w in self.workers)
        harness.wait_until(ready, 60, "the workers to register")

    def _keep(self, obj):
        self.started.append(obj)
        return obj

    def add_worker(self):
        self.n += 1
        w = WorkerProc(self.d, self.n, "http://" + self.relay.address,
                       self.conf)
        self.workers.append(w)
        return w

    def note(self, t, what, detail=""):
        with self.lock:
            self.faults.append({"t": round(t, 1), "fault": what,
                                "detail": detail})
        log("fault at %.0fs: %s %s" % (t, what, detail))

    def fault(self, run, what, arg):
        t = run.now()
        live = [w for w in self.workers if w.alive() and not w.frozen]
        if what in ("kill_worker", "freeze_worker") and not live:
            self.note(t, what + "_skipped", "no live worker")
        elif what == "kill_worker":
            w = live[len(self.faults) % len(live)]
            w.proc.kill()
            w.proc.wait()
            self.workers.remove(w)
            self.note(t, what, w.name)

            def replace():
                time.sleep(3)
                if not run.stop.is_set():
                    self.note(run.now(), "start_worker",
                              self.add_worker().name)
            threading.Thread(target=replace, daemon=True).start()
        elif what == "freeze_worker":
            w = live[-1]
            w.proc.send_signal(signal.SIGSTOP)
            w.frozen = True
            self.note(t, what, "%s for %ss" % (w.name, arg))

            def thaw():
                time.sleep(arg)
                w.proc.send_signal(signal.SIGCONT)
                w.frozen = False
                self.note(run.now(), "thaw_worker", w.name)
            threading.Thread(target=thaw, daemon=True).start()
        elif what == "restart_queue":
            self.queue.kill()
            self.note(t, what, "SIGKILL")
            time.sleep(1)
            self.queue.start()
            self.note(run.now(), "queue_started")
        elif what == "s3_down":
            with self.s3proxy.lock:
                for op in S3_OPS:
                    self.s3proxy.faults[op] = [(503, "ServiceUnavailable")] \
                        * 100000
            self.note(t, what, "%ss" % arg)

            def up():
                time.sleep(arg)
                with self.s3proxy.lock:
                    for op in S3_OPS:
                        self.s3proxy.faults.pop(op, None)
                self.note(run.now(), "s3_up")
            threading.Thread(target=up, daemon=True).start()
        elif what == "slow":
            delay, secs = arg
            self.relay.set(delay=delay)
            self.note(t, what, "%ss per request for %ss" % (delay, secs))

            def fast():
                time.sleep(secs)
                self.relay.set(delay=0.0)
                self.note(run.now(), "fast")
            threading.Thread(target=fast, daemon=True).start()
        elif what == "cut":
            self.relay.set(resets=arg)
            self.note(t, what, "%d connections" % arg)

    def schedule(self, run, plan, scale):
        def go():
            for at, what, arg in plan:
                at *= scale
                while run.now() < at:
                    if run.stop.wait(0.2):
                        return
                try:
                    self.fault(run, what, arg)
                except Exception as e:   # the run goes on: say so
                    self.note(run.now(), what + "_failed", str(e))
        threading.Thread(target=go, daemon=True).start()

    def stop(self):
        for w in self.workers:
            w.stop()
        for obj in reversed(self.started):
            try:
                obj.stop()
            except Exception:
                pass


def module_defaults(d):
    """The fleet module's variable defaults as JSON (the real HCL parser of
    the Terraform tests), for the scaling simulation; None if unavailable."""
    sys.path.insert(0, os.path.join(TOP, "terraform", "tests", "lib"))
    try:
        import tfcheck
        defaults = tfcheck.parse(os.path.join(TOP, "terraform", "modules",
                                              "worker-fleet"), defaults=True)
    except Exception as e:
        log("no scaling simulation: %s" % e)
        return None
    path = os.path.join(d, "module-defaults.json")
    with open(path, "w") as f:
        json.dump(defaults, f)
    return path


def main(a, run_cmd):
    if not os.access(WORKER, os.X_OK):
        log("%s is not built (make)" % WORKER)
        return 2
    short = a.short
    n_workers = a.workers or (3 if short else 8)
    if a.rate is None:
        a.rate = 0.5 if short else 1.85
    if a.duration is None:
        a.duration = 60.0 if short else 600.0
    if a.thresholds == os.path.join(HERE, "thresholds.json") and short:
        a.thresholds = os.path.join(HERE, "thresholds-short.json")
    a.out = os.path.abspath(a.out)   # worker configs want absolute paths
    os.makedirs(a.out, exist_ok=True)
    d = os.path.join(a.out, "stack")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    if not a.sim_defaults:
        a.sim_defaults = module_defaults(d)
    stack = Stack(d, n_workers)
    try:
        stack.check_workers()
        a.url = stack.url
        a.jwt_secret = stack.secret_file
        a.token_url = None
        a.metrics_url = stack.url + "/metrics"
        a.fault_log = stack.faults
        plan = [] if a.no_faults else (SHORT_SCHEDULE if short
                                       else SCHEDULE)
        scale = a.duration / (60.0 if short else 600.0)
        log("%d workers, queue %s, relay %s, s3 %s" % (
            n_workers, stack.url, stack.relay.address, stack.s3proxy.url))
        rc = run_cmd(a, on_start=lambda run: stack.schedule(run, plan,
                                                            scale))
        rejected = list(stack.s3proxy.rejected)
        if rejected:
            log("S3 relay refused %d signatures: %s" % (len(rejected),
                                                       rejected[:3]))
            rc = rc or 1
        return rc
    finally:
        stack.stop()
