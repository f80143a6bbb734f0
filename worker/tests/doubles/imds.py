#!/usr/bin/python3
# TEST DOUBLE of the EC2 instance metadata service with IMDSv2 required; no real IMDS runs off EC2.
"""IMDSv2 on loopback, the one double every test uses.

A PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds in
1..21600 gives a session token; a GET must carry a token it gave, else it
is refused with 401 as on an IMDSv2-only instance (a GET with no token at
all counts as an IMDSv1 attempt). What a GET answers comes from the
caller: a dict path -> body, or a function path -> body or None (404).

In a test: ImdsDouble(metadata), then .url, .requests ((method, path)),
.gets (GET paths), .v1_attempts, .stop(). Run as a program (the first-boot
tests run it beside the script under test) it serves the paths an
instance of an Auto Scaling group sees and logs each request as a JSON
line; see --help.
"""

import argparse
import json
import os
import secrets
import threading

import loopback

CREDS = "/latest/meta-data/iam/security-credentials/"


def role_paths(role, access_key, secret_key, session_token):
    """The two paths that give an instance role's credentials."""
    return {CREDS: role, CREDS + role: json.dumps({
        "Code": "Success", "LastUpdated": "2026-01-01T00:00:00Z",
        "Type": "AWS-HMAC", "AccessKeyId": access_key,
        "SecretAccessKey": secret_key, "Token": session_token,
        "Expiration": "2099-01-01T00:00:00Z"})}


class ImdsDouble:
    """IMDSv2 at self.url. refuse_tokens answers 403 to every token PUT;
    record(method, path, status, token) is called for each request, token
    being None (none sent), "valid" or "invalid"."""

    def __init__(self, metadata, refuse_tokens=False, record=None):
        self.lock = threading.Lock()
        self.tokens = set()
        self.v1_attempts = 0
        self.requests = []
        lookup = metadata if callable(metadata) else metadata.get
        outer = self

        class H(loopback.Handler):
            def answer(self, status, body, token=None):
                if record:
                    record(self.command, self.path, status, token)
                self.send(status, body, "text/plain")

            def do_PUT(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                with outer.lock:
                    outer.requests.append(("PUT", self.path))
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                if self.path != "/latest/api/token":
                    return self.answer(404, "Not Found")
                if refuse_tokens:
                    return self.answer(403, "Forbidden")
                if not ttl or not ttl.isdigit() or \
                        not 1 <= int(ttl) <= 21600:
                    return self.answer(400, "Bad Request")
                t = secrets.token_urlsafe(32)
                with outer.lock:
                    outer.tokens.add(t)
                self.answer(200, t)

            def do_GET(self):
                tok = self.headers.get("X-aws-ec2-metadata-token")
                with outer.lock:
                    outer.requests.append(("GET", self.path))
                    if tok is None:
                        outer.v1_attempts += 1
                    valid = tok in outer.tokens
                state = "valid" if valid else ("invalid" if tok else None)
                if not valid:
                    return self.answer(401, "Unauthorized", state)
                body = lookup(self.path)
                if body is None:
                    return self.answer(404, "Not Found", state)
                self.answer(200, body, state)

        self.server = loopback.start(H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    @property
    def gets(self):
        with self.lock:
            return [p for m, p in self.requests if m == "GET"]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def main():
    ap = argparse.ArgumentParser(description="IMDSv2 test double")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--user-data", required=True, help="file served as is")
    ap.add_argument("--region", default="eu-west-1")
    ap.add_argument("--instance-id", default="i-0123456789abcdef0")
    ap.add_argument("--role", default="ib-worker")
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--session-token", required=True)
    ap.add_argument("--refuse-tokens", action="store_true",
                    help="answer 403 to every token PUT")
    ap.add_argument("--lifecycle-state",
                    help="autoscaling/target-lifecycle-state (default: "
                    "404, as for an instance in no group)")
    args = ap.parse_args()

    with open(args.user_data, "rb") as f:
        paths = {"/latest/user-data": f.read()}
    paths["/latest/meta-data/instance-id"] = args.instance_id
    paths["/latest/meta-data/placement/region"] = args.region
    paths.update(role_paths(args.role, args.access_key, args.secret_key,
                            args.session_token))
    if args.lifecycle_state:
        paths["/latest/meta-data/autoscaling/target-lifecycle-state"] = \
            args.lifecycle_state
    lock = threading.Lock()

    def record(method, path, status, token):
        with lock, open(args.log, "a") as f:
            f.write(json.dumps({"method": method, "path": path,
                                "token": token, "status": status}) + "\n")

    imds = ImdsDouble(paths, args.refuse_tokens, record)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(imds.port))
    os.rename(args.port_file + ".tmp", args.port_file)
    threading.Event().wait()


if __name__ == "__main__":
    main()
