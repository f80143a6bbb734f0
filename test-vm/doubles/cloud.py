#!/usr/bin/python3
# TEST DOUBLE of the AWS side of one worker instance, for test-vm's deploy
# cases: the instance metadata service (IMDSv2 only, serving the user data
# the worker-fleet module renders), Auto Scaling (the instance's group and
# termination hook, SetInstanceHealth), Secrets Manager (GetSecretValue) and
# CloudWatch Logs (the log group's streams: CreateLogStream, PutLogEvents,
# DescribeLogStreams). No AWS control plane can run here.
"""The cloud of one instance for ib-vmtest's deploy and broken-builder cases.

  cloud.py --dir DIR --config CONFIG.json

CONFIG: {"host_ip": the host as the guest sees it, "tfvars": the module's
variables (composer_address, secrets, ...; service_endpoints is filled in
here with this process's ports), "secrets": {name: SecretString},
"instance_id", "region", "s3_endpoint" (optional)}.

The user data is rendered once, by `terraform console` on the module's own
variables.tf and userdata.tf (terraform/tests/lib/tfcheck.py), into
DIR/user-data.json. DIR/ports.json tells the harness the ports (imds: the
port the guest's 169.254.169.254:80 is forwarded to). DIR/state.json is
rewritten after every call: the Auto Scaling calls and refusals, the
secrets read, the log events by stream, IMDSv1 attempts. The harness asks
for a scale-in by creating DIR/terminate: the group then waits on the
termination hook (Terminating:Wait) and IMDS says Terminated, as AWS does.

Auto Scaling is worker/tests/doubles/autoscaling.py's Fleet (SigV4 checked,
AWS's rules for protection and the lifecycle hook) with SetInstanceHealth
added; requests to Secrets Manager and CloudWatch Logs are SigV4-checked
with worker/tests/doubles/sigv4.py against the instance role's keys.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "worker", "tests", "lib"))
sys.path.insert(0, os.path.join(TOP, "terraform", "tests", "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import autoscaling  # noqa: E402
import sigv4  # noqa: E402
import tfcheck  # noqa: E402
from loopback import Refused  # noqa: E402

# CloudWatch Logs' PutLogEvents limits (the API reference).
LOGS_MAX_EVENTS = 10000
LOGS_MAX_BYTES = 1048576
LOGS_EVENT_OVERHEAD = 26
LOGS_MAX_SPAN_MS = 24 * 3600 * 1000


def render_user_data(tfvars):
    """local.user_data of the worker-fleet module, by `terraform console` on
    copies of its variables.tf and userdata.tf (no provider needed).
    Returns (document, undeclared variables, None) or (None, [], why)."""
    module = os.path.join(TOP, "terraform", "modules", "worker-fleet")
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("variables.tf", "userdata.tf"):
            shutil.copy(os.path.join(module, f), tmp)
        with open(os.path.join(tmp, "t.tfvars.json"), "w") as f:
            json.dump(tfvars, f)
        env = tfcheck.terraform_env(tmp)
        r = subprocess.run(["terraform", "init", "-backend=false",
                            "-input=false", "-no-color"], cwd=tmp, env=env,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            return None, [], "terraform init: " + r.stderr[-800:]
        r = subprocess.run(["terraform", "console", "-no-color",
                            "-var-file=t.tfvars.json"], cwd=tmp, env=env,
                           input="local.user_data\n", capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            return None, [], r.stdout[-800:] + r.stderr[-800:]
        undeclared = [v for v in tfvars if 'variable named "%s"' % v
                      in r.stdout + r.stderr]
        lines = [x for x in r.stdout.splitlines() if x.startswith('"')]
        if not lines:
            return None, [], "no value: " + r.stdout[-800:]
        return json.loads(json.loads(lines[-1])), undeclared, None


class Fleet(autoscaling.Fleet):
    """The recorded group double, plus SetInstanceHealth and the user data
    in IMDS."""

    user_data = ""
    health = []

    def _metadata(self, path):
        if path == "/latest/user-data":
            return self.user_data
        return super()._metadata(path)

    def _a_SetInstanceHealth(self, p):
        if p.get("InstanceId") != self.instance_id:
            raise Refused(400, "ValidationError",
                                       "Instance Id not found - %s" %
                                       p.get("InstanceId"))
        if p.get("HealthStatus") not in ("Healthy", "Unhealthy"):
            raise Refused(400, "ValidationError",
                                       "HealthStatus")
        self.health.append(p.get("HealthStatus"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--config", required=True)
    args = ap.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    tfvars = cfg["tfvars"]
    region = cfg.get("region", "eu-test-1")

    fleet = Fleet(group=tfvars.get("name", "ib-worker"),
                  hook="%s-drain" % tfvars.get("name", "ib-worker"),
                  region=region, tags_in_metadata=False)
    fleet.instance_id = cfg.get("instance_id", fleet.instance_id)
    # STS session tokens are base64 (first boot refuses anything else);
    # the group double's "session-HEX" is not.
    fleet.session_token = base64.b64encode(os.urandom(96)).decode()
    fleet.health = []
    lock = fleet.lock
    secrets_read = []
    streams = {}          # stream -> [{"timestamp", "message"}]
    refused = []          # (service.action, kind)
    log_group = "/ib-worker/%s" % tfvars.get("name", "ib-worker")
    keys = {fleet.access_key: (fleet.secret, fleet.session_token)}

    def write_state():
        with lock:
            st = {"group_state": fleet.state, "target": fleet.target,
                  "protected": fleet.protected,
                  "calls": [[round(t, 3), a, p] for t, a, p in fleet.calls],
                  "rejected": fleet.rejected, "health": fleet.health,
                  "imds_v1": fleet.v1_attempts,
                  "imds_tokens": len(fleet.imds.tokens),
                  "imds_gets": list(fleet.imds_gets),
                  "secrets_read": secrets_read, "refused": refused,
                  "log_group": log_group, "streams": streams,
                  "time": time.time()}
            data = json.dumps(st)
        tmp = os.path.join(args.dir, "state.json.tmp")
        with open(tmp, "w") as f:
            f.write(data)
        os.rename(tmp, os.path.join(args.dir, "state.json"))

    def put_log_events(req):
        if req.get("logGroupName") != log_group:
            raise Refused(400, "ResourceNotFoundException",
                          "The specified log group does not exist.")
        name = req.get("logStreamName")
        if name not in streams:
            raise Refused(400, "ResourceNotFoundException",
                          "The specified log stream does not exist.")
        evs = req.get("logEvents")
        if not isinstance(evs, list) or not evs:
            raise Refused(400, "InvalidParameterException", "logEvents")
        if len(evs) > LOGS_MAX_EVENTS:
            raise Refused(400, "InvalidParameterException",
                          "too many log events in the batch")
        size, last = 0, None
        for e in evs:
            if not isinstance(e, dict) or \
                    not isinstance(e.get("timestamp"), int) or \
                    not isinstance(e.get("message"), str) or \
                    not e["message"]:
                raise Refused(400, "InvalidParameterException",
                              "a log event needs a timestamp and a message")
            if last is not None and e["timestamp"] < last:
                raise Refused(400, "InvalidParameterException",
                              "Log events in a single PutLogEvents request "
                              "must be in chronological order.")
            last = e["timestamp"]
            size += len(e["message"].encode()) + LOGS_EVENT_OVERHEAD
        if size > LOGS_MAX_BYTES:
            raise Refused(400, "InvalidParameterException",
                          "the batch is over 1,048,576 bytes")
        if evs[-1]["timestamp"] - evs[0]["timestamp"] > LOGS_MAX_SPAN_MS:
            raise Refused(400, "InvalidParameterException",
                          "the batch spans more than 24 hours")
        now = time.time() * 1000
        kept, too_new = [], None
        for i, e in enumerate(evs):
            if e["timestamp"] > now + 2 * 3600 * 1000:
                too_new = i if too_new is None else too_new
                continue
            kept.append({"timestamp": e["timestamp"],
                         "message": e["message"]})
        streams[name].extend(kept)
        out = {"nextSequenceToken": uuid.uuid4().hex}
        if too_new is not None:
            out["rejectedLogEventsInfo"] = {"tooNewLogEventStartIndex":
                                            too_new}
        return out

    def logs(action, req):
        if action == "CreateLogStream":
            if req.get("logGroupName") != log_group:
                raise Refused(400, "ResourceNotFoundException",
                              "The specified log group does not exist.")
            name = req.get("logStreamName")
            if not isinstance(name, str) or not 1 <= len(name) <= 512 or \
                    ":" in name or "*" in name:
                raise Refused(400, "InvalidParameterException",
                              "logStreamName")
            if name in streams:
                raise Refused(400, "ResourceAlreadyExistsException",
                              "The specified log stream already exists")
            streams[name] = []
            return {}
        if action == "PutLogEvents":
            return put_log_events(req)
        if action == "DescribeLogStreams":
            if req.get("logGroupName") != log_group:
                raise Refused(400, "ResourceNotFoundException",
                              "The specified log group does not exist.")
            pre = req.get("logStreamNamePrefix") or ""
            return {"logStreams": [{"logStreamName": n,
                                    "arn": "arn:aws:logs:%s:123456789012:"
                                    "log-group:%s:log-stream:%s" % (
                                        region, log_group, n)}
                                   for n in sorted(streams)
                                   if n.startswith(pre)]}
        raise Refused(400, "UnknownOperationException", action)

    def secretsmanager(action, req):
        if action != "GetSecretValue":
            raise Refused(400, "UnknownOperationException", action)
        sid = req.get("SecretId")
        secrets_read.append(sid)
        if sid not in cfg.get("secrets", {}):
            raise Refused(400, "ResourceNotFoundException",
                          "Secrets Manager can't find the specified secret.")
        return {"ARN": "arn:aws:secretsmanager:%s:123456789012:secret:%s"
                       % (region, sid), "Name": sid,
                "SecretString": cfg["secrets"][sid], "VersionId": "v1",
                "VersionStages": ["AWSCURRENT"]}

    prefixes = {"Logs_20140328": ("logs", logs),
                "secretsmanager": ("secretsmanager", secretsmanager)}

    class Json(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, status, doc):
            b = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(b)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(b)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            target = self.headers.get("X-Amz-Target", "")
            prefix, _, action = target.partition(".")
            what = "%s.%s" % (prefix, action)
            try:
                if prefix not in prefixes:
                    raise Refused(400, "UnknownOperationException", target)
                service, fn = prefixes[prefix]
                _, why = sigv4.verify_request(
                    "POST", self.path, list(self.headers.items()), body,
                    keys, region, service)
                if why is not None:
                    raise Refused(403, why.split(":")[0], why)
                try:
                    req = json.loads(body)
                except ValueError:
                    raise Refused(400, "SerializationException", "not JSON")
                if not isinstance(req, dict):
                    raise Refused(400, "SerializationException", "not an "
                                  "object")
                with lock:
                    out = fn(action, req)
            except Refused as e:
                with lock:
                    refused.append([what, e.code, e.message])
                write_state()
                return self.answer(e.status, {"__type": e.code,
                                              "message": e.message})
            write_state()
            self.answer(200, out)

    api = ThreadingHTTPServer(("127.0.0.1", 0), Json)
    api.daemon_threads = True
    threading.Thread(target=api.serve_forever, daemon=True).start()

    host = cfg["host_ip"]
    endpoints = {
        "secretsmanager": "http://%s:%d" % (host, api.server_address[1]),
        "logs": "http://%s:%d" % (host, api.server_address[1]),
        "autoscaling": "http://%s:%d" % (host, fleet.port),
    }
    if cfg.get("s3_endpoint"):
        endpoints["s3"] = cfg["s3_endpoint"]
    tfvars = dict(tfvars, service_endpoints=endpoints)
    doc, undeclared, why = render_user_data(tfvars)
    if doc is None:
        sys.stderr.write("cloud.py: terraform refused the variables:\n%s\n"
                         % why)
        return 1
    fleet.user_data = json.dumps(doc)
    with open(os.path.join(args.dir, "user-data.json"), "w") as f:
        f.write(fleet.user_data)
    # Every call the Fleet double records goes into the state file too.
    orig_api = fleet._handle

    def recorded(h):
        orig_api(h)
        write_state()
    fleet._handle = recorded
    write_state()
    ports = {"undeclared": undeclared,"imds": fleet.imds.port,
             "api": api.server_address[1],
             "autoscaling": fleet.port}
    tmp = os.path.join(args.dir, "ports.json.tmp")
    with open(tmp, "w") as f:
        json.dump(ports, f)
    os.rename(tmp, os.path.join(args.dir, "ports.json"))
    sys.stderr.write("cloud.py: ports %s, user data %s\n" % (
        json.dumps(ports), fleet.user_data))

    term = os.path.join(args.dir, "terminate")
    seen = (0, 0)
    while True:
        # IMDS requests go to the state file too (within 0.2 s).
        with lock:
            now = (len(fleet.imds.tokens), len(fleet.imds_gets))
        if now != seen:
            seen = now
            write_state()
        if os.path.exists(term):
            os.unlink(term)
            fleet.terminate()
            sys.stderr.write("cloud.py: scale-in: Terminating:Wait\n")
            write_state()
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
