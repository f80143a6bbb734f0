#!/usr/bin/python3
"""koji-init and koji-finalize end to end, as a composer chains them: the
worker binary takes koji-init, an osbuild job with an org.osbuild.koji
target (osbuild is the test double) and koji-finalize, which depends on
both, from the project's queue, against the Koji hub double
(doubles/koji.py: the content generator calls checked as Koji checks them,
files included). Checked: the build reserved and imported with the
metadata Koji wants (buildroot, outputs, checksums, the RPMs of the build's
metadata), the depsolve job's SBOM documents uploaded by the target and
imported as sbom-doc outputs, an import retried on the corrupted-upload
fault, and the
failures a user meets: a refused import and a failed build, both of which
refund the build; an NVR that exists; kinds offered only with a hub."""

import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
from koji import KojiDouble  # noqa: E402

DOUBLES = harness.DOUBLES
EXPORT = ("qcow2", "disk.qcow2")
DIR = "osbuild-cg/osbuild-composer-koji-0c1a2b3c"
IMAGE = "Fedora-Cloud-41-1.x86_64.qcow2"
NVR = {"name": "Fedora-Cloud", "version": "41", "release": "1"}


class KojiJobs(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.hub = self.keep(KojiDouble())
        self.q = self.queue()

    def start(self, koji=True):
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\n%s' % (DOUBLES, '[koji."127.0.0.1"]\n' if koji
                                     else ""))

    def depsolved(self, sbom_docs):
        """A depsolve job finished with sbom_docs, taken and answered
        through the queue's worker API as a worker with a dnf depsolver
        that writes SBOMs would (ours has none here): its id."""
        dep = self.q.enqueue("depsolve", {})
        base = "http://%s/api/worker/v1" % self.q.address

        def call(method, url, body):
            req = urllib.request.Request(url, json.dumps(body).encode(),
                                         {"Content-Type":
                                          "application/json"},
                                         method=method)
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"null")
        job = call("POST", base + "/jobs", {"types": ["depsolve"],
                                            "arch": "x86_64"})
        self.assertEqual(job["id"], dep)
        res = jobs.fixture("depsolve-job-result.current-format.example.json")
        del res["_comment"]
        res["sbom_docs"] = sbom_docs
        call("PATCH", "http://" + self.q.address + job["location"],
             {"result": res})
        self.q.wait(dep, 30)
        return dep

    def chain(self, mode="ok", nvr=NVR, sbom_docs=None):
        init = self.q.enqueue("koji-init", dict(nvr, server=self.hub.url))
        self.q.wait(init, 60)
        t = jobs.target("org.osbuild.koji", {
            "server": self.hub.url, "upload_directory": DIR}, IMAGE, EXPORT,
            "0c1a2b3c-0000-4000-8000-000000000001")
        args = jobs.osbuild_args({"size": 100000, "mode": mode}, EXPORT, [t])
        deps = []
        if sbom_docs is not None:
            deps = [self.depsolved(sbom_docs)]
            args["depsolve_dyn_args_idx"] = 0
        build = self.q.enqueue("osbuild", args, depends=deps)
        self.q.wait(build, 120)
        fin = self.q.enqueue("koji-finalize", dict(
            nvr, server=self.hub.url, koji_filenames=[IMAGE],
            koji_directory=DIR, task_id=4242, start_time=1764000000),
            depends=[init, build])
        self.q.wait(fin, 60)
        return (self.q.result(init), self.q.result(build),
                self.q.result(fin))

    def test_init_build_finalize(self):
        self.hub.corrupt_imports = 1
        w = self.start()
        init, build, fin = self.chain()
        self.assertNotIn("job_error", init, json.dumps(init))
        bid = init["build_id"]
        self.assertEqual(self.hub.builds[bid]["token"], init["token"])
        self.assertTrue(build.get("success"), json.dumps(build)[:2000])
        self.assertNotIn("job_error", fin, json.dumps(fin))
        b = self.hub.builds[bid]
        self.assertEqual((b["state"], b["directory"]), ("COMPLETE", DIR))
        md = b["metadata"]
        self.assertEqual(md["build"]["task_id"], 4242)
        self.assertEqual(md["build"]["start_time"], 1764000000)
        self.assertEqual(list(md["build"]["extra"]["typeinfo"]["image"]),
                         [IMAGE])
        (root,) = md["buildroots"]
        self.assertEqual(root["content_generator"]["name"], "osbuild")
        self.assertEqual(root["container"], {"type": "none",
                                             "arch": "x86_64"})
        # The build pipeline's RPMs, from the build's metadata.
        self.assertEqual([c["name"] for c in root["components"]],
                         ["gpg-pubkey"])
        types = sorted(o["type"] for o in md["output"])
        self.assertEqual(types, ["image", "log", "osbuild-manifest"])
        img = [o for o in md["output"] if o["type"] == "image"][0]
        self.assertEqual((img["filename"], img["filesize"]),
                         (IMAGE, 100000))
        log = [o for o in md["output"] if o["type"] == "log"][0]
        self.assertEqual(log["arch"], "noarch")
        self.assertEqual(self.hub.refunds, [])
        self.assertIn("corrupted upload; trying again", w.log())
        self.assertNotIn(init["token"], w.log())

    def test_sbom_documents_imported(self):
        self.start()
        build_doc = {"spdxVersion": "SPDX-2.3", "name": "build",
                     "packages": [{"name": "gcc"}]}
        os_doc = {"spdxVersion": "SPDX-2.3", "name": "os/é"}
        init, build, fin = self.chain(sbom_docs={
            "build": {"type": "spdx", "document": build_doc},
            "os": {"type": "spdx", "document": os_doc}})
        self.assertTrue(build.get("success"), json.dumps(build)[:2000])
        (kt,) = build["target_results"]
        names = sorted(d["filename"] for d in kt["options"]["sbom_docs"])
        self.assertEqual(names, [IMAGE + ".buildroot-build.spdx.json",
                                 IMAGE + ".image-os.spdx.json"])
        self.assertNotIn("job_error", fin, json.dumps(fin))
        md = self.hub.builds[init["build_id"]]["metadata"]
        sboms = {o["filename"]: o for o in md["output"]
                 if o["type"] == "sbom-doc"}
        self.assertEqual(sorted(sboms), names)
        for o in sboms.values():
            self.assertEqual(o["extra"], {"image": {"arch": "x86_64"}})
            self.assertEqual(o["checksum_type"], "md5")
        # What the hub holds is the document the depsolve job made (the
        # double checked each file's size and MD5 against the metadata).
        got = self.hub.files[DIR + "/" + IMAGE + ".image-os.spdx.json"]
        self.assertEqual(json.loads(got), os_doc)
        # Only the image names the build's typeinfo: SBOMs are outputs.
        self.assertEqual(list(md["build"]["extra"]["typeinfo"]["image"]),
                         [IMAGE])

    def test_unsupported_sbom_type_fails_the_target(self):
        self.start()
        init, build, fin = self.chain(sbom_docs={
            "os": {"type": "cyclonedx", "document": {}}})
        (kt,) = build["target_results"]
        self.assertEqual(kt["target_error"]["id"], 17)
        self.assertIn("Unsupported SBOM document type: cyclonedx",
                      kt["target_error"]["reason"])
        self.assertEqual(fin["job_error"]["id"], 13)
        self.assertEqual(self.hub.refunds, [(init["build_id"], 3)])

    def test_refused_import_refunds_the_build(self):
        self.hub.import_fault = "Permission denied: composer is not a " \
            "content generator user"
        self.start()
        init, _, fin = self.chain()
        self.assertEqual(fin["job_error"]["id"], 16)
        self.assertIn("Could not import build into koji", fin["job_error"]
                      ["reason"])
        self.assertIn("Permission denied", fin["job_error"]["reason"])
        self.assertEqual(self.hub.refunds, [(init["build_id"], 3)])
        self.assertEqual(self.hub.builds[init["build_id"]]["state"],
                         "FAILED")

    def test_failed_build_refunds_the_build(self):
        self.start()
        init, build, fin = self.chain(mode="fail")
        self.assertFalse(build.get("success"))
        self.assertEqual(fin["job_error"], {
            "id": 13, "reason": "At least one job dependency failed"})
        self.assertEqual(self.hub.refunds, [(init["build_id"], 3)])
        self.assertNotIn("CGImport", [c for c, _ in self.hub.calls])

    def test_existing_nvr(self):
        self.hub.CGInitBuild(dict(NVR))
        self.start()
        init = self.q.enqueue("koji-init", dict(NVR, server=self.hub.url))
        self.q.wait(init, 60)
        res = self.q.result(init)
        self.assertEqual(res["job_error"]["id"], 15)
        self.assertIn("Build already exists", res["job_error"]["reason"])
        self.assertEqual(self.hub.logouts, 1)

    def test_not_offered_without_a_hub(self):
        self.start(koji=False)
        init = self.q.enqueue("koji-init", dict(NVR, server=self.hub.url))
        probe = self.q.enqueue("file-resolve", {"urls": []})
        self.q.wait(probe, 60)        # the worker is asking for jobs
        time.sleep(2)
        self.assertEqual(self.q.show(init)["state"], "pending")
        self.assertEqual(self.hub.calls, [])


if __name__ == "__main__":
    harness.main()
