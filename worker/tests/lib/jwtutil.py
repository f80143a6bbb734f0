"""HS256 JSON Web Tokens, as the queue verifies them (tests only)."""

import base64
import hashlib
import hmac
import json


def _b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jwt_hs256(secret, claims, alg="HS256"):
    """A compact JWT of claims signed with HMAC-SHA256 under secret (bytes).
    alg only names the algorithm in the header (a test may lie there)."""
    head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = _b64(hmac.new(secret, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()
