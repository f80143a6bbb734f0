#!/usr/bin/python3
"""ib-build behind the real worker (`[worker] osbuild = ib-build`) and the
project's queue, with no network or VM: a small manifest (a tree pipeline
and a qcow2 made from a file:// source) builds, its export is uploaded by
the worker.server target, the osbuild version is reported, the same job
again is served from the store, and a manifest ib-build refuses becomes the
worker's build error with the validation messages."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402

B = os.environ.get("B", "build")
IB = B if os.path.isabs(B) else os.path.join(harness.TOP, B)
IB = os.path.join(IB, "ib-build")


def build_args(tmp, hostname="ib-worker-test", bad=False):
    raw = os.path.join(tmp, "src.raw")
    if not os.path.exists(raw):
        with open(raw, "wb") as f:
            f.write(b"ib-build worker test\n" * 1000)
            f.truncate(2 << 20)
    with open(raw, "rb") as f:
        import hashlib
        digest = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "version": "2",
        "sources": {"org.osbuild.curl": {"items": {digest: "file://" + raw}}},
        "pipelines": [
            {"name": "os", "stages": [
                {"type": "org.osbuild.hostname",
                 "options": {"hostname": hostname}}]},
            {"name": "qcow2", "stages": [
                {"type": "org.osbuild.qemu",
                 "options": {"filename": "disk.qcow2",
                             "format": {"type": "qcow2"}},
                 "inputs": {"image": {
                     "type": "org.osbuild.files",
                     "origin": "org.osbuild.source",
                     "references": [digest]}}}]}]}
    if bad:
        manifest["pipelines"][1]["stages"][0]["options"]["homer"] = 1
    return {
        "manifest": manifest,
        "targets": [{"uuid": "f66640cd-c284-4c33-9666-08dd28dcb393",
                     "image_name": "disk.qcow2",
                     "name": "org.osbuild.worker.server",
                     "created": "2026-11-29T14:08:20Z", "status": "WAITING",
                     "options": {},
                     "osbuild_artifact": {"export_filename": "disk.qcow2",
                                          "export_name": "qcow2"}}],
        "pipeline_names": {"build": [], "payload": ["os", "qcow2"]},
    }


class Builder(harness.TestCase):

    def setUp(self):
        super().setUp()
        if not os.access(IB, os.X_OK):
            self.skipTest("ib-build is not built")

    def config(self):
        # The manifest's source is a file:// URL; ib-build inherits this.
        os.environ["IB_BUILD_ALLOW_FILE_URLS"] = "1"
        return '[worker]\nosbuild = "%s"\n' % IB

    def test_build_cache_and_validation(self):
        q = self.queue()
        w = self.worker("http://" + q.address, self.config())
        jid = q.enqueue("osbuild", build_args(self.tmp))
        q.wait(jid, 120)
        res = q.result(jid)
        self.assertTrue(res["success"], json.dumps(res)[:3000])
        self.assertEqual(res["upload_status"], "success")
        self.assertEqual(res["osbuild_output"]["type"], "result")
        self.assertEqual([s["type"] for s in
                          res["osbuild_output"]["log"]["qcow2"]],
                         ["org.osbuild.qemu"])
        # The worker keeps what follows "osbuild " or the whole line.
        self.assertIn(res["osbuild_version"], ("1", "ib-build 1"))
        dest = os.path.join(self.tmp, "got.qcow2")
        subprocess.run([harness.QUEUE, "--url", q.url, "artifact", jid,
                        "disk.qcow2", "-o", dest], check=True, timeout=60)
        with open(dest, "rb") as f:
            self.assertEqual(f.read(4), b"QFI\xfb")
        self.assertIn("osbuild: stage org.osbuild.qemu (pipeline qcow2)",
                      w.log())
        # Only what the export needs is built: not the "os" pipeline.
        self.assertNotIn("os", res["osbuild_output"]["log"])
        store = os.path.join(w.cache, "osbuild-store", "objects")
        self.assertEqual(len(os.listdir(store)), 1)

        # Same job again: served from the worker's store, nothing run.
        jid = q.enqueue("osbuild", build_args(self.tmp))
        q.wait(jid, 120)
        res = q.result(jid)
        self.assertTrue(res["success"], json.dumps(res)[:3000])
        self.assertEqual(res["osbuild_output"]["log"], {})

        # A manifest ib-build refuses: the worker's build error.
        jid = q.enqueue("osbuild", build_args(self.tmp, bad=True))
        q.wait(jid, 120)
        res = q.result(jid)
        self.assertFalse(res["success"])
        self.assertEqual(res["job_error"]["id"], 10)
        self.assertIn("'homer' was unexpected",
                      json.dumps(res["job_error"]["details"]))
        self.assertEqual(res["osbuild_output"]["type"],
                         "https://osbuild.org/validation-error")


if __name__ == "__main__":
    harness.main()
