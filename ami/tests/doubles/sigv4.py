# test double (helper): checks AWS Signature Version 4 on requests that the test
# doubles receive, written from AWS's public description of SigV4 (canonical
# request, string to sign, derived signing key). Run it with --self-test to
# check it against AWS's published test-suite vectors.
"""SigV4 verification for the Secrets Manager / autoscaling doubles."""

import hashlib
import hmac
import sys
import time
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"


def _uri_encode(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def canonical_path(raw_path):
    # Services other than S3 normalise the path and encode each segment of
    # the path as sent (so an already encoded path is encoded twice).
    segs = raw_path.split("/")
    out = []
    for seg in segs:
        if seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    path = "/".join(_uri_encode(s) for s in out)
    if not path.startswith("/"):
        path = "/" + path
    if raw_path.endswith("/") and not path.endswith("/"):
        path += "/"
    return path


def canonical_query(raw_query):
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        k, _, v = part.partition("=")
        k = urllib.parse.unquote_plus(k)
        v = urllib.parse.unquote_plus(v)
        pairs.append((_uri_encode(k), _uri_encode(v)))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _trim(value):
    return " ".join(value.strip().split())


def canonical_request(method, raw_path, raw_query, headers, signed, payload):
    """headers: list of (name, value) as received; signed: lowercase names."""
    by_name = {}
    for name, value in headers:
        by_name.setdefault(name.lower(), []).append(_trim(value))
    lines = [method, canonical_path(raw_path), canonical_query(raw_query)]
    for name in signed:
        lines.append(f"{name}:{','.join(by_name.get(name, []))}")
    lines.append("")
    lines.append(";".join(signed))
    lines.append(hashlib.sha256(payload).hexdigest())
    return "\n".join(lines)


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(secret_key, amz_date, region, service, creq):
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sts = "\n".join([ALGORITHM, amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = _hmac(("AWS4" + secret_key).encode(), amz_date[:8])
    k = _hmac(k, region)
    k = _hmac(k, service)
    k = _hmac(k, "aws4_request")
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


def parse_authorization(value):
    if not value or not value.startswith(ALGORITHM + " "):
        return None
    fields = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    try:
        ak, date, region, service, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        sig = fields["Signature"]
    except (KeyError, ValueError):
        return None
    if term != "aws4_request":
        return None
    return {"access_key": ak, "date": date, "region": region,
            "service": service, "signed": signed, "signature": sig}


def verify(method, target, headers, body, keys, now=None, skew=900):
    """Checks one request. keys maps access key id -> secret key.
    Returns (None, auth) when the signature holds, else (reason, auth)."""
    hdr = {}
    for name, value in headers:
        hdr.setdefault(name.lower(), value)
    auth = parse_authorization(hdr.get("authorization"))
    if auth is None:
        return "IncompleteSignature", None
    signed = auth["signed"]
    if signed != sorted(signed) or "host" not in signed \
            or "x-amz-date" not in signed:
        return "IncompleteSignature", auth
    for name in signed:
        if name not in hdr:
            return "IncompleteSignature", auth
    amz_date = hdr["x-amz-date"]
    if amz_date[:8] != auth["date"]:
        return "SignatureDoesNotMatch", auth
    if now is not None:
        t = time.mktime(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) \
            - time.timezone
        if abs(now - t) > skew:
            return "RequestTimeTooSkewed", auth
    secret = keys.get(auth["access_key"])
    if secret is None:
        return "UnrecognizedClientException", auth
    path, _, query = target.partition("?")
    creq = canonical_request(method, path, query, headers, signed, body)
    want = signature(secret, amz_date, auth["region"], auth["service"], creq)
    if not hmac.compare_digest(want, auth["signature"]):
        return "SignatureDoesNotMatch", auth
    return None, auth


# AWS's SigV4 test suite: credentials, the request, and the published
# signature of each case.
_SUITE_KEY = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
_SUITE = [
    ("get-vanilla", "/",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-vanilla-query-order-key-case", "/?Param2=value2&Param1=value1",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
]


def self_test():
    keys = dict([_SUITE_KEY])
    for name, target, sig in _SUITE:
        auth = (f"{ALGORITHM} Credential=AKIDEXAMPLE/20150830/us-east-1/"
                f"service/aws4_request, SignedHeaders=host;x-amz-date, "
                f"Signature={sig}")
        headers = [("Host", "example.amazonaws.com"),
                   ("X-Amz-Date", "20150830T123600Z"),
                   ("Authorization", auth)]
        err, _ = verify("GET", target, headers, b"", keys)
        if err:
            print(f"sigv4 self-test: {name}: {err}")
            return 1
        # One flipped digit must be refused, or the check checks nothing.
        bad = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        headers[2] = ("Authorization", auth.replace(sig, bad))
        err, _ = verify("GET", target, headers, b"", keys)
        if err != "SignatureDoesNotMatch":
            print(f"sigv4 self-test: {name}: a wrong signature passed")
            return 1
        print(f"sigv4 self-test: {name}: ok")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    print("usage: sigv4.py --self-test", file=sys.stderr)
    sys.exit(2)
