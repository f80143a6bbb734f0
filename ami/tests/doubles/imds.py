# test double: the EC2 instance metadata service with IMDSv2 required (no real
# IMDS runs off EC2). A PUT /latest/api/token gives a session token; a GET
# without a valid token is refused with 401, as on IMDSv2-only instances.
# Every request is appended to --log as one JSON line.
"""IMDSv2 double for the first-boot tests."""

import argparse
import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
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

    tokens = set()
    lock = threading.Lock()
    with open(args.user_data, "rb") as f:
        user_data = f.read()
    creds = json.dumps({
        "Code": "Success", "Type": "AWS-HMAC",
        "AccessKeyId": args.access_key,
        "SecretAccessKey": args.secret_key,
        "Token": args.session_token,
        "Expiration": "2099-01-01T00:00:00Z",
    }).encode()
    paths = {
        "/latest/user-data": user_data,
        "/latest/meta-data/instance-id": args.instance_id.encode(),
        "/latest/meta-data/placement/region": args.region.encode(),
        "/latest/meta-data/iam/security-credentials/": args.role.encode(),
        "/latest/meta-data/iam/security-credentials/" + args.role: creds,
    }
    if args.lifecycle_state:
        paths["/latest/meta-data/autoscaling/target-lifecycle-state"] = \
            args.lifecycle_state.encode()

    class Handler(BaseHTTPRequestHandler):
        def record(self, status, token):
            with lock, open(args.log, "a") as f:
                f.write(json.dumps({"method": self.command,
                                    "path": self.path, "token": token,
                                    "status": status}) + "\n")

        def answer(self, status, body=b""):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if self.path != "/latest/api/token":
                status, body = 404, b""
            elif args.refuse_tokens:
                status, body = 403, b""
            elif not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                status, body = 400, b""
            else:
                tok = secrets.token_urlsafe(32)
                with lock:
                    tokens.add(tok)
                status, body = 200, tok.encode()
            self.record(status, None)
            self.answer(status, body)

        def do_GET(self):
            tok = self.headers.get("X-aws-ec2-metadata-token")
            with lock:
                valid = tok in tokens
            if not valid:
                status, body = 401, b""
            elif self.path in paths:
                status, body = 200, paths[self.path]
            else:
                status, body = 404, b""
            self.record(status, "valid" if valid else
                        ("invalid" if tok else None))
            self.answer(status, body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
