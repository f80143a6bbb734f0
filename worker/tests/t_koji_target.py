#!/usr/bin/python3
"""org.osbuild.koji end to end: the worker binary takes an osbuild job from
the project's queue (osbuild is the test double) and uploads the image,
the manifest and the build log to the Koji hub double (doubles/koji.py:
XML-RPC checked against the hub's signatures, sessions and call numbers,
chunked uploads answered with size and Adler-32 as Koji answers them).
Checked: the files and their MD5s in the result, chunks in order, a chunk
retried on 503 under the same call number, logout always, and the
failures a user meets: a hub not configured, a refused login, a hub that
kept less than was sent, a bad upload directory; no session key in logs."""

import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
from koji import KojiDouble  # noqa: E402

DOUBLES = harness.DOUBLES
KiB = 1 << 10
EXPORT = ("qcow2", "disk.qcow2")
DIR = "osbuild-cg/osbuild-composer-koji-0c1a2b3c"


def target(options, image_name="Fedora-Cloud-41.x86_64.qcow2", n=1):
    return jobs.target("org.osbuild.koji", options, image_name, EXPORT,
                       "0c1a2b3c-0000-4000-8000-%012d" % n)


class KojiTarget(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.hub = self.keep(KojiDouble())
        self.q = self.queue()

    def start(self, extra='[koji."127.0.0.1"]\nrelax_timeout_factor = 2\n'):
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\n%s' % (DOUBLES, extra),
                           env={"IB_KOJI_CHUNK_SIZE": str(1024 * KiB)})

    def run_job(self, targets, size, timeout=120):
        args = jobs.osbuild_args({"size": size}, EXPORT, targets)
        jid = self.q.enqueue("osbuild", args)
        self.q.wait(jid, timeout)
        return args, self.q.result(jid)

    def assert_no_session_key(self, w, res):
        text = w.log() + json.dumps(res)
        self.assertNotIn("session-key", text)
        for s in self.hub.sessions.values():
            self.assertNotIn(s["key"], text)

    def test_upload_image_manifest_log(self):
        self.hub.chunk_failures = 1
        w = self.start()
        size = 2 * 1024 * KiB + 4321
        name = "Fedora-Cloud-41.x86_64.qcow2"
        args, res = self.run_job([target({"server": self.hub.url,
                                          "upload_directory": DIR})], size)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        opts = res["target_results"][0]["options"]
        img = bytes(self.hub.files[DIR + "/" + name])
        self.assertEqual(len(img), size)
        self.assertEqual(opts["image"], {
            "filename": name, "checksum_type": "md5",
            "checksum": hashlib.md5(img).hexdigest(), "size": size})
        self.assertEqual((opts["image_md5"], opts["image_size"]),
                         (hashlib.md5(img).hexdigest(), size))
        man = bytes(self.hub.files[DIR + "/" + name + ".manifest.json"])
        self.assertEqual(json.loads(man), args["manifest"])
        self.assertIn(b"\n  ", man)       # indented, as the reference
        self.assertEqual(opts["osbuild_manifest"]["checksum"],
                         hashlib.md5(man).hexdigest())
        log = bytes(self.hub.files[DIR + "/" + name + ".osbuild.log"])
        self.assertIn(b"Pipeline: ", log)
        self.assertIn(b"Stage: org.osbuild.", log)
        self.assertEqual(opts["log"]["filename"], name + ".osbuild.log")
        self.assertEqual(opts["log"]["size"], len(log))
        # Login, then calls with growing numbers, the failed chunk retried
        # under its own number; logged out.
        self.assertEqual(self.hub.calls[0], ("sslLogin", None))
        self.assertEqual(self.hub.calls[-1][0], "logout")
        self.assertEqual(self.hub.logouts, 1)
        self.assertEqual(self.hub.faults, [])
        self.assertEqual(self.hub.negotiate_seen, [False])
        self.assertIn("retrying", w.log())
        self.assert_no_session_key(w, res)

    def test_hub_not_configured(self):
        self.start()
        _, res = self.run_job([target({"server": "https://koji.example."
                                       "test/kojihub",
                                       "upload_directory": DIR})], 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 2)
        self.assertEqual(terr["reason"], "Koji server has not been "
                         "configured: koji.example.test")
        self.assertEqual(self.hub.calls, [])

    def test_login_refused(self):
        self.hub.login_fault = "could not get user for principal " \
            "composer/worker@EXAMPLE.TEST"
        w = self.start()
        _, res = self.run_job([target({"server": self.hub.url,
                                       "upload_directory": DIR})], 1000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 2)
        self.assertIn('failed to authenticate with Koji server '
                      '"127.0.0.1"', terr["reason"])
        self.assertIn("1002: koji.AuthError: could not get user",
                      terr["reason"])
        self.assertEqual(self.hub.files, {})
        self.assertTrue(w.alive())

    def test_hub_kept_less_than_sent(self):
        self.hub.short_chunks = 1
        w = self.start()
        _, res = self.run_job([target({"server": self.hub.url,
                                       "upload_directory": DIR})], 3000)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("sent 3000 bytes at offset 0, the hub got 2999",
                      terr["reason"])
        self.assertEqual(self.hub.logouts, 1)
        self.assert_no_session_key(w, res)

    def test_bad_options(self):
        self.start()
        _, res = self.run_job([
            target({"server": self.hub.url, "upload_directory": "../etc"},
                   n=1),
            target({"server": self.hub.url, "upload_directory": "/abs"},
                   n=2),
            target({"server": "not a url", "upload_directory": DIR}, n=3),
            target({"server": self.hub.url, "upload_directory": DIR},
                   image_name="ok.qcow2", n=5),
        ], 1000)
        self.assertIn("target_results", res, json.dumps(res)[:2000])
        errs = [t.get("target_error") for t in res["target_results"]]
        self.assertEqual([e["id"] for e in errs[:3]], [2, 2, 2])
        self.assertIn("failed to parse Koji server URL", errs[2]["reason"])
        self.assertIsNone(errs[3])
        self.assertEqual(sorted(self.hub.files),
                         [DIR + "/ok.qcow2", DIR + "/ok.qcow2.manifest.json",
                          DIR + "/ok.qcow2.osbuild.log"])


if __name__ == "__main__":
    harness.main()
