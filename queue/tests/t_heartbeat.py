#!/usr/bin/python3
"""Liveness: a job whose worker stops polling GET /jobs/{token} is requeued
with a new token (the old one answers 404 code 5) at most --max-requeues
times, then fails with job error 27; a polled job is left alone; silent
workers are forgotten (400 code 18)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import Server, assert_error, run, wait_for  # noqa: E402

S = Server("--request-job-timeout", "1", "--heartbeat-timeout", "1",
           "--heartbeat-check", "0.2", "--max-requeues", "2",
           "--worker-timeout", "1.5")


def test_requeue_twice_then_error_27():
    j = S.enqueue("t-silent", {"k": 1})
    tokens = []
    for attempt in range(3):
        job, tok = S.take(["t-silent"])
        assert job["id"] == j and job["args"] == {"k": 1}
        assert tok not in tokens, "a requeued job gets a new token"
        tokens.append(tok)
        st, _, _ = S.w("GET", "/jobs/" + tok)
        assert st == 200
        if attempt < 2:
            wait_for(lambda: S.show(j)["state"] == "pending", timeout=6,
                     what="requeue %d" % (attempt + 1))
            assert S.show(j)["requeues"] == attempt + 1
            for old in tokens:
                st, body, _ = S.w("GET", "/jobs/" + old)
                assert_error(st, body, 404, 5)
            st, body, _ = S.w("PATCH", "/jobs/" + tok, {"result": {}})
            assert_error(st, body, 404, 5)
    wait_for(lambda: S.show(j)["state"] == "failure", timeout=6,
             what="final failure")
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


def test_polled_job_is_kept():
    j = S.enqueue("t-alive")
    _, tok = S.take(["t-alive"])
    end = time.monotonic() + 3
    while time.monotonic() < end:
        st, body, _ = S.w("GET", "/jobs/" + tok)
        assert st == 200 and body["canceled"] is False
        time.sleep(0.3)
    show = S.show(j)
    assert show["state"] == "running" and show["requeues"] == 0, show
    assert len(show["heartbeats"]) >= 8
    st, _, _ = S.w("PATCH", "/jobs/" + tok, {"result": {"ok": True}})
    assert st == 200 and S.show(j)["state"] == "success"


def test_canceled_job_is_not_requeued():
    j = S.enqueue("t-cancel-quiet")
    _, tok = S.take(["t-cancel-quiet"])
    S.admin("POST", "/jobs/%s/cancel" % j)
    time.sleep(1.6)
    show = S.show(j)
    assert show["state"] == "canceled" and show["requeues"] == 0, show
    st, body, _ = S.w("GET", "/jobs/" + tok)
    assert st == 200 and body["canceled"] is True


def test_silent_worker_is_forgotten():
    quiet, chatty = S.register(), S.register()
    end = time.monotonic() + 2
    while time.monotonic() < end:
        st, _, _ = S.w("POST", "/workers/%s/status" % chatty, {})
        assert st == 200
        time.sleep(0.4)
    st, body, _ = S.w("POST", "/workers/%s/status" % quiet, {})
    assert_error(st, body, 400, 18)
    st, _, _ = S.w("POST", "/workers/%s/status" % chatty, {})
    assert st == 200
    ids = [w["id"] for w in S.admin("GET", "/workers")]
    assert quiet not in ids and chatty in ids


if __name__ == "__main__":
    run([test_requeue_twice_then_error_27, test_polled_job_is_kept,
         test_canceled_job_is_not_requeued, test_silent_worker_is_forgotten])
