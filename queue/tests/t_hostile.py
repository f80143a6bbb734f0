#!/usr/bin/python3
"""Bad input answers 4xx, never a 500 with a traceback: bodies nested
100 000 deep, lone surrogates in strings (SQLite cannot encode them),
`since`/`timeout` of 1e400, nan, inf and -inf on the events and wait
APIs, on every route that reads a body or a number. The queue keeps
working afterwards."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import BASE, JSON, Server, run  # noqa: E402

S = Server("--request-job-timeout", "1")
DEEP = b"[" * 100000 + b"]" * 100000
DEEP_OBJ = b'{"a":' * 100000 + b"1" + b"}" * 100000
SURR = '"\\ud800x\\udfff"'


def status(method, path, body, headers=JSON):
    st, _, data = S.call(method, path, body, headers=headers)
    assert 400 <= st < 500, (method, path, body[:60], st, data[:300])
    return st


def bodies(template):
    """The template's %s filled with a deep array, a deep object and a
    string of lone surrogates."""
    return [template.replace(b"%s", DEEP), template.replace(b"%s", DEEP_OBJ),
            template.replace(b"%s", SURR.encode())]


def test_deep_and_surrogates_admin():
    for body in [DEEP, DEEP_OBJ] + \
            bodies(b'{"type":"t-h","args":%s}') + \
            bodies(b'{"type":%s,"args":{}}') + \
            bodies(b'{"type":"t-h","arch":%s}') + \
            bodies(b'{"type":"t-h","depends":[%s]}'):
        if b"\\ud800" in body and body.startswith(b'{"type":"t-h","args"'):
            # Surrogates inside args are data: stored as the JSON escapes.
            st, _, data = S.call("POST", "/api/queue/v1/jobs", body,
                                 headers=JSON)
            assert st in (201, 400), (st, data)
            continue
        status("POST", "/api/queue/v1/jobs", body)
    for body in [DEEP] + bodies(b'{"distribution":%s}') + \
            bodies(b'{"image_requests":[{"image_type":%s}]}'):
        status("POST", "/api/queue/v1/composes", body)


def test_deep_and_surrogates_worker():
    st, body, _ = S.w("POST", "/workers", {"arch": "x86_64"})
    assert st == 201, body
    wid = body["worker_id"]
    for body in [DEEP] + bodies(b'{"arch":%s}'):
        status("POST", BASE + "/workers", body)
    for body in [DEEP] + bodies(b'{"types":["t-w"],"arch":%s}') + \
            bodies(b'{"types":[%s],"arch":"x86_64"}') + \
            bodies(b'{"types":["t-w"],"arch":"x86_64","worker_id":%s}'):
        status("POST", BASE + "/jobs", body)
    for body in [DEEP] + bodies(b'{"arch":%s}'):
        # The status call ignores its body, as composer's does.
        st, _, data = S.call("POST", BASE + "/workers/%s/status" % wid,
                             body, headers=JSON)
        assert st < 500, (body[:60], st, data[:300])
    # A job taken, then updated with hostile results.
    S.enqueue("t-w")
    job, token = S.take(["t-w"])
    for body in [DEEP] + bodies(b'{"result":%s}') + \
            bodies(b'{"status":%s}'):
        st, _, data = S.call("PATCH", BASE + "/jobs/" + token, body,
                             headers=JSON)
        assert st < 500, (body[:60], st, data[:300])


def test_numbers_on_events_and_wait():
    j = S.enqueue("t-n")
    odd = ("1e400", "-1e400", "nan", "NaN", "inf", "-inf", "Infinity",
           "-1e18", "0x10")
    # A large timeout is a long (legal) wait; an empty one is the default.
    big = ("1e18", "99999999999999999999999", "9" * 400, "")
    for v in odd + big:
        paths = ["/api/queue/v1/events?since=%s" % v]
        if v not in big:
            paths += ["/api/queue/v1/events?since=0&timeout=%s" % v,
                      "/api/queue/v1/jobs/%s/wait?timeout=%s" % (j, v)]
        for path in paths:
            st, _, data = S.call("GET", path, timeout=15)
            assert st < 500, (path, st, data[:300])
            assert st in (200, 400), (path, st, data[:300])
    st, _, data = S.call("GET", "/api/queue/v1/events?since=nan")
    assert st == 400, (st, data)


def test_still_works():
    j = S.enqueue("t-after")
    assert S.show(j)["state"] == "pending"
    st, _, _ = S.call("GET", "/metrics")
    assert st == 200


if __name__ == "__main__":
    run([test_deep_and_surrogates_admin, test_deep_and_surrogates_worker,
         test_numbers_on_events_and_wait, test_still_works])
