#!/usr/bin/python3
"""--no-partial behaves like servers before October 2025: no
UpdateJobPartial in GET /openapi, and a PATCH carrying only "partial" is
taken as the final, null result (the compose fails)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import Server, assert_error, run  # noqa: E402

OLD = Server("--no-partial", "--request-job-timeout", "1")
NEW = Server("--request-job-timeout", "1")


def test_openapi_tells_partial_support():
    for s, has in ((OLD, False), (NEW, True)):
        st, spec, _ = s.w("GET", "/openapi")
        assert st == 200
        assert ("UpdateJobPartial" in spec["components"]["schemas"]) == has
        assert "UpdateJobRequest" in spec["components"]["schemas"]


def test_partial_on_old_server_is_the_final_null_result():
    d = OLD.enqueue("depsolve", {"x": 1})
    b = OLD.enqueue("osbuild", {"y": 2}, depends=[d])
    _, tok = OLD.take(["depsolve"])
    st, _, _ = OLD.w("PATCH", "/jobs/" + tok, {"partial": {"progress": 1}})
    assert st == 200
    show = OLD.show(d)
    assert show["state"] == "failure" and show["result"] is None, show
    assert show["partial"] is None
    st, body, _ = OLD.w("PATCH", "/jobs/" + tok, {"result": {}})
    assert_error(st, body, 404, 5)
    job, _ = OLD.take(["osbuild"])
    assert job["id"] == b and job["dynamic_args"] == [None], job


def test_partial_on_new_server_keeps_running():
    d = NEW.enqueue("depsolve")
    _, tok = NEW.take(["depsolve"])
    for n in (1, 2):
        st, _, _ = NEW.w("PATCH", "/jobs/" + tok, {"partial": {"n": n}})
        assert st == 200
    show = NEW.show(d)
    assert show["state"] == "running" and show["partial"] == {"n": 2}
    st, _, _ = NEW.w("PATCH", "/jobs/" + tok,
                     {"partial": {"n": 3}, "result": {"done": 1}})
    assert st == 200
    show = NEW.show(d)
    assert show["state"] == "success" and show["result"] == {"done": 1}


if __name__ == "__main__":
    run([test_openapi_tells_partial_support,
         test_partial_on_old_server_is_the_final_null_result,
         test_partial_on_new_server_keeps_running])
