#!/usr/bin/python3
"""Composes: a request becomes depsolve -> manifest (run by the queue) ->
osbuild with dynamic_args, the chain a real composer makes. A worker is
played here over the raw protocol; the manifest comes from the real
manifest generator (ib-build --generate-manifest) when it is built, else
from a stand-in script the test writes, named as such."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import Server, run, tmpdir, wait_for  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__))))
IB_BUILD = os.path.join(TOP, os.environ.get("B", "build"), "ib-build")

if os.access(IB_BUILD, os.X_OK):
    GEN = IB_BUILD + " --generate-manifest"
else:
    # Stand-in for the generator: echoes the request as the manifest.
    GEN = os.path.join(tmpdir(), "gen")
    with open(GEN, "w") as f:
        f.write("#!/usr/bin/python3\nimport json,sys\nr=json.load(sys.stdin)\n"
                "print(json.dumps({'version':'2','pipelines':[],'req':r}))\n")
    os.chmod(GEN, 0o755)

BROKEN = os.path.join(tmpdir(), "broken-gen")
with open(BROKEN, "w") as f:
    f.write("#!/bin/sh\necho 'no such stage' >&2\nexit 1\n")
os.chmod(BROKEN, 0o755)

S = Server("--request-job-timeout", "1", "--manifest-generator", GEN,
           "--debian-mirror", "http://mirror.example/debian")
B = Server("--request-job-timeout", "1", "--manifest-generator", BROKEN)
S24 = Server("--request-job-timeout", "1", "--manifest-generator", GEN,
             "--generation", "2024")

PKG = {"name": "hello", "epoch": 0, "version": "2.10-3", "release": "",
       "arch": "amd64",
       "checksum": "sha256:" + "ab" * 32,
       "remote_location": "http://mirror.example/debian/pool/h/hello.deb"}


def compose(s, req, expect=201):
    return s.admin("POST", "/composes", req, expect=expect)


def test_compose_makes_the_composer_chain():
    ids = compose(S, {"distribution": "debian-12", "image_type": "qcow2",
                      "packages": ["hello"],
                      "customizations": {"hostname": "h1"}})
    dep = S.show(ids["depsolve"])
    assert dep["type"] == "depsolve"
    ps = dep["args"]["grouped_package_sets"]["os"][0]
    assert "hello" in ps["Include"] and "linux-image-amd64" in ps["Include"]
    assert ps["Repositories"][0]["baseurls"][0].startswith(
        "deb+http://mirror.example/debian?suite=bookworm")
    assert S.show(ids["manifest"])["dependencies"] == [ids["depsolve"]]
    assert S.show(ids["id"])["dependencies"] == [ids["manifest"]]
    # A worker can never be handed the manifest job.
    st, _, _ = S.request_job(["manifest-id-only"])
    assert st == 400
    job, tok = S.take(["depsolve"])
    st, _, _ = S.w("PATCH", "/jobs/" + tok,
                   {"result": {"package_specs": {"os": [PKG]},
                               "error": "", "error_type": ""}})
    assert st == 200
    wait_for(lambda: S.show(ids["manifest"])["state"] == "success",
             timeout=60, what="the manifest")
    job, tok = S.take(["osbuild"])
    assert job["id"] == ids["id"]
    man = job["dynamic_args"][0]["data"]
    assert man["version"] == "2"
    if GEN.startswith(IB_BUILD):
        names = [p["name"] for p in man["pipelines"]]
        assert "os" in names and "qcow2" in names, names
        urls = [i["url"] if isinstance(i, dict) else i for i in
                man["sources"]["org.osbuild.curl"]["items"].values()]
        assert PKG["remote_location"] in urls
    t = job["args"]["targets"][0]
    assert t["name"] == "org.osbuild.worker.server"
    assert t["osbuild_artifact"] == {"export_filename": "disk.qcow2",
                                     "export_name": "qcow2"}
    S.w("PATCH", "/jobs/" + tok, {"result": {"success": True}})


def test_pipeline_names_where_each_generation_puts_them():
    """2026's cloud API: in the manifest job's result (info), not in the
    osbuild args; 2024: in the osbuild args only."""
    for s, gen in ((S, 2026), (S24, 2024)):
        ids = compose(s, {"packages": ["hello"]})
        _, tok = s.take(["depsolve"])
        s.w("PATCH", "/jobs/" + tok, {"result": {
            "package_specs": {"os": [PKG]}}})
        wait_for(lambda: s.show(ids["manifest"])["state"] == "success",
                 timeout=60, what="the manifest")
        job, tok = s.take(["osbuild"])
        info = job["dynamic_args"][0].get("info", {})
        if gen == 2026:
            assert "pipeline_names" not in job["args"], job["args"]
            assert "os" in info["pipeline_names"]["payload"], info
        else:
            assert "os" in job["args"]["pipeline_names"]["payload"]
            assert "pipeline_names" not in info, info
        s.w("PATCH", "/jobs/" + tok, {"result": {"success": True}})


def test_minimal_base():
    ids = compose(S, {"base": "minimal", "packages": ["hello"]})
    inc = S.show(ids["depsolve"])["args"]["grouped_package_sets"]["os"][0][
        "Include"]
    assert "linux-image-cloud-amd64" in inc and "sysvinit-core" in inc, inc
    assert "hello" in inc and "coreutils" in inc, inc
    assert "systemd-sysv" not in inc and "linux-image-amd64" not in inc, inc
    std = compose(S, {"base": "standard"})
    inc = S.show(std["depsolve"])["args"]["grouped_package_sets"]["os"][0][
        "Include"]
    assert "systemd-sysv" in inc and "sysvinit-core" not in inc, inc
    keyed = compose(S, {"gpgkeys": ["-----BEGIN PGP PUBLIC KEY BLOCK-----"
                                    "\n...", "http://mirror.example/k.asc"]})
    repo = S.show(keyed["depsolve"])["args"]["grouped_package_sets"]["os"][
        0]["Repositories"][0]
    assert repo["gpgkeys"][1] == "http://mirror.example/k.asc", repo
    assert "gpgkeys" not in S.show(std["depsolve"])["args"][
        "grouped_package_sets"]["os"][0]["Repositories"][0]
    for i in (ids, std, keyed):
        S.admin("POST", "/jobs/%s/cancel" % i["depsolve"], {})


def test_failed_depsolve_fails_the_manifest_job():
    ids = compose(S, {"packages": ["nope"]})
    _, tok = S.take(["depsolve"])
    S.w("PATCH", "/jobs/" + tok, {"result": {
        "job_error": {"id": 21, "reason": "no package nope"}}})
    wait_for(lambda: S.show(ids["manifest"])["state"] == "failure",
             timeout=30, what="the manifest failure")
    res = S.show(ids["manifest"])["result"]
    assert res["job_error"]["id"] == 5
    job, tok = S.take(["osbuild"])
    assert job["dynamic_args"][0]["job_error"]["id"] == 5
    S.w("PATCH", "/jobs/" + tok, {"result": {"job_error": {"id": 9,
                                                            "reason": "x"}}})


def test_generator_failure_is_a_job_error():
    ids = compose(B, {})
    _, tok = B.take(["depsolve"])
    B.w("PATCH", "/jobs/" + tok, {"result": {"package_specs": {"os": [PKG]}}})
    wait_for(lambda: B.show(ids["manifest"])["state"] == "failure",
             timeout=30, what="the manifest failure")
    res = B.show(ids["manifest"])["result"]
    assert res["job_error"]["id"] == 8
    assert "no such stage" in res["job_error"]["reason"]


def test_targets_the_worker_uploads_to():
    """A request names the worker's targets as the composer enqueues
    them: each with its options, the artifact of the request's image type
    and its own image_name when given; the generic S3 target is aws.s3
    with an endpoint."""
    s3 = {"endpoint": "http://127.0.0.1:9000", "region": "us-east-1",
          "bucket": "images", "ca_bundle": "", "key": "k1",
          "skip_ssl_verification": True}
    made = []
    for itype, targets in (
            ("vhd", [{"type": "org.osbuild.azure", "options": {
                "storage_account": "acct", "storage_access_key": "a2V5",
                "container": "vhds"}, "image_name": "legacy.vhd"}]),
            ("vmdk", [{"type": "org.osbuild.vmware", "options": {
                "host": "vcenter.example", "username": "u", "password": "p",
                "datacenter": "dc", "cluster": "c", "datastore": "ds"}}]),
            ("qcow2", [{"type": "org.osbuild.oci", "options": {
                "bucket": "b", "namespace": "n"}},
                {"type": "org.osbuild.aws.s3", "options": s3},
                {"type": "org.osbuild.oci.objectstorage", "options": {}}])):
        ids = compose(S, {"image_type": itype, "targets": targets,
                          "image_name": "img-" + itype})
        made.append(ids)
        got = S.show(ids["id"])["args"]["targets"]
        assert [t["name"] for t in got] == [t["type"] for t in targets]
        for t, want in zip(got, targets):
            assert t["options"] == want["options"]
            assert t["image_name"] == want.get("image_name", "img-" + itype)
            assert t["osbuild_artifact"]["export_name"] == \
                {"vhd": "vpc", "vmdk": "vmdk", "qcow2": "qcow2"}[itype]
            assert t["status"] == "WAITING"
    # What cannot work is refused, saying why; nothing is enqueued.
    before = len(S.admin("GET", "/jobs"))
    for req, said in (
            ({"image_type": "qcow2", "targets": [
                {"type": "org.osbuild.vmware", "options": {}}]},
             "org.osbuild.vmware takes image_type vmdk, not 'qcow2'"),
            ({"image_type": "qcow2", "targets": [
                {"type": "org.osbuild.azure", "options": {}}]},
             "org.osbuild.azure takes image_type vhd"),
            ({"targets": [{"type": "org.osbuild.container"}]},
             "org.osbuild.container needs an OCI archive"),
            ({"targets": [{"type": "org.osbuild.pulp.ostree"}]},
             "org.osbuild.pulp.ostree needs an ostree commit archive"),
            ({"targets": [{"type": "org.osbuild.aws.s3",
                           "image_name": "../x"}]},
             "image_name must be a plain file name")):
        body = compose(S, req, expect=400)
        assert said in json.dumps(body), (said, body)
    assert len(S.admin("GET", "/jobs")) == before
    # The chains wait for a depsolve no worker takes here: cancelled, so
    # later tests on this queue get their own jobs.
    for ids in made:
        S.admin("POST", "/jobs/%s/cancel" % ids["depsolve"], {})


def test_aarch64_compose_goes_to_an_aarch64_worker():
    """A compose naming aarch64: its depsolve job resolves arm64 packages
    (the arm64 kernel, GRUB's arm64 EFI modules, the arm64 lists), the
    manifest is an aarch64 one, and its osbuild job is handed only to an
    aarch64 worker, as the composer queues osbuild:aarch64."""
    ids = compose(S, {"distribution": "debian-12", "image_type": "qcow2",
                      "arch": "aarch64", "packages": ["hello"]})
    dep = S.show(ids["depsolve"])
    assert dep["arch"] == "aarch64" and dep["args"]["arch"] == "aarch64"
    ps = dep["args"]["grouped_package_sets"]["os"][0]
    assert "linux-image-arm64" in ps["Include"], ps["Include"]
    assert "grub-efi-arm64-bin" in ps["Include"], ps["Include"]
    assert not [p for p in ps["Include"] if p.endswith("-amd64")], ps
    url = ps["Repositories"][0]["baseurls"][0]
    assert url.endswith("&arch=arm64"), url
    assert S.show(ids["id"])["arch"] == "aarch64"
    # Depsolve jobs are not bound to an architecture (an x86_64 worker
    # resolves the arm64 set).
    job, tok = S.take(["depsolve"], arch="x86_64")
    assert job["id"] == ids["depsolve"]
    pkg = dict(PKG, arch="arm64", remote_location=PKG["remote_location"]
               .replace(".deb", "_arm64.deb"))
    S.w("PATCH", "/jobs/" + tok,
        {"result": {"package_specs": {"os": [pkg]}, "error": "",
                    "error_type": ""}})
    wait_for(lambda: S.show(ids["manifest"])["state"] == "success",
             timeout=60, what="the manifest")
    # An x86_64 worker is not given the aarch64 build; an aarch64 one is.
    st, body, _ = S.request_job(["osbuild"], arch="x86_64")
    assert st == 204, (st, body)
    job, tok = S.take(["osbuild"], arch="aarch64")
    assert job["id"] == ids["id"] and job["type"] == "osbuild"
    man = job["dynamic_args"][0]["data"]
    if GEN.startswith(IB_BUILD):
        text = json.dumps(man)
        assert '"architecture": "arm64"' in text, text[:2000]
        assert '"arch": "aarch64"' in text and '"uefi"' in text
    else:
        assert man["req"]["arch"] == "aarch64"
    S.w("PATCH", "/jobs/" + tok, {"result": {"success": True}})


def test_bad_requests():
    for bad in ({"distribution": "windows-11"}, {"image_type": "iso"},
                {"packages": "hello"}, {"packages": ["../x"]},
                {"targets": [{"type": "org.example.ftp"}]},
                {"image_name": "../../etc/passwd"}, {"mirror": "ftp://x"},
                {"base": "tiny"}, {"base": ["minimal"]},
                {"distribution": ["debian-12"]}, {"image_type": {}},
                {"gpgkeys": "k"}, {"gpgkeys": [1]}, {"gpgkeys": [""]},
                {"arch": "s390x"}, {"arch": ["aarch64"]}, {"arch": "arm64"},
                ["not", "an", "object"]):
        compose(S, bad, expect=400)


def test_cli_compose():
    p = S.cli("compose", json.dumps({"image_type": "raw"}))
    job_id = p.stdout.strip()
    assert S.show(job_id)["type"] == "osbuild"


if __name__ == "__main__":
    run([test_compose_makes_the_composer_chain,
         test_pipeline_names_where_each_generation_puts_them,
         test_minimal_base,
         test_failed_depsolve_fails_the_manifest_job,
         test_generator_failure_is_a_job_error,
         test_targets_the_worker_uploads_to,
         test_aarch64_compose_goes_to_an_aarch64_worker, test_bad_requests,
         test_cli_compose])
