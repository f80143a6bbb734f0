# Test double of Google's OAuth2 token endpoint, Cloud Storage (JSON API,
# resumable uploads) and Compute Engine (images, global operations, image
# IAM policies): none of them can run here. One loopback HTTP server.
"""It checks what the real services check: the JWT assertion's RS256
signature against the service account's public key (modulus given by the
test), its iss/aud/exp/scope; bearer tokens it issued; resumable upload
offsets and the object's MD5 against the md5Hash announced; etags of IAM
policies. Operations take a few polls to finish. For the retention
clean-up: images.list with a labels.KEY=VALUE filter, maxResults and
pageToken pages; images.delete with its operation; add_image() seeds an
image created at a given time (creationTimestamp in US Pacific time, as
GCE writes it); labels are checked as GCE checks them. Faults are injected by
the test: `throttle` (429s), `chunk_failures` (503 on upload chunks),
`import_error` (the insert operation ends with that error); `chunk_delay`
makes each upload chunk take that many seconds (a slow uplink)."""

import base64
import hashlib
import json
import re
import threading
import time
import urllib.parse

import loopback

SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def gce_time(t=None):
    """t (epoch, default now) as Compute Engine writes creationTimestamp:
    RFC 3339 in US Pacific time (PST here, -08:00), milliseconds."""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t - 8 * 3600)) + \
        ".%03d-08:00" % (int(t * 1000) % 1000)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rs256_ok(n, e, signing_input, sig):
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    em = pow(int.from_bytes(sig, "big"), e, n).to_bytes(k, "big")
    t = SHA256_PREFIX + hashlib.sha256(signing_input).digest()
    want = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return em == want


