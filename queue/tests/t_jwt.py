#!/usr/bin/python3
"""--jwt-secret: every worker API call needs `Authorization: Bearer` with an
HS256 JWT signed with the secret whose exp is in the future, else 401 with
the composer's error body; GET /openapi stays public. The admin API needs
such a token that also carries "ib_queue_admin": true (the CLI signs one
with --jwt-secret FILE); /metrics stays public."""

import json
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


def admin_call(method, path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    st, _, data = S.call(method, "/api/queue/v1" + path, body, headers=h)
    return st, json.loads(data) if data else None


def test_admin_api_needs_an_admin_token():
    """Enqueue, list, show and results are closed without a token, with a
    worker's token (no admin claim) and with a badly signed one."""
    j = S.enqueue("t-admin")
    worker_tok = make_jwt(SECRET, {"exp": int(time.time()) + 300})
    forged = make_jwt(b"not-the-secret", {"exp": int(time.time()) + 300,
                                          "ib_queue_admin": True})
    expired = make_jwt(SECRET, {"exp": int(time.time()) - 5,
                                "ib_queue_admin": True})
    calls = [("POST", "/jobs", {"type": "t-x", "args": {}}),
             ("GET", "/jobs", None), ("GET", "/jobs/" + j, None),
             ("GET", "/jobs/%s/result" % j, None),
             ("POST", "/jobs/%s/cancel" % j, None),
             ("GET", "/events?since=0", None), ("GET", "/workers", None),
             ("POST", "/composes", {}), ("GET", "/nothing", None)]
    for tok in (None, worker_tok, forged, expired, "garbage"):
        for method, path, body in calls:
            st, ans = admin_call(method, path, body, tok)
            assert st == 401, (tok, method, path, st, ans)
            assert ans["kind"] == "Error" and ans["reason"], ans
    admin_tok = make_jwt(SECRET, {"exp": int(time.time()) + 300,
                                  "ib_queue_admin": True})
    st, ans = admin_call("GET", "/jobs/" + j, None, admin_tok)
    assert st == 200 and ans["id"] == j and ans["state"] == "pending", ans
    # Nothing was enqueued or canceled by the refused calls.
    assert not any(x["type"] == "t-x" for x in S.admin("GET", "/jobs"))
    # /metrics (counts for the autoscaler) stays readable.
    st, _, data = S.call("GET", "/metrics")
    assert st == 200 and b"composer_pending_jobs" in data


def test_cli_signs_admin_tokens():
    secret = os.path.join(D, "secret")
    p = S.cli("list", check=False)
    assert p.returncode == 3 and "401" in p.stderr, (p.returncode, p.stderr)
    p = S.cli("--jwt-secret", secret, "enqueue", "--type", "t-cli",
              "--args", "{}")
    jid = p.stdout.strip()
    p = S.cli("show", jid, env=dict(os.environ, IB_QUEUE_JWT_SECRET=secret))
    assert json.loads(p.stdout)["type"] == "t-cli"


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
    # S.admin signs an admin token (qtestlib): the admin API has its own
    # claim, see test_admin_api_needs_an_admin_token.
    assert S.admin("GET", "/jobs") is not None


if __name__ == "__main__":
    run([test_valid_token, test_missing_token, test_expired_token,
         test_bad_tokens, test_openapi_is_public_and_admin_is_separate,
         test_admin_api_needs_an_admin_token, test_cli_signs_admin_tokens])
