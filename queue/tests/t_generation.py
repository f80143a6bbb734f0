#!/usr/bin/python3
"""--generation 2024|2026: where the two composer generations differ.
2024 (upstream 41a532291cb7): no UpdateJobPartial, and an osbuild result
whose worker.server target result carries options is stored and then
fails to decode (500 code 1004, the retry is 404 code 5). 2026 (upstream
0f4e3becc121): partial updates read back with the JobResult struct
(sub_progress kept, subprogress lost), worker.server options decoded,
and a malformed worker id on the status call is a 500 code 10000."""

import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import Server, assert_error, run  # noqa: E402

G2024 = Server("--generation", "2024", "--request-job-timeout", "1")
G2026 = Server("--request-job-timeout", "1")

WS_OK = {"success": True, "target_results": [{
    "name": "org.osbuild.worker.server",
    "options": {"artifact_relative_path": "disk.qcow2"}}]}
WS_BARE = {"success": True, "target_results": [{
    "name": "org.osbuild.worker.server"}]}


def test_openapi():
    for s, has in ((G2024, False), (G2026, True)):
        st, spec, _ = s.w("GET", "/openapi")
        assert st == 200
        assert ("UpdateJobPartial" in spec["components"]["schemas"]) == has


def test_2024_refuses_worker_server_options():
    j = G2024.enqueue("osbuild", {"a": 1})
    _, tok = G2024.take(["osbuild"])
    st, body, _ = G2024.w("PATCH", "/jobs/" + tok, {"result": WS_OK})
    assert_error(st, body, 500, 1004)
    assert body["reason"] == "Error finishing job", body
    # Stored all the same: the retry finds the job finished.
    assert G2024.show(j)["state"] == "success"
    st, body, _ = G2024.w("PATCH", "/jobs/" + tok, {"result": WS_OK})
    assert_error(st, body, 404, 5)
    # A null options is decoded too.
    G2024.enqueue("osbuild", {"a": 2})
    _, tok = G2024.take(["osbuild"])
    bad = {"target_results": [{"name": "org.osbuild.worker.server",
                               "options": None}]}
    st, body, _ = G2024.w("PATCH", "/jobs/" + tok, {"result": bad})
    assert_error(st, body, 500, 1004)
    # Without options it is read.
    G2024.enqueue("osbuild", {"a": 3})
    _, tok = G2024.take(["osbuild"])
    st, _, _ = G2024.w("PATCH", "/jobs/" + tok, {"result": WS_BARE})
    assert st == 200


def test_result_of_a_canceled_job():
    # Both generations' job queues answer "job was canceled" before "not
    # running"; the handler maps it to its catch-all: 500 code 1004 (seen
    # on both real composers), the token still answers canceled:true.
    for s in (G2024, G2026):
        j = s.enqueue("osbuild", {"a": 1})
        _, tok = s.take(["osbuild"])
        s.admin("POST", "/jobs/%s/cancel" % j)
        st, body, _ = s.w("PATCH", "/jobs/" + tok, {"result": WS_BARE})
        assert_error(st, body, 500, 1004)
        assert body["reason"] == "Error finishing job", body
        st, body, _ = s.w("GET", "/jobs/" + tok)
        assert st == 200 and body["canceled"] is True, body
        assert s.show(j)["state"] == "canceled"


def test_2026_takes_worker_server_options():
    G2026.enqueue("osbuild", {"a": 1})
    _, tok = G2026.take(["osbuild"])
    st, _, _ = G2026.w("PATCH", "/jobs/" + tok, {"result": WS_OK})
    assert st == 200
    G2026.enqueue("osbuild", {"a": 2})
    _, tok = G2026.take(["osbuild"])
    pulp = {"target_results": [{"name": "org.osbuild.pulp.ostree",
                                "options": {}}]}
    st, body, _ = G2026.w("PATCH", "/jobs/" + tok, {"result": pulp})
    assert_error(st, body, 500, 1004)


