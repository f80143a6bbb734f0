# Test double of a Koji hub (XML-RPC at /kojihub, login at
# /kojihub/ssllogin, raw chunked uploads): no Koji hub can run here. One
# loopback HTTP server; the XML is read and written by Python's xmlrpc.
"""It checks what Koji's hub checks: every call's method and arity against
the hub's signatures (sslLogin, logout, getAPIVersion, CGInitBuild,
CGImport, CGRefundBuild), the session (id, key) on every call but the
login, call numbers that only grow (the last one repeated is a retry,
answered from the hub's record), uploads whose chunks come in order at the
offset the file has reached, answered with the chunk's size and Adler-32
as fileverify=adler32 asks. Faults are Koji's (code, "koji.Error: ...").
With `require_negotiate`, sslLogin wants SPNEGO as a Kerberized hub
does: a 401 asking for Negotiate, then a token that must be an SPNEGO
NegTokenInit carrying a Kerberos AP-REQ, whose ticket's service principal
and realm are recorded in `tickets` (the double cannot decrypt it: that
the client got it from the KDC for HTTP/HOST is what is checked).
Content generator calls as Koji checks them: CGInitBuild reserves a build
(refused when the NVR exists) and a token; CGImport wants that token, a
build still BUILDING, metadata_version 0, outputs whose buildroots exist
and whose files are in the upload directory with the size and MD5 the
metadata says (else Koji's "Corrupted upload?" fault); CGRefundBuild the
token and a FAILED or CANCELED state.
Faults set by the test: `login_fault` (AuthError on sslLogin),
`chunk_failures` (503 on uploads), `short_chunks` (the hub keeps one byte
less of the next chunks), `corrupt_imports` (CGImports answered with the
corrupted-upload fault first, as NFS lag between hub replicas makes it),
`import_fault` (CGImport refused with that message)."""

import base64
import hashlib
import json
import random
import threading
import urllib.parse
import xmlrpc.client
import zlib

import loopback

SIGNATURES = {            # method -> (min, max) positional arguments
    "sslLogin": (0, 1),
    "logout": (0, 0),
    "getAPIVersion": (0, 0),
    "CGInitBuild": (2, 2),
    "CGImport": (2, 4),
    "CGRefundBuild": (3, 4),
}


