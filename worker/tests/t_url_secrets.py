#!/usr/bin/python3
"""No credential in a URL reaches a log or an error: file-resolve,
ostree-resolve and depsolve (the real ib-depsolve) jobs whose URLs carry
user:password@ and presigned query strings, run against the local queue
with text and with JSON logs. The worker's log and the job results must
not contain the secrets; the results' data fields keep the URLs the
composer sent (it matches and builds on them)."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402

SECRETS = ("hunter2pw", "AKIASECRETSIG", "sigSECRETvalue", "fragSECRET")
QUERY = "?X-Amz-Signature=AKIASECRETSIG&sig=sigSECRETvalue"
CHECKSUM = "ab" * 32
REF = "test/x86_64/base"


class URLSecrets(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.files = self.keep(harness.FileServer({
            "/f" + QUERY: b"hello",
            "/repo/refs/heads/" + REF + QUERY: CHECKSUM.encode() + b"\n",
        }))
        self.host = "127.0.0.1:%d" % self.files.port
        self.q = self.queue()

    def url(self, path, fragment=""):
        return "http://admin:hunter2pw@%s%s%s%s" % (self.host, path, QUERY,
                                                     fragment)

    def clean(self, what, text):
        for s in SECRETS:
            self.assertNotIn(s, text, "%s shows a secret:\n%s" %
                             (what, text[-3000:]))

    def run_job(self, jtype, args):
        jid = self.q.enqueue(jtype, args)
        self.q.wait(jid, 60)
        return self.q.result(jid)

    def check(self, log_format):
        w = self.worker("http://" + self.q.address,
                        'dnf-json = "%s"\n[worker]\nlog_format = "%s"\n' %
                        (os.path.join(harness.BUILD, "ib-depsolve"),
                         log_format), name="w-" + log_format)
        dead = "http://u:hunter2pw@127.0.0.1:%d/x%s" % (harness.free_port(),
                                                         QUERY)
        # file-resolve: one found (the server sees the query), one 404,
        # one unreachable, one not http.
        urls = ["http://admin:hunter2pw@%s/f%s" % (self.host, QUERY),
                self.url("/missing", "#fragSECRET"), dead,
                "ftp://u:hunter2pw@h/x" + QUERY]
        res = self.run_job("file-resolve", {"urls": urls})
        self.assertEqual(res["results"][0]["content"], "aGVsbG8=")
        # The composer's own URLs come back as given: its key.
        self.assertEqual([r["url"] for r in res["results"]], urls)
        errors = json.dumps(res["job_error"])
        self.assertIn("HTTP 404", errors)
        self.assertIn("<redacted>", json.dumps(res["job_error"]) +
                      w.log())
        self.clean("file-resolve job_error", errors)

        # ostree-resolve: resolved, then 404, unreachable, not http.
        res = self.run_job("ostree-resolve", {"ostree_resolve_specs": [
            {"url": self.url("/repo"), "ref": REF}]})
        self.assertNotIn("job_error", res)
        spec = res["ostree_resolve_result_specs"][0]
        self.assertEqual(spec["checksum"], CHECKSUM)
        self.assertEqual(spec["url"], self.url("/repo"))
        for bad, text in ((self.url("/nothing"), "returned status: 404"),
                          (dead, "ostree repository http://<redacted>@"),
                          ("ftp://u:hunter2pw@h/" + QUERY, "not an http")):
            res = self.run_job("ostree-resolve", {"ostree_resolve_specs": [
                {"url": bad, "ref": REF}]})
            self.assertIn(text, res["job_error"]["details"])
            self.clean("ostree-resolve job_error",
                       json.dumps(res["job_error"]))

        # depsolve: a repository that answers 404 at its metadata.
        repo = {"baseurls": [self.url("/rpm/")], "check_gpg": False}
        res = self.run_job("depsolve", {
            "grouped_package_sets": {"os": [{
                "Include": ["bash"], "Exclude": None,
                "Repositories": [repo], "InstallWeakDeps": True}]},
            "module_platform_id": "platform:f39", "arch": "x86_64",
            "releasever": "39"})
        self.assertIn("job_error", res)
        self.assertIn("127.0.0.1", res["job_error"]["details"])
        self.clean("depsolve error", json.dumps(res["job_error"]) +
                   json.dumps(res.get("error")))

        # The worker did fetch with the query string and the credentials.
        self.assertIn("/f" + QUERY, self.files.hits)
        self.assertIn("file-resolve", w.log())
        self.clean("the worker's %s log" % log_format, w.log())
        w.stop()

    def test_text_log(self):
        self.check("text")

    def test_json_log(self):
        self.check("json")


if __name__ == "__main__":
    harness.main()