def test_2026_progress_as_read_back():
    j = G2026.enqueue("osbuild", {"b": 1})
    _, tok = G2026.take(["osbuild"])
    p = {"progress": {"message": "m", "done": 1, "total": 4,
                      "sub_progress": {"message": "s", "done": 2,
                                       "total": 9}}}
    st, _, _ = G2026.w("PATCH", "/jobs/" + tok, {"partial": p})
    assert st == 200
    assert G2026.show(j)["progress"] == p["progress"]
    p = {"progress": {"message": "m", "done": 1, "total": 4,
                      "subprogress": {"message": "s", "done": 2,
                                      "total": 9}}}
    st, _, _ = G2026.w("PATCH", "/jobs/" + tok, {"partial": p})
    assert st == 200
    assert G2026.show(j)["progress"] == {"message": "m", "done": 1,
                                         "total": 4}


def test_unknown_worker_answers():
    for s in (G2024, G2026):
        st, body, _ = s.w("POST", "/workers/%s/status" % uuid.uuid4())
        assert_error(st, body, 400, 18)
    st, body, _ = G2024.w("POST", "/workers/not-a-uuid/status")
    assert_error(st, body, 400, 17)
    st, body, _ = G2026.w("POST", "/workers/not-a-uuid/status")
    assert_error(st, body, 500, 10000)
    # The long poll gives no such signal: both composers' job queues
    # dequeue without looking the worker up, so an idle poll from a
    # forgotten worker ends as any other (204), and only the status call
    # can tell the worker to register again.
    for s in (G2024, G2026):
        st, _, _ = s.request_job(["no-such-type-queued"],
                                 worker_id=str(uuid.uuid4()))
        assert st == 204, st


def test_compose_status_needs_asserted_options():
    """GET /composes/ID type-asserts the options of cloud targets: a
    failed result without the key is a 500 (10001) on both generations,
    a null is read. worker.server is asserted by 2026 only."""
    failed = {"id": 17, "reason": "no bucket"}
    for s in (G2024, G2026):
        for tr, want in (
                ({"name": "org.osbuild.aws.s3", "target_error": failed},
                 "AWSS3TargetResultOptions"),
                ({"name": "org.osbuild.aws.s3", "options": None,
                  "target_error": failed}, None),
                ({"name": "org.osbuild.gcp", "target_error": failed},
                 "GCPTargetResultOptions"),
                ({"name": "org.osbuild.worker.server"},
                 "WorkerServerTargetResultOptions"
                 if s is G2026 else None)):
            j = s.enqueue("osbuild", {"pipeline_names": {"payload": []}})
            _, tok = s.take(["osbuild"])
            st, _, _ = s.w("PATCH", "/jobs/" + tok, {"result": {
                "target_results": [tr], "pipeline_names": {"payload": []}}})
            assert st == 200
            st, _, data = s.call("GET", "/api/queue/v1/composes/" + j,
                                 headers=s.admin_headers())
            if want is None:
                assert st == 200, (tr, st, data)
            else:
                assert st == 500, (tr, st, data)
                body = json.loads(data)
                assert body["code"] == "IMAGE-BUILDER-COMPOSER-10001"
                assert body["reason"].endswith("*target." + want), body


def test_compose_metadata_needs_pipeline_names():
    """2026 reads the pipeline names from the osbuild result, 2024 from
    the job's args; missing, the metadata call is a 500 (10001)."""
    names = {"build": ["build"], "payload": ["os", "image"]}
    for s, args, res, want in (
            (G2026, {"pipeline_names": names}, {}, 500),
            (G2026, {}, {"pipeline_names": names}, 200),
            (G2024, {}, {"pipeline_names": names}, 500),
            (G2024, {"pipeline_names": names}, {}, 200)):
        j = s.enqueue("osbuild", args)
        _, tok = s.take(["osbuild"])
        st, _, _ = s.w("PATCH", "/jobs/" + tok, {"result": res})
        assert st == 200
        st, _, data = s.call("GET", "/api/queue/v1/composes/%s/metadata" %
                             j, headers=s.admin_headers())
        assert st == want, (s.extra, args, res, st, data)


if __name__ == "__main__":
    run([test_openapi, test_2024_refuses_worker_server_options,
         test_compose_status_needs_asserted_options,
         test_compose_metadata_needs_pipeline_names,
         test_2026_takes_worker_server_options,
         test_2026_progress_as_read_back, test_unknown_worker_answers,
         test_result_of_a_canceled_job])
