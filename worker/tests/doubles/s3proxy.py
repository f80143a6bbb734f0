# TEST DOUBLE layer in front of the real S3 server (s3rver): checks every request's SigV4 signature.
"""s3rver does not verify signatures, so this proxy does, as S3 would
(Authorization header or presigned query, x-amz-content-sha256 against
the body), then forwards to s3rver. It also records the operations and
injects the faults tests ask for (SlowDown, InternalError per operation),
and answers AbortMultipartUpload itself because s3rver lacks it."""

import hashlib
import http.client
import threading
import urllib.parse

import loopback
import sigv4


def s3_error(code, message, status):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
            '<Message>%s</Message><RequestId>proxy</RequestId></Error>'
            % (code, message)).encode()
    return status, body


def operation(method, target):
    path, _, query = target.partition("?")
    q = dict(sigv4.parse_query(query))
    if method == "POST" and "uploads" in q:
        return "CreateMultipartUpload"
    if method == "PUT" and "partNumber" in q:
        return "UploadPart"
    if method == "POST" and "uploadId" in q:
        return "CompleteMultipartUpload"
    if method == "DELETE" and "uploadId" in q:
        return "AbortMultipartUpload"
    return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
            "DELETE": "DeleteObject"}.get(method, method)


class S3Proxy(loopback.Service):
    def __init__(self, upstream_port, secrets, region="us-east-1"):
        self.upstream = ("127.0.0.1", upstream_port)
        self.secrets = secrets          # access key -> (secret, token)
        self.region = region
        self.lock = threading.Lock()
        self.ops = []                   # (operation, path, status)
        self.rejected = []              # reasons of refused requests
        self.faults = {}                # operation -> [(status, code)]
        self.seen_headers = []
        self.serve(("GET", "PUT", "POST", "DELETE", "HEAD"))

    def inject(self, op, status, code, count=1):
        with self.lock:
            self.faults.setdefault(op, []).extend([(status, code)] * count)

    def count(self, op, status=None):
        with self.lock:
            return sum(1 for o, _, s in self.ops
                       if o == op and (status is None or s == status))

    def _reply(self, h, status, body, headers=()):
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        if not any(k.lower() == "content-length" for k, _ in headers):
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def _handle(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        headers = list(h.headers.items())
        op = operation(h.command, h.path)
        with self.lock:
            self.seen_headers.append((op, dict((k.lower(), v)
                                               for k, v in headers)))
        if "X-Amz-Signature=" in h.path:
            ak, why = sigv4.verify_presigned(h.command, h.path, headers,
                                             self.secrets, self.region, "s3")
        else:
            ak, why = sigv4.verify_request(
                h.command, h.path, headers, None, self.secrets, self.region,
                "s3", s3=True, body_hash=hashlib.sha256(body).hexdigest())
        if why is not None:
            code, _, msg = why.partition(":")
            with self.lock:
                self.rejected.append(why)
                self.ops.append((op, h.path, 403))
            status, b = s3_error(code, msg.strip() or code, 403)
            return self._reply(h, status, b, [("Content-Type",
                                               "application/xml")])
        with self.lock:
            fault = self.faults.get(op, [])
            f = fault.pop(0) if fault else None
        if f is not None:
            with self.lock:
                self.ops.append((op, h.path, f[0]))
            status, b = s3_error(f[1], "injected by the test", f[0])
            return self._reply(h, status, b, [("Content-Type",
                                               "application/xml")])
        if op == "AbortMultipartUpload":
            with self.lock:
                self.ops.append((op, h.path, 204))
            return self._reply(h, 204, b"")
        c = http.client.HTTPConnection(*self.upstream, timeout=120)
        fwd = {k: v for k, v in headers if k.lower() not in
               ("connection", "expect", "transfer-encoding")}
        # s3rver knows one key only; the signature was checked here.
        path = h.path.replace("X-Amz-Credential=%s%%2F" % ak,
                              "X-Amz-Credential=S3RVER%2F")
        for k in fwd:
            if k.lower() == "authorization":
                fwd[k] = fwd[k].replace("Credential=%s/" % ak,
                                        "Credential=S3RVER/")
        c.request(h.command, path, body=body if n else None, headers=fwd)
        r = c.getresponse()
        rb = r.read()
        out = [(k, v) for k, v in r.getheaders() if k.lower() not in
               ("connection", "transfer-encoding", "content-length",
                "keep-alive")]
        out.append(("Content-Length", r.getheader("Content-Length") or
                    str(len(rb))) if h.command == "HEAD" else
                   ("Content-Length", str(len(rb))))
        with self.lock:
            self.ops.append((op, h.path, r.status))
        c.close()
        self._reply(h, r.status, rb, out)


def split_url(url):
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")
