#!/usr/bin/python3
# TEST DOUBLE of AWS Secrets Manager (GetSecretValue) and Auto Scaling (SetInstanceHealth); no AWS control plane runs here.
"""Secrets Manager and SetInstanceHealth on one loopback port, run as a
program beside the first-boot script under test. Every request must carry
a valid SigV4 signature for the service its credential scope names, in
--region (the project's verifier, sigv4.py), and the role's session token;
the calls are appended to --log and the SetInstanceHealth calls to
--health-log, one JSON line each."""

import argparse
import json
import os
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sigv4


def scope_service(authorization):
    """The service an Authorization header's credential scope names."""
    m = re.search(r"Credential=[^/,]*/[^/,]*/[^/,]*/([^/,]*)/",
                  authorization or "")
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--health-log", required=True)
    ap.add_argument("--secrets", required=True,
                    help="JSON file: secret name -> SecretString")
    ap.add_argument("--region", default="eu-west-1")
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--session-token", required=True)
    ap.add_argument("--fail-secrets", action="store_true",
                    help="answer GetSecretValue with 500 InternalServiceError")
    args = ap.parse_args()

    with open(args.secrets) as f:
        store = json.load(f)
    keys = {args.access_key: (args.secret_key, args.session_token)}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def append(self, path, entry):
            with lock, open(path, "a") as f:
                f.write(json.dumps(entry) + "\n")

        def answer(self, status, ctype, body):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def json_error(self, status, kind):
            self.answer(status, "application/x-amz-json-1.1",
                        json.dumps({"__type": kind,
                                    "message": kind}).encode())

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n) if n > 0 else b""
            service = scope_service(self.headers.get("Authorization"))
            _, err = sigv4.verify_request("POST", self.path,
                                          self.headers.items(), body, keys,
                                          args.region, service or "")
            # AWS's error code is the reason's first word.
            err = err.split(":")[0] if err else None
            entry = {"path": self.path, "service": service,
                     "signature": err or "ok",
                     "target": self.headers.get("X-Amz-Target")}
            if err is not None:
                entry["status"] = 403
                self.append(args.log, entry)
                return self.json_error(403, err)
            if service == "secretsmanager":
                self.secrets_manager(body, entry)
            elif service == "autoscaling":
                self.autoscaling(body, entry)
            else:
                entry["status"] = 400
                self.append(args.log, entry)
                self.json_error(400, "UnknownService")

        def secrets_manager(self, body, entry):
            if self.headers.get("X-Amz-Target") != \
                    "secretsmanager.GetSecretValue":
                status, kind = 400, "InvalidAction"
            elif args.fail_secrets:
                status, kind = 500, "InternalServiceError"
            else:
                try:
                    sid = json.loads(body)["SecretId"]
                except (ValueError, KeyError, TypeError):
                    sid = None
                entry["secret_id"] = sid
                if sid in store:
                    status, kind = 200, None
                else:
                    status, kind = 400, "ResourceNotFoundException"
            entry["status"] = status
            self.append(args.log, entry)
            if kind:
                return self.json_error(status, kind)
            self.answer(200, "application/x-amz-json-1.1", json.dumps({
                "ARN": "arn:aws:secretsmanager:%s:123456789012:secret:%s"
                       % (args.region, sid),
                "Name": sid, "SecretString": store[sid],
                "VersionId": "v1", "VersionStages": ["AWSCURRENT"],
            }).encode())

        def autoscaling(self, body, entry):
            form = dict(urllib.parse.parse_qsl(body.decode()))
            entry["action"] = form.get("Action")
            if form.get("Action") != "SetInstanceHealth":
                entry["status"] = 400
                self.append(args.log, entry)
                return self.json_error(400, "InvalidAction")
            entry["status"] = 200
            self.append(args.log, entry)
            self.append(args.health_log, form)
            self.answer(200, "text/xml",
                        b'<SetInstanceHealthResponse xmlns="http://'
                        b'autoscaling.amazonaws.com/doc/2011-01-01/">'
                        b'<ResponseMetadata><RequestId>1</RequestId>'
                        b'</ResponseMetadata></SetInstanceHealthResponse>')

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