def der(buf, i):
    """(tag, content start, content end) of the DER element at i."""
    tag, n = buf[i], buf[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(buf[i:i + k], "big")
        i += k
    if i + n > len(buf):
        raise ValueError("truncated")
    return tag, i, i + n


def der_children(buf, start, end):
    out, i = [], start
    while i < end:
        tag, s, e = der(buf, i)
        out.append((tag, s, e))
        i = e
    return out


KRB5_OID = bytes.fromhex("06092a864886f712010202")
SPNEGO_OID = bytes.fromhex("06062b0601050502")


def ap_req_ticket(token):
    """(service principal, realm) of the ticket in an SPNEGO token's
    Kerberos AP-REQ; ValueError when it is not one."""
    tag, s, e = der(token, 0)
    if tag != 0x60 or token[s:s + len(SPNEGO_OID)] != SPNEGO_OID:
        raise ValueError("not an SPNEGO initial token")
    tag, s, e = der(token, s + len(SPNEGO_OID))          # [0] NegTokenInit
    tag, s, e = der(token, s)                            # SEQUENCE
    mech = [c for c in der_children(token, s, e) if c[0] == 0xa2]
    if not mech:
        raise ValueError("no mechToken")
    tag, s, e = der(token, mech[0][1])                   # OCTET STRING
    tag, s, e = der(token, s)                            # [APPLICATION 0]
    if token[s:s + len(KRB5_OID)] != KRB5_OID:
        raise ValueError("the mechToken is not Kerberos")
    s += len(KRB5_OID)
    if token[s:s + 2] != b"\x01\x00":
        raise ValueError("not an AP-REQ")
    tag, s, e = der(token, s + 2)                        # [APPLICATION 14]
    tag, s, e = der(token, s)                            # SEQUENCE
    fields = {t: (a, b) for t, a, b in der_children(token, s, e)}
    tag, s, e = der(token, fields[0xa3][0])              # [APPLICATION 1]
    tag, s, e = der(token, s)                            # Ticket SEQUENCE
    tf = {t: (a, b) for t, a, b in der_children(token, s, e)}
    _, rs, re_ = der(token, tf[0xa1][0])                 # realm
    realm = token[rs:re_].decode()
    _, ps, pe = der(token, tf[0xa2][0])                  # PrincipalName
    pf = {t: (a, b) for t, a, b in der_children(token, ps, pe)}
    _, ns, ne = der(token, pf[0xa1][0])                  # name-string
    names = [token[a:b].decode() for _, a, b in der_children(token, ns, ne)]
    return "/".join(names), realm


class KojiDouble:
    def __init__(self):
        self.sessions = {}      # id -> {"key", "last", "answer"}
        self.files = {}         # "dir/name" -> bytearray
        self.calls = []         # (method, callnum) in order
        self.faults = []        # fault strings sent
        self.logouts = 0
        self.negotiate_seen = []
        self.login_fault = None
        self.chunk_failures = 0
        self.short_chunks = 0
        self.require_negotiate = False
        self.tickets = []       # (service principal, realm) of logins
        self.builds = {}        # id -> {"nvr", "token", "state", "metadata"}
        self.refunds = []       # (build id, state)
        self.corrupt_imports = 0
        self.import_fault = None
        self.lock = threading.RLock()
        outer = self

        class H(loopback.Handler):
            def do_POST(self):
                body = self.body()
                with outer.lock:
                    outer.route(self, body)

        self.server = loopback.start(H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/kojihub" % self.port

    def stop(self):
        loopback.stop(self.server)

    @staticmethod
    def _answer(h, value):
        h.xml(200, xmlrpc.client.dumps((value,), methodresponse=True,
                                       allow_none=True))

    def _fault(self, h, code, msg):
        self.faults.append(msg)
        h.xml(200, xmlrpc.client.dumps(xmlrpc.client.Fault(code, msg),
                                       methodresponse=True))

    def route(self, h, body):
        u = urllib.parse.urlsplit(h.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(
            u.query, keep_blank_values=True).items()}
        if u.path == "/kojihub/ssllogin":
            return self.login(h, body)
        if u.path != "/kojihub":
            return h.send(404, "not found")
        sid, key = q.get("session-id"), q.get("session-key")
        s = self.sessions.get(int(sid)) if sid and sid.isdigit() else None
        if s is None or s["key"] != key:
            return self._fault(h, 1001, "koji.AuthError: could not get "
                               "session %s" % sid)
        try:
            callnum = int(q.get("callnum"))
        except (TypeError, ValueError):
            return self._fault(h, 1000, "koji.GenericError: no callnum")
        if s["last"] is not None and callnum <= s["last"]:
            if callnum == s["last"] and s["answer"] is not None:
                self.calls.append(("retry", callnum))
                return h.xml(200, s["answer"])
            return self._fault(h, 1005, "koji.SequenceError: %d > %d "
                               "(session %s)" % (s["last"], callnum, sid))
        if "filepath" in q or "filename" in q:
            if self.chunk_failures > 0:
                self.chunk_failures -= 1
                return h.send(503, "Service Unavailable")
            s["last"], s["answer"] = callnum, None
            ans = self.upload(q, body)
        else:
            params, method = xmlrpc.client.loads(body)
            s["last"], s["answer"] = callnum, None
            self.calls.append((method, callnum))
            ans = self.call(method, params, sid)
        if isinstance(ans, xmlrpc.client.Fault):
            self.faults.append(ans.faultString)
            doc = xmlrpc.client.dumps(ans, methodresponse=True)
        else:
            doc = xmlrpc.client.dumps((ans,), methodresponse=True,
                                      allow_none=True)
        s["answer"] = doc
        h.xml(200, doc)

    def login(self, h, body):
        params, method = xmlrpc.client.loads(body)
        self.calls.append((method, None))
        auth = h.headers.get("Authorization", "")
        self.negotiate_seen.append(auth.startswith("Negotiate "))
        if method != "sslLogin" or not (SIGNATURES["sslLogin"][0] <=
                                        len(params) <=
                                        SIGNATURES["sslLogin"][1]):
            return self._fault(h, 1000, "koji.GenericError: Invalid "
                               "method: %s" % method)
        if self.require_negotiate:
            if not auth.startswith("Negotiate "):
                return h.send(401, "Unauthorized",
                              headers=[("WWW-Authenticate", "Negotiate")])
            try:
                self.tickets.append(ap_req_ticket(base64.b64decode(
                    auth[10:])))
            except (ValueError, KeyError, IndexError) as e:
                return h.send(401, "bad Negotiate token: %s" % e)
        if self.login_fault:
            return self._fault(h, 1002, "koji.AuthError: " +
                               self.login_fault)
        sid = random.randint(1000, 99999)
        key = "%d-%016x" % (sid, random.getrandbits(64))
        self.sessions[sid] = {"key": key, "last": None, "answer": None}
        self._answer(h, {"session-id": sid, "session-key": key})

    def call(self, method, params, sid):
        if method not in SIGNATURES:
            return xmlrpc.client.Fault(1000, "koji.GenericError: Invalid "
                                       "method: %s" % method)
        lo, hi = SIGNATURES[method]
        if not lo <= len(params) <= hi:
            return xmlrpc.client.Fault(1000, "koji.ParameterError: %s() "
                                       "takes %d to %d arguments (%d "
                                       "given)" % (method, lo, hi,
                                                   len(params)))
        if method == "logout":
            self.logouts += 1
            del self.sessions[int(sid)]
            return None
        if method == "getAPIVersion":
            return 1
        if method.startswith("CG"):
            if method == "CGImport":
                try:
                    return self.CGImport(*params)
                except (KeyError, TypeError, ValueError) as e:
                    return xmlrpc.client.Fault(1000, "koji.GenericError: "
                                               "malformed CGImport: %r" % e)
            if params[0] != "osbuild":
                return xmlrpc.client.Fault(1000, "koji.GenericError: "
                                           "unknown content generator %r"
                                           % params[0])
            try:
                return getattr(self, method)(*params[1:])
            except (KeyError, TypeError, ValueError) as e:
                return xmlrpc.client.Fault(1000, "koji.GenericError: "
                                           "malformed %s: %r" % (method, e))
        return xmlrpc.client.Fault(1000, "koji.GenericError: double: %s "
                                   "not implemented" % method)

    def upload(self, q, body):
        path, name = q.get("filepath", ""), q.get("filename", "")
        if not path or path.startswith("/") or ".." in path.split("/") or \
                not name or "/" in name:
            return xmlrpc.client.Fault(1000, "koji.GenericError: invalid "
                                       "upload path")
        if q.get("fileverify") != "adler32":
            return xmlrpc.client.Fault(1000, "koji.GenericError: "
                                       "unsupported checksum type")
        key = path + "/" + name
        offset = int(q.get("offset", "0"))
        if offset == 0 and q.get("overwrite") == "true":
            self.files[key] = bytearray()
        have = self.files.setdefault(key, bytearray())
        if offset != len(have):
            return xmlrpc.client.Fault(1000, "koji.GenericError: upload "
                                       "offset %d but the file has %d "
                                       "bytes" % (offset, len(have)))
        data = body
        if self.short_chunks > 0 and len(data) > 0:
            self.short_chunks -= 1
            data = data[:-1]
        have += data
        return {"size": len(data), "fileverify": "adler32",
                "offset": offset,
                "hexdigest": "%08x" % (zlib.adler32(data) & 0xffffffff)}

    # -- content generator calls ---------------------------------------
    def CGInitBuild(self, data):
        nvr = (data["name"], data["version"], data["release"])
        if not all(isinstance(x, str) and x for x in nvr):
            raise ValueError("name, version and release")
        for bid, b in self.builds.items():
            if b["nvr"] == nvr:
                return xmlrpc.client.Fault(1000, "koji.GenericError: Build "
                                           "already exists (id=%d, state="
                                           "%s): %r" % (bid, b["state"],
                                                        data))
        bid = 100 + len(self.builds)
        token = "%032x" % random.getrandbits(128)
        self.builds[bid] = {"nvr": nvr, "token": token, "state": "BUILDING",
                            "metadata": None, "directory": None}
        return {"build_id": bid, "token": token}

    def _build(self, bid, token):
        b = self.builds.get(bid)
        if b is None or b["token"] != token:
            return None, xmlrpc.client.Fault(1000, "koji.GenericError: "
                                             "Invalid token for build %r"
                                             % bid)
        if b["state"] != "BUILDING":
            return None, xmlrpc.client.Fault(1000, "koji.GenericError: "
                                             "Build %d is %s, not BUILDING"
                                             % (bid, b["state"]))
        return b, None

    def CGImport(self, metadata, directory, token=None):
        md = json.loads(metadata)
        if md.get("metadata_version") != 0:
            raise ValueError("metadata_version")
        b, fault = self._build(md["build"]["build_id"], token)
        if fault:
            return fault
        if self.import_fault:
            return xmlrpc.client.Fault(1000, "koji.GenericError: " +
                                       self.import_fault)
        if self.corrupt_imports > 0:
            self.corrupt_imports -= 1
            return xmlrpc.client.Fault(1000, "koji.GenericError: File size "
                                       "0 for x (expected 1) doesn't match. "
                                       "Corrupted upload?")
        build = md["build"]
        for k in ("name", "version", "release", "start_time", "end_time"):
            build[k]  # noqa: B018 (a KeyError is Koji's refusal)
        if (build["name"], build["version"], build["release"]) != b["nvr"]:
            raise ValueError("the build's NVR is not the reserved one")
        build["extra"]["typeinfo"]["image"]
        roots = {r["id"] for r in md["buildroots"]}
        for r in md["buildroots"]:
            if r["content_generator"]["name"] != "osbuild":
                raise ValueError("content_generator")
            for c in r["components"]:
                if c["type"] != "rpm" or not {"name", "version", "release",
                                              "arch", "sigmd5",
                                              "signature"} <= set(c):
                    raise ValueError("component %r" % c)
        for o in md["output"]:
            if o["buildroot_id"] not in roots or o["type"] not in (
                    "image", "log", "osbuild-manifest", "sbom-doc"):
                raise ValueError("output %r" % o["filename"])
            data = self.files.get(directory + "/" + o["filename"])
            if data is None:
                return xmlrpc.client.Fault(1000, "koji.GenericError: No "
                                           "such file: %s" % o["filename"])
            if len(data) != o["filesize"] or (
                    o["checksum_type"] == "md5" and
                    hashlib.md5(data).hexdigest() != o["checksum"]):
                return xmlrpc.client.Fault(1000, "koji.GenericError: File "
                                           "size %d for %s (expected %d) "
                                           "doesn't match. Corrupted "
                                           "upload?" % (len(data),
                                                        o["filename"],
                                                        o["filesize"]))
        b["state"], b["metadata"], b["directory"] = "COMPLETE", md, directory
        return {"build_id": build["build_id"]}

    def CGRefundBuild(self, bid, token, state=None):
        b, fault = self._build(bid, token)
        if fault:
            return fault
        if state not in (3, 4):
            raise ValueError("state")
        b["state"] = "FAILED" if state == 3 else "CANCELED"
        self.refunds.append((bid, state))
        return None
