#!/usr/bin/python3
"""--jwt-secret: every worker API call needs `Authorization: Bearer` with an
HS256 JWT signed with the secret whose exp is in the future, else 401 with
the composer's error body; GET /openapi stays public."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import Server, make_jwt, run, tmpdir  # noqa: E402

SECRET = b"s3cret-for-tests"
D = tmpdir()
with open(os.path.join(D, "secret"), "wb") as f:
    f.write(SECRET + b"\n")
S = Server("--request-job-timeout", "1", "--jwt-secret",
           os.path.join(D, "secret"))


def bearer(token):
    return {"Authorization": "Bearer " + token,
            "Content-Type": "application/json"}


def assert_401(st, body, hd):
    assert st == 401, (st, body)
    assert body["kind"] == "Error" and body["code"].startswith(
        "IMAGE-BUILDER-WORKER-") and body["reason"] and \
        body["operation_id"] and body["href"], body
    assert hd["Content-Type"] == "application/json; charset=UTF-8"
    assert hd["WWW-Authenticate"].startswith("Bearer")


def test_valid_token():
    tok = make_jwt(SECRET, {"exp": int(time.time()) + 300, "sub": "w"})
    st, body, _ = S.w("GET", "/status", headers=bearer(tok))
    assert st == 200 and body["status"] == "OK"
    st, body, _ = S.w("POST", "/workers", {"arch": "x86_64"},
                      headers=bearer(tok))
    assert st == 201, body
    j = S.enqueue("t-jwt")
    st, job, _ = S.w("POST", "/jobs", {"types": ["t-jwt"], "arch": "x86_64"},
                     headers=bearer(tok))
    assert st == 201 and job["id"] == j


def test_missing_token():
    st, body, hd = S.w("GET", "/status")
    assert_401(st, body, hd)
    st, body, hd = S.w("POST", "/workers", {"arch": "x86_64"})
    assert_401(st, body, hd)
    st, body, hd = S.w("GET", "/no-such-route")
    assert_401(st, body, hd)


def test_expired_token():
    tok = make_jwt(SECRET, {"exp": int(time.time()) - 5})
    st, body, hd = S.w("GET", "/status", headers=bearer(tok))
    assert_401(st, body, hd)


def test_bad_tokens():
    good_exp = int(time.time()) + 300
    for tok in (make_jwt(b"other-secret", {"exp": good_exp}),
                make_jwt(SECRET, {"sub": "no exp"}),
                make_jwt(SECRET, {"exp": good_exp}, alg="none"),
                "not.a.jwt", "x"):
        st, body, hd = S.w("GET", "/status", headers=bearer(tok))
        assert_401(st, body, hd)


def test_openapi_is_public_and_admin_is_separate():
    st, spec, _ = S.w("GET", "/openapi")
    assert st == 200 and spec["openapi"].startswith("3.")
    assert S.admin("GET", "/jobs") is not None


if __name__ == "__main__":
    run([test_valid_token, test_missing_token, test_expired_token,
         test_bad_tokens, test_openapi_is_public_and_admin_is_separate])
