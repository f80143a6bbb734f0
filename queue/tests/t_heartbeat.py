#!/usr/bin/python3
"""Liveness: a job whose worker stops polling GET /jobs/{token} is requeued
with a new token (the old one answers 404 code 5) at most --max-requeues
times, then fails with job error 27. Meanwhile, on the same timeline, a
polled job is left alone, a canceled job is not requeued, and a silent
worker is forgotten (400 code 18) while a chatty one is kept."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import Server, assert_error, run  # noqa: E402

S = Server("--request-job-timeout", "1", "--heartbeat-timeout", "1.5",
           "--heartbeat-check", "0.2", "--max-requeues", "2",
           "--worker-timeout", "1.5")


def test_heartbeat_timeline():
    quiet, chatty = S.register(), S.register()
    alive = S.enqueue("t-alive")
    _, alive_tok = S.take(["t-alive"])
    canceled = S.enqueue("t-cancel-quiet")
    _, canceled_tok = S.take(["t-cancel-quiet"])
    S.admin("POST", "/jobs/%s/cancel" % canceled)
    j = S.enqueue("t-silent", {"k": 1})

    def pump(cond, what, timeout=6):
        """Keep `alive` and `chatty` alive until cond() holds."""
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "timed out: " + what
            st, body, _ = S.w("GET", "/jobs/" + alive_tok)
            assert st == 200 and body["canceled"] is False
            st, _, _ = S.w("POST", "/workers/%s/status" % chatty, {})
            assert st == 200
            time.sleep(0.2)

    t0 = time.monotonic()
    tokens = []
    for attempt in range(3):
        job, tok = S.take(["t-silent"])
        assert job["id"] == j and job["args"] == {"k": 1}
        assert tok not in tokens, "a requeued job gets a new token"
        tokens.append(tok)
        st, _, _ = S.w("GET", "/jobs/" + tok)
        assert st == 200
        if attempt == 2:
            break
        pump(lambda: S.show(j)["state"] == "pending",
             "requeue %d" % (attempt + 1))
        assert S.show(j)["requeues"] == attempt + 1
        for old in tokens:
            st, body, _ = S.w("GET", "/jobs/" + old)
            assert_error(st, body, 404, 5)
        st, body, _ = S.w("PATCH", "/jobs/" + tok, {"result": {}})
        assert_error(st, body, 404, 5)
    pump(lambda: S.show(j)["state"] == "failure", "final failure")
    pump(lambda: time.monotonic() - t0 > 3, "3 s of heartbeats")
    # The polled job survived every check: it can still report its result.
    st, _, _ = S.w("PATCH", "/jobs/" + alive_tok, {"result": {"ok": True}})
    assert st == 200
    show = S.show(alive)
    assert show["state"] == "success" and show["requeues"] == 0, show
    assert len(show["heartbeats"]) >= 8

    show = S.show(j)
    err = show["result"]["job_error"]
    assert err["id"] == 27 and err["reason"], show["result"]
    assert [t["token"] for t in show["tokens"]] == tokens
    assert [t["why"] for t in show["tokens"]] == \
        ["requeued", "requeued", "heartbeat"], show["tokens"]
    st, body, _ = S.w("GET", "/jobs/" + tokens[-1])
    assert_error(st, body, 404, 5)
    st, _, _ = S.request_job(["t-silent"])
    assert st == 204

    # The canceled job was not requeued and still says so.
    show = S.show(canceled)
    assert show["state"] == "canceled" and show["requeues"] == 0, show
    st, body, _ = S.w("GET", "/jobs/" + canceled_tok)
    assert st == 200 and body["canceled"] is True

    # The silent worker is forgotten, the chatty one kept.
    st, body, _ = S.w("POST", "/workers/%s/status" % quiet, {})
    assert_error(st, body, 400, 18)
    st, _, _ = S.w("POST", "/workers/%s/status" % chatty, {})
    assert st == 200
    ids = [w["id"] for w in S.admin("GET", "/workers")]
    assert quiet not in ids and chatty in ids


if __name__ == "__main__":
    run([test_heartbeat_timeline])
