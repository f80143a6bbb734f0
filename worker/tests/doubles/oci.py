# Test double of Oracle Cloud Infrastructure's Object Storage (objects,
# multipart uploads, pre-authenticated requests) and Compute (image import,
# work requests, image capability schemas): neither can run here. One
# loopback HTTP server answers for both services.
"""It checks what OCI checks: every request's HTTP signature (version 1,
rsa-sha256, keyId tenancy/user/fingerprint, the signing string of the
headers named, verified against the API key's public modulus given by the
test), that date, (request-target) and host are signed, and for a JSON body
also x-content-sha256 (checked against the body), content-type and
content-length; a Date within five minutes; namespaces and buckets that
exist; multipart part numbers, ETags and the committed list. Errors are
OCI's JSON {code, message}. Faults set by the test: `throttle` (429s on a
path regex), `import_error` (the work request fails with that message),
`image_limit` (images allowed before LimitExceeded), `fail_part` (that
part number is refused with 400), `part_delay` (seconds each part takes
to be answered)."""

import base64
import email.utils
import hashlib
import json
import re
import threading
import time
import urllib.parse

import loopback

SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def rsa_sha256_ok(n, e, data, sig):
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    em = pow(int.from_bytes(sig, "big"), e, n).to_bytes(k, "big")
    t = SHA256_PREFIX + hashlib.sha256(data).digest()
    return em == b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


