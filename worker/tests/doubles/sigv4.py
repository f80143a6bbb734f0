# Not a test double itself: a SigV4 signature VERIFIER used by the test doubles (ec2.py, s3proxy.py).
"""AWS Signature Version 4, written from the published specification, for
checking what the worker sends. Standard library only.

verify_request() checks an Authorization header request; verify_presigned()
checks a query-string (presigned) URL. Both return (access_key, None) on
success and (None, reason) on failure; reasons read like AWS's own codes.
"""

import datetime
import hashlib
import hmac
import re
import urllib.parse

ALGO = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
_UNRESERVED = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
               "0123456789-_.~")


def uri_encode(s, keep_slash=False):
    """Percent-encodes every byte but the unreserved ones, upper-case hex."""
    safe = _UNRESERVED + ("/" if keep_slash else "")
    out = []
    for b in s.encode() if isinstance(s, str) else s:
        c = chr(b)
        out.append(c if c in safe else "%%%02X" % b)
    return "".join(out)


def canonical_uri(raw_path, s3):
    """S3 encodes the (decoded) path once and keeps it as is; every other
    service normalises it and encodes each segment twice."""
    path = urllib.parse.unquote(raw_path or "/")
    if s3:
        return uri_encode(path, keep_slash=True)
    segs = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segs:
                segs.pop()
            continue
        segs.append(seg)
    out = "/" + "/".join(uri_encode(uri_encode(s)) for s in segs)
    if path.endswith("/") and out != "/":
        out += "/"
    return out


def parse_query(raw_query):
    pairs = []
    if not raw_query:
        return pairs
    for part in raw_query.split("&"):
        if part == "":
            continue
        k, _, v = part.partition("=")
        pairs.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
    return pairs


def canonical_query(pairs, skip=()):
    enc = sorted((uri_encode(k), uri_encode(v)) for k, v in pairs
                 if k not in skip)
    return "&".join("%s=%s" % kv for kv in enc)


def _trim(v):
    return re.sub(r"\s+", " ", v.strip())


def canonical_headers(headers, signed):
    """headers: list of (name, value) as received (repeats allowed)."""
    vals = {}
    for name, value in headers:
        vals.setdefault(name.lower(), []).append(_trim(value))
    lines = []
    for h in signed:
        if h not in vals:
            return None
        lines.append("%s:%s\n" % (h, ",".join(vals[h])))
    return "".join(lines)


def canonical_request(method, raw_path, pairs, headers, signed, payload_hash,
                      s3=False, skip_query=()):
    ch = canonical_headers(headers, signed)
    if ch is None:
        return None
    return "\n".join([method.upper(), canonical_uri(raw_path, s3),
                      canonical_query(pairs, skip_query), ch,
                      ";".join(signed), payload_hash])


def signing_key(secret, date, region, service):
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def string_to_sign(amz_date, scope, creq):
    return "\n".join([ALGO, amz_date, scope,
                      hashlib.sha256(creq.encode()).hexdigest()])


def signature(secret, amz_date, region, service, creq):
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    key = signing_key(secret, amz_date[:8], region, service)
    return hmac.new(key, string_to_sign(amz_date, scope, creq).encode(),
                    hashlib.sha256).hexdigest()


