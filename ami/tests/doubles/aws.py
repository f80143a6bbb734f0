# test double: AWS Secrets Manager (GetSecretValue) and autoscaling
# (SetInstanceHealth) on one loopback port, since no AWS control plane can run
# here. Every request must carry a valid SigV4 signature, recomputed with the
# known secret key (sigv4.py), and the role's session token; the calls are
# appended to --log and the SetInstanceHealth calls to --health-log.
"""Secrets Manager + autoscaling double for the first-boot tests."""

import argparse
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4  # noqa: E402


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
    keys = {args.access_key: args.secret_key}
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
            err, auth = sigv4.verify("POST", self.path,
                                     self.headers.items(), body, keys,
                                     now=time.time())
            service = auth["service"] if auth else None
            entry = {"path": self.path, "service": service,
                     "signature": err or "ok",
                     "target": self.headers.get("X-Amz-Target"),
                     "signed": auth["signed"] if auth else None}
            if err is None and auth["region"] != args.region:
                err = "InvalidSignatureException"
            if err is None and self.headers.get("X-Amz-Security-Token") \
                    != args.session_token:
                err = "UnrecognizedClientException"
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