class OciDouble:
    def __init__(self, tenancy, user, fingerprint, modulus_hex,
                 namespace="ns1", buckets=("bkt",), exponent=65537,
                 wr_polls=2, min_part=10 << 20):
        self.keyid = "%s/%s/%s" % (tenancy, user, fingerprint)
        self.n, self.e = int(modulus_hex, 16), exponent
        self.namespace = namespace
        self.buckets = {b: {} for b in buckets}     # bucket -> {obj: bytes}
        self.uploads = {}       # uploadId -> {bucket, object, parts}
        self.pars = {}          # access path -> (bucket, object, expires)
        self.images = {}        # id -> request body + state
        self.schemas = []       # capability schema requests
        self.wrs = {}           # id -> {polls, image}
        self.deleted = []       # (bucket, object)
        self.aborted = []       # uploadIds
        self.committed = []     # (object, number of parts)
        self.rejected = []      # why requests were refused
        self.log = []           # (method, path, status)
        self.retry_tokens = []  # opc-retry-token of each POST
        self.throttle = {}
        self.import_error = None
        self.image_limit = None
        self.fail_part = None
        self.part_delay = 0
        self.wr_polls = wr_polls
        self.min_part = min_part
        self.lock = threading.RLock()
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
                except loopback.Refused as r:
                    self._send(r.status, {"code": r.code,
                                          "message": r.message})
                except Exception as ex:  # a bug in the double: say so
                    self._send(500, {"code": "InternalError",
                                     "message": "double: %r" % ex})

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = loopback.start(H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        loopback.stop(self.server)

    def count(self, method, pattern, status=None):
        rx = re.compile(pattern)
        with self.lock:
            return sum(1 for m, p, s in self.log if m == method and
                       rx.search(p) and (status is None or s == status))

    def _next(self, kind):
        with self.lock:
            self.seq += 1
            return "ocid1.%s.oc1.iad.double%06d" % (kind, self.seq)

    # -- the signature -------------------------------------------------
    def _unauth(self, why):
        self.rejected.append(why)
        raise loopback.Refused(401, "NotAuthenticated", "The required "
                               "information to complete authentication "
                               "was not provided or was incorrect.")

    def check_signature(self, h, body):
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Signature "):
            self._unauth("no Signature authorization")
        params = dict(re.findall(r'(\w+)="([^"]*)"', auth[10:]))
        if params.get("version") != "1" or \
                params.get("algorithm") != "rsa-sha256":
            self._unauth("version or algorithm")
        if params.get("keyId") != self.keyid:
            self._unauth("unknown keyId")
        names = params.get("headers", "").split()
        need = ["date", "(request-target)", "host"]
        if h.command in ("POST", "PUT") and not self._is_object_put(h):
            need += ["x-content-sha256", "content-type", "content-length"]
        if any(n not in names for n in need):
            self._unauth("headers not signed: %s" %
                         [n for n in need if n not in names])
        lines = []
        for name in names:
            if name == "(request-target)":
                v = "%s %s" % (h.command.lower(), h.path)
            else:
                v = h.headers.get(name)
                if v is None:
                    self._unauth("signed header %s missing" % name)
            lines.append("%s: %s" % (name, v))
        sig = base64.b64decode(params.get("signature", ""))
        if not rsa_sha256_ok(self.n, self.e, "\n".join(lines).encode(),
                             sig):
            self._unauth("bad signature")
        if "x-content-sha256" in names:
            want = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if h.headers.get("x-content-sha256") != want:
                self._unauth("x-content-sha256 does not match the body")
        when = email.utils.parsedate_to_datetime(h.headers.get("date"))
        if abs(when.timestamp() - time.time()) > 300:
            self._unauth("date skew")

    @staticmethod
    def _is_object_put(h):
        return h.command == "PUT" and re.match(r"^/n/[^/]+/b/[^/]+/[ou]/",
                                               h.path) is not None

    # -- routing -------------------------------------------------------
    def route(self, h, body):
        u = urllib.parse.urlsplit(h.path)
        path, q = u.path, urllib.parse.parse_qs(u.query)
        if h.command == "GET" and path.startswith("/p/"):
            return self.par_get(h, path)
        for rx, left in list(self.throttle.items()):
            if left > 0 and re.search(rx, path):
                self.throttle[rx] = left - 1
                return h._send(429, {"code": "TooManyRequests",
                                     "message": "Too many requests for "
                                     "the tenancy"},
                               headers={"Retry-After": "1"})
        self.check_signature(h, body)
        if h.command == "POST":
            self.retry_tokens.append(h.headers.get("opc-retry-token"))
        m = re.match(r"^/n/([^/]+)/b/([^/]+)/(.*)$", path)
        if m:
            return self.storage(h, m.group(1), m.group(2), m.group(3), q,
                                body)
        if path.startswith("/20160918/"):
            return self.compute(h, path[len("/20160918/"):], q, body)
        raise loopback.Refused(404, "NotFound", "double: no route for %s %s"
                               % (h.command, path))

    def _bucket(self, ns, bucket):
        if ns != self.namespace or bucket not in self.buckets:
            raise loopback.Refused(404, "BucketNotFound", "Either the "
                                   "bucket named '%s' does not exist in the "
                                   "namespace '%s' or you are not "
                                   "authorized to access it" % (bucket, ns))
        return self.buckets[bucket]

    def storage(self, h, ns, bucket, rest, q, body):
        objs = self._bucket(ns, bucket)
        m = re.match(r"^o/(.+)$", rest)
        if m and h.command == "PUT":
            objs[m.group(1)] = bytes(body)
            return h._send(200, headers={"etag": hashlib.md5(
                body).hexdigest()})
        if m and h.command == "DELETE":
            if m.group(1) not in objs:
                raise loopback.Refused(404, "ObjectNotFound", "The object "
                                       "'%s' was not found" % m.group(1))
            del objs[m.group(1)]
            self.deleted.append((bucket, m.group(1)))
            return h._send(204)
        if rest == "u" and h.command == "POST":
            doc = json.loads(body)
            uid = "upl-%d" % len(self.uploads)
            self.uploads[uid] = {"bucket": bucket, "object": doc["object"],
                                 "parts": {}}
            return h._send(200, {"namespace": ns, "bucket": bucket,
                                 "object": doc["object"], "uploadId": uid,
                                 "timeCreated": "2026-01-01T00:00:00Z"})
        m = re.match(r"^u/(.+)$", rest)
        if m:
            up = self.uploads.get(q.get("uploadId", [""])[0])
            if up is None or up["object"] != m.group(1):
                raise loopback.Refused(404, "NoSuchUpload", "The upload "
                                       "does not exist")
            uid = q["uploadId"][0]
            if h.command == "PUT":
                num = int(q.get("uploadPartNum", ["0"])[0])
                if num == self.fail_part:
                    raise loopback.Refused(400, "InvalidParameter",
                                           "double: part %d refused" % num)
                if not 1 <= num <= 10000:
                    raise loopback.Refused(400, "InvalidParameter",
                                           "uploadPartNum out of range")
                time.sleep(self.part_delay)
                etag = hashlib.md5(body).hexdigest() + "-%d" % num
                up["parts"][num] = (etag, bytes(body))
                return h._send(200, headers={"etag": etag})
            if h.command == "POST":
                commit = json.loads(body)["partsToCommit"]
                nums = [p["partNum"] for p in commit]
                if nums != sorted(up["parts"]) or any(
                        up["parts"][p["partNum"]][0] != p["etag"]
                        for p in commit):
                    raise loopback.Refused(400, "InvalidParameter",
                                           "partsToCommit does not match "
                                           "the parts uploaded")
                if any(len(up["parts"][n][1]) < self.min_part
                       for n in nums[:-1]):
                    raise loopback.Refused(400, "InvalidParameter",
                                           "a part but the last is below "
                                           "the minimum size")
                objs[up["object"]] = b"".join(up["parts"][n][1]
                                              for n in nums)
                self.committed.append((up["object"], len(nums)))
                del self.uploads[uid]
                return h._send(200, headers={"etag": "committed"})
            if h.command == "DELETE":
                del self.uploads[uid]
                self.aborted.append(uid)
                return h._send(204)
        if rest == "p/" and h.command == "POST":
            doc = json.loads(body)
            if doc.get("accessType") != "ObjectRead" or \
                    doc.get("objectName") not in objs:
                raise loopback.Refused(400, "InvalidParameter",
                                       "double: ObjectRead of an existing "
                                       "object only")
            access = "/p/par%d-%s/n/%s/b/%s/o/%s" % (
                len(self.pars), hashlib.sha256(body).hexdigest()[:20], ns,
                bucket, doc["objectName"])
            self.pars[access] = (bucket, doc["objectName"],
                                 doc["timeExpires"], doc)
            return h._send(200, {"id": "par%d" % len(self.pars),
                                 "name": doc["name"],
                                 "accessUri": access,
                                 "objectName": doc["objectName"],
                                 "accessType": "ObjectRead",
                                 "timeExpires": doc["timeExpires"]})
        raise loopback.Refused(404, "NotFound", "double: no route for %s %s"
                               % (h.command, rest))

    def par_get(self, h, path):
        if path not in self.pars:
            raise loopback.Refused(404, "NotFound", "no such PAR")
        bucket, obj = self.pars[path][:2]
        data = self.buckets[bucket].get(obj)
        if data is None:
            raise loopback.Refused(404, "ObjectNotFound", "gone")
        h.send(200, data, "application/octet-stream")
        with self.lock:
            self.log.append((h.command, h.path, 200))

    def compute(self, h, rest, q, body):
        if rest == "images" and h.command == "POST":
            doc = json.loads(body)
            src = doc.get("imageSourceDetails", {})
            if src.get("sourceType") != "objectStorageTuple" or \
                    not doc.get("compartmentId", "").startswith(
                        "ocid1.compartment."):
                raise loopback.Refused(400, "InvalidParameter",
                                       "double: objectStorageTuple into a "
                                       "compartment only")
            objs = self._bucket(src.get("namespaceName"),
                                src.get("bucketName"))
            if src.get("objectName") not in objs:
                raise loopback.Refused(404, "NotAuthorizedOrNotFound",
                                       "The object was not found")
            if self.image_limit is not None and \
                    len(self.images) >= self.image_limit:
                raise loopback.Refused(400, "LimitExceeded", "The limit "
                                       "of custom images in the tenancy "
                                       "has been reached")
            iid, wr = self._next("image"), self._next("coreservicesworkrequest")
            self.images[iid] = dict(doc, lifecycleState="IMPORTING",
                                    size=len(objs[src["objectName"]]))
            self.wrs[wr] = {"polls": 0, "image": iid}
            return h._send(200, {"id": iid, "displayName":
                                 doc.get("displayName"),
                                 "lifecycleState": "IMPORTING"},
                           headers={"opc-work-request-id": wr})
        m = re.match(r"^workRequests/([^/]+)(/errors)?$", rest)
        if m and h.command == "GET":
            wr = self.wrs.get(m.group(1))
            if wr is None:
                raise loopback.Refused(404, "NotAuthorizedOrNotFound",
                                       "no such work request")
            if m.group(2):
                return h._send(200, [{"code": "ImageImportFailed",
                                      "message": self.import_error or "",
                                      "timestamp": "2026-01-01T00:00:00Z"}])
            wr["polls"] += 1
            status = "IN_PROGRESS"
            if wr["polls"] > self.wr_polls:
                if self.import_error:
                    status = "FAILED"
                    self.images[wr["image"]]["lifecycleState"] = "DELETED"
                else:
                    status = "SUCCEEDED"
                    self.images[wr["image"]]["lifecycleState"] = "AVAILABLE"
            return h._send(200, {"id": m.group(1), "status": status,
                                 "operationType": "ImportImage"})
        if rest == "computeGlobalImageCapabilitySchemas" and \
                h.command == "GET":
            return h._send(200, [{"id": "ocid1.computeglobalimagecapability"
                                  "schema.oc1..g1",
                                  "currentVersionName": "1.2"}])
        if rest == "computeImageCapabilitySchemas" and h.command == "POST":
            doc = json.loads(body)
            if doc.get("imageId") not in self.images or \
                    doc.get("computeGlobalImageCapabilitySchemaVersionName") \
                    != "1.2":
                raise loopback.Refused(400, "InvalidParameter",
                                       "unknown image or schema version")
            self.schemas.append(doc)
            return h._send(200, dict(doc, id=self._next(
                "computeimagecapabilityschema")))
        raise loopback.Refused(404, "NotFound", "double: no route for %s %s"
                               % (h.command, rest))
