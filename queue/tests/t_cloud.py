#!/usr/bin/python3
"""The cloud API subset (/api/image-builder-composer/v2): POST /compose,
GET /composes/{id} through pending, building, success and failure, cancel,
the composer's error bodies and codes, bearer tokens, the built-in test
image types (one osbuild job, manifest for the worker's test osbuild) and
aws.s3 targets as the composer hands them out, and a compose surviving a
restart. A worker is played over the raw worker API."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import Server, make_jwt, run, tmpdir  # noqa: E402

API = "/api/image-builder-composer/v2"
SECRET_FILE = os.path.join(tmpdir(), "jwt")
with open(SECRET_FILE, "w") as f:
    f.write("cloud-secret\n")

S = Server("--request-job-timeout", "1", "--s3-bucket", "images")
J = Server("--request-job-timeout", "1", "--jwt-secret", SECRET_FILE)


def req(itype="test-small", **ir):
    r = {"architecture": "x86_64", "image_type": itype, "repositories": []}
    r.update(ir)
    return {"distribution": "debian-12", "image_request": r}


def call(s, method, path, body=None, headers=None):
    h = dict(headers if headers is not None else
             {"Content-Type": "application/json"})
    st, hd, data = s.call(method, API + path, body, headers=h)
    return st, (json.loads(data) if data else None), hd


def cloud_error(st, body, want_status, code):
    assert st == want_status, (st, body)
    assert body["kind"] == "Error", body
    assert body["code"] == "IMAGE-BUILDER-COMPOSER-%d" % code, body
    assert body["id"] == str(code), body
    assert body["href"] == "%s/errors/%d" % (API, code), body
    assert body["reason"] and body["operation_id"], body


def compose(s, body, headers=None):
    st, b, _ = call(s, "POST", "/compose", body, headers)
    assert st == 201, (st, b)
    assert b["kind"] == "ComposeId" and b["href"] == API + "/compose", b
    return b["id"]


def status(s, cid, headers=None):
    st, b, _ = call(s, "GET", "/composes/" + cid, headers=headers)
    assert st == 200, (st, b)
    assert b["kind"] == "ComposeStatus" and b["id"] == cid, b
    assert b["href"] == "%s/composes/%s" % (API, cid), b
    return b


def test_test_type_through_its_states():
    cid = compose(S, req("test-small"))
    b = status(S, cid)
    assert b["status"] == "pending", b
    assert b["image_status"]["status"] == "pending", b
    assert b["image_status"]["upload_status"]["type"] == "local", b
    job = S.show(cid)
    assert job["type"] == "osbuild" and job["dependencies"] == [], job
    man = job["args"]["manifest"]
    assert man["version"] == "2" and man["__double__"]["mode"] == "ok", man
    t = job["args"]["targets"][0]
    assert t["name"] == "org.osbuild.worker.server", t
    assert t["osbuild_artifact"]["export_name"] in \
        job["args"]["export_stages"], job["args"]
    wid = S.register()
    got, tok = S.take(["osbuild"], worker_id=wid)
    assert got["args"]["manifest"]["pipelines"], got
    b = status(S, cid)
    assert (b["status"], b["image_status"]["status"]) == \
        ("pending", "building"), b
    st, _, _ = S.w("PATCH", "/jobs/" + tok, {"result": {
        "success": True, "target_results": [{
            "name": "org.osbuild.worker.server",
            "options": {"artifact_relative_path": "disk.qcow2"}}]}})
    assert st == 200
    b = status(S, cid)
    assert b["status"] == "success", b
    assert b["image_status"]["status"] == "success", b
    assert b["image_status"]["upload_status"] == {
        "type": "local", "status": "success",
        "options": {"artifact_path": "disk.qcow2"}}, b
    assert b["image_statuses"] == [b["image_status"]], b


def test_failures_carry_the_job_error():
    cid = compose(S, req("test-broken", size=1000))
    assert S.show(cid)["args"]["manifest"]["__double__"] == {
        "sleep": 0.2, "size": 1000, "mode": "fail"}
    _, tok = S.take(["osbuild"])
    st, _, _ = S.w("PATCH", "/jobs/" + tok, {"result": {
        "success": False, "job_error": {"id": 11, "reason": "upload failed",
                                        "details": "SlowDown"}}})
    assert st == 200
    b = status(S, cid)
    assert b["status"] == "failure", b
    assert b["image_status"]["error"] == {"id": 11, "reason": "upload failed",
                                          "details": "SlowDown"}, b
    assert b["image_status"]["upload_status"]["status"] == "failure", b


def test_aws_s3_target_as_the_composer_hands_it_out():
    cid = compose(S, req("test-large", upload_targets=[
        {"type": "aws.s3", "upload_options": {"region": "us-east-1"}}]))
    t = S.show(cid)["args"]["targets"][0]
    assert t["name"] == "org.osbuild.aws.s3", t
    o = t["options"]
    assert o["bucket"] == "images" and o["region"] == "us-east-1", o
    assert o["key"].startswith("composer-api-") and o["endpoint"] == "", o
    assert o["accessKeyID"] == "" and o["filename"] == "disk.qcow2", o
    b = status(S, cid)
    assert b["image_status"]["upload_status"]["type"] == "aws.s3", b
    # The top-level upload_options of an image request: the same target.
    cid = compose(S, req("test-small", upload_options={"region": "eu"}))
    assert S.show(cid)["args"]["targets"][0]["options"]["region"] == "eu"
    # Cancel what is left, for the next tests.
    for c in (cid,):
        call(S, "POST", "/composes/%s/cancel" % c)
    S.take(["osbuild"])


def test_cancel():
    cid = compose(S, req("test-small"))
    st, b, _ = call(S, "POST", "/composes/%s/cancel" % cid)
    assert st == 200 and b["status"] == "failure", (st, b)
    assert S.show(cid)["state"] == "canceled"
    st, b, _ = call(S, "POST", "/composes/%s/cancel" % cid)
    cloud_error(st, b, 400, 31)
    # A composer chain (depsolve, manifest, osbuild) goes as a whole.
    cid = compose(S, req("qcow2"))
    deps = S.show(cid)["dependencies"]
    st, b, _ = call(S, "POST", "/composes/%s/cancel" % cid)
    assert st == 200, (st, b)
    man = S.show(deps[0])
    assert man["state"] == "canceled", man
    assert S.show(man["dependencies"][0])["state"] == "canceled"


def test_errors():
    st, b, _ = call(S, "POST", "/compose", req("iso"))
    cloud_error(st, b, 400, 6)
    st, b, _ = call(S, "POST", "/compose", dict(req(), distribution="w-11"))
    cloud_error(st, b, 400, 4)
    st, b, _ = call(S, "POST", "/compose", req(architecture="s390x"))
    cloud_error(st, b, 400, 5)
    st, b, _ = call(S, "POST", "/compose", req(upload_targets=[
        {"type": "aws.s3", "upload_options": {"region": "x", "bucket": "b"}}]))
    cloud_error(st, b, 400, 38)
    st, b, _ = call(S, "POST", "/compose", req(upload_targets=[
        {"type": "ftp", "upload_options": {}}]))
    cloud_error(st, b, 400, 38)
    st, b, _ = call(S, "POST", "/compose", b"{nope")
    cloud_error(st, b, 400, 20)
    st, b, _ = call(S, "POST", "/compose", req(), {"Content-Type":
                                                   "text/plain"})
    cloud_error(st, b, 415, 3)
    st, b, _ = call(S, "GET", "/composes/not-a-uuid")
    cloud_error(st, b, 400, 14)
    st, b, _ = call(S, "GET", "/composes/0b0a4a1e-5a3c-4c7e-9d22-000000000000")
    cloud_error(st, b, 404, 15)
    # A job that is not an osbuild job is no compose.
    other = S.enqueue("depsolve", {})
    st, b, _ = call(S, "GET", "/composes/" + other)
    cloud_error(st, b, 404, 15)
    call(S, "POST", "/composes/%s/cancel" % other)   # refused: 404
    S.admin("POST", "/jobs/%s/cancel" % other)
    st, b, _ = call(S, "GET", "/compose")
    cloud_error(st, b, 405, 22)
    st, b, _ = call(S, "GET", "/nothing")
    cloud_error(st, b, 404, 21)
    st, b, _ = call(S, "GET", "/errors/15")
    assert st == 200 and b["code"] == "IMAGE-BUILDER-COMPOSER-15", b
    st, b, _ = call(S, "GET", "/errors/x")
    cloud_error(st, b, 400, 16)


def test_bearer_tokens():
    st, b, hd = call(J, "POST", "/compose", req())
    cloud_error(st, b, 401, 401)
    assert hd.get("WWW-Authenticate", "").startswith("Bearer"), hd
    worker_tok = make_jwt(b"cloud-secret", {"exp": int(time.time()) + 60})
    st, b, _ = call(J, "POST", "/compose", req(), {
        "Content-Type": "application/json",
        "Authorization": "Bearer " + worker_tok})
    cloud_error(st, b, 401, 401)
    tok = make_jwt(b"cloud-secret", {"exp": int(time.time()) + 60,
                                     "ib_queue_admin": True})
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + tok}
    cid = compose(J, req(), h)
    assert status(J, cid, h)["status"] == "pending"
    st, b, _ = call(J, "GET", "/composes/" + cid)
    cloud_error(st, b, 401, 401)


def test_aarch64_compose():
    """image_request.architecture aarch64: the chain's jobs are aarch64
    ones (depsolve of the arm64 set, osbuild for aarch64 workers only);
    the built-in test types are x86_64 only."""
    cid = compose(S, req("qcow2", architecture="aarch64"))
    osb = S.show(cid)
    assert osb["type"] == "osbuild" and osb["arch"] == "aarch64", osb
    man = S.show(osb["dependencies"][0])
    dep = S.show(man["dependencies"][0])
    assert dep["args"]["arch"] == "aarch64", dep
    ps = dep["args"]["grouped_package_sets"]["os"][0]
    assert ps["Repositories"][0]["baseurls"][0].endswith("&arch=arm64"), ps
    st, b, _ = call(S, "POST", "/compose", req(architecture="aarch64"))
    cloud_error(st, b, 400, 5)
    assert status(S, cid)["status"] == "pending"


def test_compose_survives_a_restart():
    s = Server("--request-job-timeout", "1")
    cid = compose(s, req("test-small"))
    s.kill()
    s.start()
    assert status(s, cid)["status"] == "pending"
    _, tok = s.take(["osbuild"])
    s.kill()
    s.start()
    assert status(s, cid)["image_status"]["status"] == "building"
    st, _, _ = s.w("PATCH", "/jobs/" + tok, {"result": {"success": True}})
    assert st == 200
    assert status(s, cid)["status"] == "success"


if __name__ == "__main__":
    run([test_test_type_through_its_states, test_failures_carry_the_job_error,
         test_aws_s3_target_as_the_composer_hands_it_out, test_cancel,
         test_errors, test_aarch64_compose, test_bearer_tokens,
         test_compose_survives_a_restart])
