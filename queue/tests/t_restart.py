#!/usr/bin/python3
"""Killing the server with SIGKILL and starting it again on the same state
dir loses nothing: pending jobs stay pending, a running job keeps its token
(a worker that keeps polling carries on, one that vanished is requeued by
the heartbeat timeout), results, workers and artifacts stay."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import Server, run  # noqa: E402

OPTS = ("--request-job-timeout", "1", "--heartbeat-timeout", "1.5",
        "--heartbeat-check", "0.2")


def test_sigkill_loses_nothing():
    s = Server(*OPTS)
    wid = s.register()
    done = s.enqueue("t-done", {"n": 1})
    _, tok = s.take(["t-done"])
    st, _, _ = s.w("PUT", "/jobs/%s/artifacts/log.txt" % tok, b"hello",
                   {"Content-Type": "application/octet-stream"})
    assert st == 200
    st, _, _ = s.w("PATCH", "/jobs/" + tok, {"result": {"answer": 42}})
    assert st == 200
    kept = s.enqueue("t-kept", {"n": 2})
    _, kept_tok = s.take(["t-kept"], worker_id=wid)
    gone = s.enqueue("t-gone", {"n": 3})
    _, gone_tok = s.take(["t-gone"])
    pending = s.enqueue("t-pending", {"n": 4}, depends=[done])
    waiting = s.enqueue("t-waiting", {"n": 5}, depends=[kept])

    s.kill()  # SIGKILL: no chance to tidy up
    s.start()

    assert s.show(done)["result"] == {"answer": 42}
    assert s.show(done)["artifacts"] == [{"name": "log.txt", "size": 5}]
    st, _, _ = s.w("POST", "/workers/%s/status" % wid, {})
    assert st == 200, "registered workers survive"
    assert s.show(pending)["state"] == "pending"
    assert s.show(waiting)["state"] == "pending"
    # The worker of `kept` keeps polling its token across the restart,
    # while `gone`'s worker has vanished: that job comes back with a new
    # token after the heartbeat timeout.
    t0 = time.monotonic()
    while s.show(gone)["state"] != "pending" or time.monotonic() - t0 < 2:
        assert time.monotonic() - t0 < 10, "abandoned job not requeued"
        st, body, _ = s.w("GET", "/jobs/" + kept_tok)
        assert st == 200 and body["canceled"] is False
        time.sleep(0.2)
    st, _, _ = s.w("PATCH", "/jobs/" + kept_tok, {"result": {"k": 1}})
    assert st == 200, "the polled job kept its token"
    assert s.show(kept)["requeues"] == 0
    st, _, _ = s.w("GET", "/jobs/" + gone_tok)
    assert st == 404
    job, new_tok = s.take(["t-gone"])
    assert job["id"] == gone and job["args"] == {"n": 3} and \
        new_tok != gone_tok
    job, _ = s.take(["t-waiting"])
    assert job["id"] == waiting and job["dynamic_args"] == [{"k": 1}]
    job, _ = s.take(["t-pending"])
    assert job["id"] == pending and job["dynamic_args"] == [{"answer": 42}]
    s.stop()


if __name__ == "__main__":
    run([test_sigkill_loses_nothing])
