"""The `ib-queue` client subcommands: they talk to a running server's admin
API (/api/queue/v1) over HTTP, HTTPS (optionally with a client certificate)
or a unix socket. Exit codes: 0 done, 1 the job failed or was canceled
(wait), 2 timeout (wait), 3 the queue refused or could not be reached.
"""

import base64
import hashlib
import hmac
import http.client
import json
import socket
import ssl
import sys
import time
import urllib.parse

API = "/api/queue/v1"
ADMIN_TOKEN_TTL = 300


def admin_token(secret_path, ttl=ADMIN_TOKEN_TTL):
    """A short-lived HS256 admin token signed with the server's
    --jwt-secret file (a trailing newline is not part of the secret)."""
    with open(secret_path, "rb") as f:
        secret = f.read().rstrip(b"\r\n")

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"exp": int(time.time()) + ttl,
                             "sub": "ib-queue-cli",
                             "ib_queue_admin": True}).encode())
    sig = hmac.new(secret, ("%s.%s" % (head, claims)).encode(),
                   hashlib.sha256).digest()
    return "%s.%s.%s" % (head, claims, b64(sig))


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class QueueError(Exception):
    pass


class Client:
    def __init__(self, args):
        self.args = args

    def _conn(self, timeout):
        a = self.args
        if a.client_unix:
            return UnixConnection(a.client_unix, timeout)
        u = urllib.parse.urlsplit(a.url)
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=a.cacert)
            if a.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if a.cert:
                ctx.load_cert_chain(a.cert, a.key)
            return http.client.HTTPSConnection(u.hostname, u.port or 443,
                                               timeout=timeout, context=ctx)
        return http.client.HTTPConnection(u.hostname, u.port or 80,
                                          timeout=timeout)

    def call(self, method, path, body=None, timeout=60, out=None):
        """JSON answer of an admin call; with out, stream the body there."""
        try:
            conn = self._conn(timeout)
            headers = {}
            if getattr(self.args, "client_jwt_secret", None):
                headers["Authorization"] = "Bearer " + admin_token(
                    self.args.client_jwt_secret)
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, API + path, body=data, headers=headers)
            resp = conn.getresponse()
            if resp.status < 300 and out is not None:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        return None
                    out.write(chunk)
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise QueueError("cannot reach the queue: %s" % e)
        finally:
            try:
                conn.close()
            except UnboundLocalError:
                pass
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = raw.decode(errors="replace")
        if resp.status >= 300:
            reason = value.get("reason") if isinstance(value, dict) else value
            raise QueueError("%s %s: %d %s" % (method, path, resp.status,
                                               reason))
        return value


def _args_value(text):
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    return json.loads(text)


def cmd_enqueue(c, a):
    body = {"type": a.type, "args": _args_value(a.args), "arch": a.arch,
            "depends": a.depends or []}
    print(c.call("POST", "/jobs", body)["id"])


def cmd_compose(c, a):
    ids = c.call("POST", "/composes", _args_value(a.request))
    print(ids["id"])
    if a.verbose:
        print("depsolve %s, manifest %s" % (ids["depsolve"], ids["manifest"]),
              file=sys.stderr)


def cmd_list(c, a):
    rows = c.call("GET", "/jobs")
    fmt = "%-36s  %-18s  %-8s  %-24s  %s"
    print(fmt % ("ID", "TYPE", "STATE", "CREATED", "REQUEUES"))
    for r in rows:
        print(fmt % (r["id"], r["type"], r["state"], r["created"],
                     r["requeues"]))


def cmd_show(c, a):
    print(json.dumps(c.call("GET", "/jobs/" + a.id), indent=2))


def cmd_result(c, a):
    print(json.dumps(c.call("GET", "/jobs/%s/result" % a.id), indent=2))


def cmd_wait(c, a):
    deadline = None if a.timeout is None else time.monotonic() + a.timeout
    while True:
        step = 60.0
        if deadline is not None:
            step = max(0.0, min(step, deadline - time.monotonic()))
        job = c.call("GET", "/jobs/%s/wait?timeout=%g" % (a.id, step),
                     timeout=step + 30)
        state = job["state"]
        if state in ("success", "failure", "canceled"):
            print(state)
            return 0 if state == "success" else 1
        if deadline is not None and time.monotonic() >= deadline:
            print("timeout (job %s)" % state, file=sys.stderr)
            return 2


def _progress_text(p):
    """A JobProgress as one short line: "message done/total; sub ..."."""
    if not isinstance(p, dict):
        return ""
    out = "%s %s/%s" % (_clean(p.get("message")), p.get("done", 0),
                        p.get("total", 0))
    sub = p.get("sub_progress")
    if isinstance(sub, dict):
        out += "; %s %s/%s" % (_clean(sub.get("message")),
                               sub.get("done", 0), sub.get("total", 0))
    return out