def _parse_amz_date(s):
    try:
        return datetime.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def verify_request(method, target, headers, body, secrets, region, service,
                   s3=False, now=None, skew=900, body_hash=None):
    """target: the request target ("/path?query"); headers: list of
    (name, value); body: the bytes (or None when body_hash is given, for a
    streamed body whose hash the caller computed); secrets: dict access key
    -> (secret, session token or None)."""
    h = {}
    for name, value in headers:
        h.setdefault(name.lower(), value)
    auth = h.get("authorization")
    if not auth:
        return None, "MissingAuthenticationToken"
    m = re.match(r"^AWS4-HMAC-SHA256 (.*)$", auth)
    if not m:
        return None, "IncompleteSignature: unknown algorithm"
    fields = {}
    for part in m.group(1).split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    cred = fields.get("Credential", "").split("/")
    signed = fields.get("SignedHeaders", "").split(";")
    sig = fields.get("Signature", "")
    if len(cred) != 5 or cred[4] != "aws4_request" or not sig:
        return None, "IncompleteSignature: malformed Authorization"
    ak, date, creg, csvc = cred[:4]
    if ak not in secrets:
        return None, "InvalidAccessKeyId"
    secret, token = secrets[ak]
    if creg != region or csvc != service:
        return None, "SignatureDoesNotMatch: credential scope %s/%s, " \
            "expected %s/%s" % (creg, csvc, region, service)
    if "host" not in signed:
        return None, "SignatureDoesNotMatch: host is not signed"
    amz_date = h.get("x-amz-date")
    when = _parse_amz_date(amz_date)
    if when is None or amz_date[:8] != date:
        return None, "IncompleteSignature: bad x-amz-date"
    if abs(((now or _now()) - when).total_seconds()) > skew:
        return None, "RequestTimeTooSkewed"
    if token is not None:
        if h.get("x-amz-security-token") != token:
            return None, "InvalidToken: security token missing or wrong"
        if "x-amz-security-token" not in signed:
            return None, "SignatureDoesNotMatch: token is not signed"
    actual = body_hash
    if actual is None:
        actual = hashlib.sha256(body or b"").hexdigest()
    if s3:
        payload = h.get("x-amz-content-sha256")
        if payload is None:
            return None, "InvalidRequest: missing x-amz-content-sha256"
        if payload != UNSIGNED and payload != actual:
            return None, "XAmzContentSHA256Mismatch"
        if "x-amz-content-sha256" not in signed:
            return None, "SignatureDoesNotMatch: content hash not signed"
    else:
        payload = actual
    path, _, query = target.partition("?")
    creq = canonical_request(method, path, parse_query(query), headers,
                             signed, payload, s3)
    if creq is None:
        return None, "SignatureDoesNotMatch: a signed header is missing"
    want = signature(secret, amz_date, region, service, creq)
    if not hmac.compare_digest(want, sig):
        return None, "SignatureDoesNotMatch"
    return ak, None


def verify_presigned(method, target, headers, secrets, region, service,
                     now=None):
    """A presigned URL (X-Amz-* query parameters), as S3 checks it."""
    path, _, query = target.partition("?")
    pairs = parse_query(query)
    q = dict(pairs)
    if q.get("X-Amz-Algorithm") != ALGO:
        return None, "AuthorizationQueryParametersError: algorithm"
    cred = q.get("X-Amz-Credential", "").split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        return None, "AuthorizationQueryParametersError: credential"
    ak, date, creg, csvc = cred[:4]
    if ak not in secrets:
        return None, "InvalidAccessKeyId"
    secret, token = secrets[ak]
    if creg != region or csvc != service:
        return None, "SignatureDoesNotMatch: credential scope"
    when = _parse_amz_date(q.get("X-Amz-Date"))
    try:
        expires = int(q.get("X-Amz-Expires", ""))
    except ValueError:
        return None, "AuthorizationQueryParametersError: expires"
    if when is None or q["X-Amz-Date"][:8] != date:
        return None, "AuthorizationQueryParametersError: date"
    if not 1 <= expires <= 604800:
        return None, "AuthorizationQueryParametersError: X-Amz-Expires " \
            "must be between 1 and 604800"
    if ((now or _now()) - when).total_seconds() > expires:
        return None, "AccessDenied: Request has expired"
    if token is not None and q.get("X-Amz-Security-Token") != token:
        return None, "InvalidToken"
    signed = q.get("X-Amz-SignedHeaders", "").split(";")
    creq = canonical_request(method, path, pairs, headers, signed, UNSIGNED,
                             s3=True, skip_query=("X-Amz-Signature",))
    if creq is None:
        return None, "SignatureDoesNotMatch: a signed header is missing"
    want = signature(secret, q["X-Amz-Date"], region, service, creq)
    if not hmac.compare_digest(want, q.get("X-Amz-Signature", "")):
        return None, "SignatureDoesNotMatch"
    return ak, None