class GcpDouble:
    def __init__(self, email, project, modulus_hex, buckets=("bkt",),
                 exponent=65537, op_polls=3):
        self.email = email
        self.project = project
        self.n = int(modulus_hex, 16)
        self.e = exponent
        self.op_polls = op_polls
        self.lock = threading.RLock()
        self.buckets = {b: {} for b in buckets}   # name -> {obj: record}
        self.sessions = {}
        self.tokens = set()
        self.images = {}
        self.ops = {}
        self.policies = {}
        self.deleted = []
        self.log = []           # (method, path, status)
        self.assertions = []    # decoded claims of good assertions
        self.rejected = []      # why requests were refused
        self.throttle = {}      # path regex -> count of 429s left
        self.chunk_failures = 0
        self.chunk_delay = 0.0
        self.import_error = None
        self.deleted_images = []    # names, in the order deleted
        self.list_calls = []        # images.list queries
        self.seq = 0
        outer = self

        class H(loopback.Handler):
            def _send(self, status, doc=None, headers=None, raw=None):
                self.json(status, doc, headers, raw)
                with outer.lock:
                    outer.log.append((self.command, self.path, status))

            def _handle(self):
                body = self.body()
                try:
                    outer.route(self, body)
                except Exception as ex:  # a bug in the double: say so
                    self._send(500, {"error": {"code": 500, "message":
                                               "double: %r" % ex}})

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = loopback.start(H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.token_url = self.url + "/token"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def gerr(h, status, message, reason="invalid", state=None):
        h._send(status, {"error": {"code": status, "message": message,
                                   "status": state or "",
                                   "errors": [{"message": message,
                                               "reason": reason}]}})

    def count(self, method, pattern, status=None):
        rx = re.compile(pattern)
        with self.lock:
            return sum(1 for m, p, s in self.log if m == method and
                       rx.search(p) and (status is None or s == status))

    def route(self, h, body):
        u = urllib.parse.urlsplit(h.path)
        path, q = u.path, urllib.parse.parse_qs(u.query)
        if h.command == "POST" and path == "/token":
            return self.token(h, body)
        for rx, left in list(self.throttle.items()):
            if left > 0 and re.search(rx, path):
                self.throttle[rx] = left - 1
                return h._send(429, {"error": {
                    "code": 429, "message": "Rate Limit Exceeded",
                    "status": "RESOURCE_EXHAUSTED"}},
                    headers={"Retry-After": "1"})
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            self.rejected.append("bad bearer on %s %s" % (h.command, path))
            return self.gerr(h, 401, "Request had invalid authentication "
                             "credentials.", "authError", "UNAUTHENTICATED")
        m = re.match(r"^/upload/storage/v1/b/([^/]+)/o$", path)
        if m and h.command == "POST":
            return self.upload_start(h, m.group(1), q, body)
        if m and h.command == "PUT":
            return self.upload_chunk(h, q.get("upload_id", [""])[0], body)
        m = re.match(r"^/storage/v1/b/([^/]+)/o/(.+)$", path)
        if m and h.command == "DELETE":
            b, o = m.group(1), urllib.parse.unquote(m.group(2))
            with self.lock:
                if o in self.buckets.get(b, {}):
                    del self.buckets[b][o]
                    self.deleted.append((b, o))
                    return h._send(204)
            return self.gerr(h, 404, "No such object: %s/%s" % (b, o),
                             "notFound")
        m = re.match(r"^/compute/v1/projects/([^/]+)/global/(.*)$", path)
        if m:
            if m.group(1) != self.project:
                return self.gerr(h, 403, "Required 'compute.images.create' "
                                 "permission for 'projects/%s'" % m.group(1),
                                 "forbidden", "PERMISSION_DENIED")
            return self.compute(h, m.group(2), body)
        self.gerr(h, 404, "double: no route for %s %s" % (h.command, path))

    def token(self, h, body):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(
            body.decode()).items()}
        if form.get("grant_type") != \
                "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return h._send(400, {"error": "unsupported_grant_type"})
        parts = form.get("assertion", "").split(".")
        why = None
        try:
            head = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except Exception:
            head, claims, sig = {}, {}, b""
            why = "malformed assertion"
        now = time.time()
        if why:
            pass
        elif head.get("alg") != "RS256":
            why = "alg is not RS256"
        elif not rs256_ok(self.n, self.e, (parts[0] + "." + parts[1])
                          .encode(), sig):
            why = "Invalid JWT Signature."
        elif claims.get("iss") != self.email:
            why = "Invalid issuer"
        elif claims.get("aud") != self.token_url:
            why = "Invalid JWT: audience"
        elif not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0)):
            why = "Invalid JWT: Token must be a short-lived token"
        elif "cloud-platform" not in claims.get("scope", ""):
            why = "Invalid scope"
        if why:
            self.rejected.append("token: " + why)
            return h._send(400, {"error": "invalid_grant",
                                 "error_description": why})
        with self.lock:
            self.seq += 1
            tok = "ya29.double-%d-%s" % (self.seq, hashlib.sha256(
                parts[2].encode()).hexdigest()[:16])
            self.tokens.add(tok)
            self.assertions.append(claims)
        h._send(200, {"access_token": tok, "expires_in": 3599,
                      "token_type": "Bearer"})

    def upload_start(self, h, bucket, q, body):
        if q.get("uploadType") != ["resumable"]:
            return self.gerr(h, 400, "double: resumable only")
        if bucket not in self.buckets:
            return self.gerr(h, 404, "The specified bucket does not exist.",
                             "notFound")
        meta = json.loads(body or b"{}")
        size = int(h.headers.get("X-Upload-Content-Length", "-1"))
        with self.lock:
            self.seq += 1
            sid = "sess%d" % self.seq
            self.sessions[sid] = {"bucket": bucket, "meta": meta,
                                  "data": bytearray(), "size": size,
                                  "done": None}
        h._send(200, {}, headers={
            "Location": "%s/upload/storage/v1/b/%s/o?uploadType=resumable&"
                        "upload_id=%s" % (self.url, bucket, sid)})

    def upload_chunk(self, h, sid, body):
        if body and self.chunk_delay:
            time.sleep(self.chunk_delay)
        s = self.sessions.get(sid)
        if s is None:
            return self.gerr(h, 404, "No such upload session", "notFound")
        cr = h.headers.get("Content-Range", "")
        m = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", cr)
        star = re.match(r"^bytes \*/(\d+)$", cr)
        if s["done"] is not None:
            return h._send(200, s["done"])
        if star:
            total = int(star.group(1))
            if total == len(s["data"]) and len(body) == 0 and total == 0:
                return self.finish(h, s)
            hdr = {"Range": "bytes=0-%d" % (len(s["data"]) - 1)} \
                if s["data"] else {}
            return h._send(308, headers=hdr)
        if not m:
            return self.gerr(h, 400, "bad Content-Range %r" % cr)
        a, b, total = (int(x) for x in m.groups())
        if b - a + 1 != len(body):
            return self.gerr(h, 400, "Content-Range and body disagree")
        with self.lock:
            if self.chunk_failures > 0:
                self.chunk_failures -= 1
                # Half the chunk arrived before the failure.
                if a == len(s["data"]):
                    s["data"] += body[:len(body) // 2 // 262144 * 262144]
                fail = True
            else:
                fail = False
        if fail:
            return self.gerr(h, 503, "Backend Error", "backendError",
                             "UNAVAILABLE")
        if a != len(s["data"]):
            return self.gerr(h, 400, "double: chunk at %d, expected %d"
                             % (a, len(s["data"])))
        if b + 1 < total and len(body) % 262144 != 0:
            return self.gerr(h, 400, "chunk not a multiple of 256 KiB")
        s["data"] += body
        if len(s["data"]) < total:
            return h._send(308, headers={
                "Range": "bytes=0-%d" % (len(s["data"]) - 1)})
        return self.finish(h, s)

    def finish(self, h, s):
        md5 = base64.b64encode(hashlib.md5(bytes(s["data"])).digest()) \
            .decode()
        want = s["meta"].get("md5Hash")
        if want and want != md5:
            return self.gerr(h, 400, "Provided MD5 hash \"%s\" doesn't match "
                             "calculated MD5 hash \"%s\"." % (want, md5))
        name = s["meta"].get("name")
        obj = {"kind": "storage#object", "name": name,
               "bucket": s["bucket"], "size": str(len(s["data"])),
               "md5Hash": md5, "metadata": s["meta"].get("metadata", {})}
        with self.lock:
            self.buckets[s["bucket"]][name] = {"obj": obj,
                                               "data": bytes(s["data"])}
            s["done"] = obj
        h._send(200, obj)

    def add_image(self, name, created, labels=None):
        """An image of the project created at the epoch time created."""
        with self.lock:
            self.images[name] = {"name": name,
                                 "creationTimestamp": gce_time(created)}
            if labels is not None:
                self.images[name]["labels"] = dict(labels)

    def list_images(self, h):
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(h.path).query))
        f = q.get("filter", "")
        m = re.match(r'^labels\.([a-z][a-z0-9_-]*)\s*=\s*"?([a-z0-9_-]*)"?$',
                     f)
        if f and not m:
            return self.gerr(h, 400, "Invalid value for field 'filter': "
                             "'%s'. Invalid list filter expression." % f)
        try:
            size = int(q.get("maxResults", "500"))
            start = int(q.get("pageToken", "0") or "0")
        except ValueError:
            return self.gerr(h, 400, "Invalid value for field 'pageToken'")
        if not 0 <= size <= 500:
            return self.gerr(h, 400, "Invalid value for field "
                             "'maxResults': must be 0 to 500")
        with self.lock:
            self.list_calls.append(q)
            items = [dict(i) for _, i in sorted(self.images.items())
                     if not m or (i.get("labels") or {}).get(m.group(1)) ==
                     m.group(2)]
        page = items[start:start + size]
        doc = {"kind": "compute#imageList", "id": "projects/%s/global/"
               "images" % self.project}
        if page:
            doc["items"] = page
        if start + size < len(items):
            doc["nextPageToken"] = str(start + size)
        return h._send(200, doc)

    def compute(self, h, rest, body):
        if rest == "images" and h.command == "GET":
            return self.list_images(h)
        m = re.match(r"^images/([^/]+)$", rest)
        if m and h.command == "DELETE":
            name = m.group(1)
            if name not in self.images:
                return self.gerr(h, 404, "The resource 'projects/%s/global/"
                                 "images/%s' was not found" %
                                 (self.project, name), "notFound")
            with self.lock:
                self.seq += 1
                op = {"kind": "compute#operation", "name":
                      "operation-%d-delete" % self.seq, "operationType":
                      "delete", "status": "PENDING", "targetLink":
                      "%s/compute/v1/projects/%s/global/images/%s" %
                      (self.url, self.project, name), "polls": 0,
                      "image": {"name": name}, "error_to_give": None}
                self.ops[op["name"]] = op
            return h._send(200, self.public(op))
        if rest == "images" and h.command == "POST":
            img = json.loads(body)
            name = img.get("name", "")
            src = img.get("rawDisk", {}).get("source", "")
            m = re.match(r"^https://storage\.googleapis\.com/([^/]+)/(.+)$",
                         src)
            if name in self.images:
                return self.gerr(h, 409, "The resource 'projects/%s/global/"
                                 "images/%s' already exists" %
                                 (self.project, name), "alreadyExists",
                                 "ALREADY_EXISTS")
            if not m or m.group(2) not in self.buckets.get(m.group(1), {}):
                return self.gerr(h, 400, "Invalid value for field "
                                 "'resource.rawDisk.source': '%s'" % src)
            if img.get("rawDisk", {}).get("containerType") != "TAR":
                return self.gerr(h, 400, "containerType must be TAR")
            for k, v in (img.get("labels") or {}).items():
                if not re.match(r"^[a-z][a-z0-9_-]{0,62}$", k) or \
                        not re.match(r"^[a-z0-9_-]{0,63}$", str(v)):
                    return self.gerr(h, 400, "Invalid value for field "
                                     "'resource.labels': '%s'" % k)
            with self.lock:
                self.seq += 1
                op = {"kind": "compute#operation", "name":
                      "operation-%d-insert" % self.seq, "operationType":
                      "insert", "status": "PENDING", "targetLink":
                      "%s/compute/v1/projects/%s/global/images/%s" %
                      (self.url, self.project, name), "polls": 0,
                      "image": img, "error_to_give": self.import_error}
                self.ops[op["name"]] = op
            return h._send(200, self.public(op))
        m = re.match(r"^operations/([^/]+)$", rest)
        if m and h.command == "GET":
            op = self.ops.get(m.group(1))
            if op is None:
                return self.gerr(h, 404, "operation not found", "notFound")
            with self.lock:
                op["polls"] += 1
                if op["status"] != "DONE":
                    op["status"] = "RUNNING"
                if op["polls"] >= self.op_polls and op["status"] != "DONE":
                    op["status"] = "DONE"
                    if op["error_to_give"]:
                        op["error"] = {"errors": [{
                            "code": "IMAGE_IMPORT_FAILED",
                            "message": op["error_to_give"]}]}
                        op["httpErrorStatusCode"] = 400
                        op["httpErrorMessage"] = "BAD REQUEST"
                    elif op["operationType"] == "delete":
                        self.images.pop(op["image"]["name"], None)
                        self.deleted_images.append(op["image"]["name"])
                    else:
                        name = op["image"]["name"]
                        self.images[name] = dict(
                            op["image"], creationTimestamp=gce_time())
                        self.policies[name] = {"version": 1,
                                               "etag": "BwXz001=",
                                               "bindings": [{
                                                   "role": "roles/owner",
                                                   "members": [
                                                       "user:owner@x.test"]}]}
            return h._send(200, self.public(op))
        m = re.match(r"^images/([^/]+)/(getIamPolicy|setIamPolicy)$", rest)
        if m:
            name = m.group(1)
            if name not in self.images:
                return self.gerr(h, 404, "The resource 'projects/%s/global/"
                                 "images/%s' was not found" %
                                 (self.project, name), "notFound")
            with self.lock:
                pol = self.policies[name]
                if m.group(2) == "getIamPolicy":
                    return h._send(200, pol)
                new = json.loads(body).get("policy", {})
                if new.get("etag") != pol["etag"]:
                    return self.gerr(h, 412, "etag mismatch",
                                     "conditionNotMet", "FAILED_PRECONDITION")
                new["etag"] = "BwXz%03d=" % (int(pol["etag"][4:7]) + 1)
                self.policies[name] = new
            return h._send(200, new)
        self.gerr(h, 404, "double: no compute route %s %s" %
                  (h.command, rest))

    @staticmethod
    def public(op):
        return {k: v for k, v in op.items()
                if k not in ("polls", "image", "error_to_give")}