def _clean(text, limit=80):
    """Text from a worker, for one terminal line: printable, bounded."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text or ""))
    return text[:limit]


def watch_line(c, job_id):
    """One line for the job and the chain before it (a compose's depsolve
    and manifest): each job's type and state; the running one's progress;
    the artifacts received so far. Returns (line, state of the job)."""
    job = c.call("GET", "/jobs/" + job_id)
    parts = []
    for dep in job.get("dependencies") or []:
        d = c.call("GET", "/jobs/" + dep)
        parts.append("%s %s" % (_clean(d["type"]), d["state"]))
    me = "%s %s" % (_clean(job["type"]), job["state"])
    if job["state"] == "running" and job.get("progress"):
        me += ": " + _progress_text(job["progress"])
    for art in job.get("artifacts") or []:
        me += ", %s %d bytes" % (_clean(art["name"]), art["size"])
    parts.append(me)
    return " -> ".join(parts), job["state"]


def cmd_watch(c, a):
    start = time.monotonic()
    deadline = None if a.timeout is None else start + a.timeout
    last = None
    while True:
        line, state = watch_line(c, a.id)
        if line != last:
            print("[%4ds] %s" % (time.monotonic() - start, line), flush=True)
            last = line
        if state in ("success", "failure", "canceled"):
            print(state)
            return 0 if state == "success" else 1
        if deadline is not None and time.monotonic() >= deadline:
            print("timeout (job %s)" % state, file=sys.stderr)
            return 2
        time.sleep(a.interval)


def cmd_cancel(c, a):
    print(c.call("POST", "/jobs/%s/cancel" % a.id)["state"])


def cmd_artifact(c, a):
    with open(a.output, "wb") as f:
        c.call("GET", "/jobs/%s/artifacts/%s" %
               (a.id, urllib.parse.quote(a.name, safe="")), out=f,
               timeout=600)


def cmd_events(c, a):
    for e in c.call("GET", "/events?since=%d&timeout=%g" %
                    (a.since, a.timeout), timeout=a.timeout + 30):
        print(json.dumps(e))


def cmd_workers(c, a):
    print(json.dumps(c.call("GET", "/workers"), indent=2))


def add_parsers(sub):
    p = sub.add_parser("enqueue", help="add a job, print its id")
    p.add_argument("--type", required=True)
    p.add_argument("--args", required=True, help="JSON, or @FILE")
    p.add_argument("--arch", default="x86_64")
    p.add_argument("--depends", nargs="+", metavar="JOB_ID")
    p.set_defaults(fn=cmd_enqueue)
    p = sub.add_parser("compose", help="request an image: depsolve, "
                       "manifest and build jobs; prints the build job's id")
    p.add_argument("request", help="JSON, or @FILE: distribution, "
                   "image_type, packages, customizations, targets")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(fn=cmd_compose)
    sub.add_parser("list", help="table of jobs").set_defaults(fn=cmd_list)
    for name, fn, text in (("show", cmd_show, "a job as JSON"),
                           ("result", cmd_result, "a finished job's result"),
                           ("cancel", cmd_cancel, "cancel a job")):
        p = sub.add_parser(name, help=text)
        p.add_argument("id")
        p.set_defaults(fn=fn)
    p = sub.add_parser("wait", help="wait for a job to finish")
    p.add_argument("id")
    p.add_argument("--timeout", type=float)
    p.set_defaults(fn=cmd_wait)
    p = sub.add_parser("watch", help="wait for a job, printing a line each "
                       "time it or the jobs before it move on")
    p.add_argument("id")
    p.add_argument("--timeout", type=float)
    p.add_argument("--interval", type=float, default=1.0)
    p.set_defaults(fn=cmd_watch)
    p = sub.add_parser("artifact", help="download an artifact")
    p.add_argument("id")
    p.add_argument("name")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(fn=cmd_artifact)
    p = sub.add_parser("events", help="events after a sequence number")
    p.add_argument("--since", type=int, default=0)
    p.add_argument("--timeout", type=float, default=0)
    p.set_defaults(fn=cmd_events)
    sub.add_parser("workers", help="registered workers") \
        .set_defaults(fn=cmd_workers)


def run(args):
    try:
        return args.fn(Client(args), args) or 0
    except QueueError as e:
        print("ib-queue: %s" % e, file=sys.stderr)
        return 3
    except (OSError, ValueError) as e:
        print("ib-queue: %s" % e, file=sys.stderr)
        return 3
