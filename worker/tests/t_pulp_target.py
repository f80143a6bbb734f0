#!/usr/bin/python3
"""org.osbuild.pulp.ostree end to end: the worker binary takes an osbuild
job from the project's queue (osbuild is the test double, exporting a
commit archive the test made), uploads it in chunks to the Pulp double
(doubles/pulp.py: pulpcore is not in Debian), creates and distributes the
repository when missing, imports the commit and returns the
distribution's URL; the server and credentials from [pulp] where the
target lacks them (the user and password from one source). The result's
options per composer generation (2026
cannot decode pulp.ostree options at all). Failures a user meets: wrong
password, a missing repository without basepath (nothing uploaded), no
credentials, a failing import, a bad basepath; no password in the log."""

import hashlib
import io
import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
from pulp import PulpDouble  # noqa: E402

DOUBLES = harness.DOUBLES
USER = "builder"
PASSWORD = "Pulp-Pa55:word~"
EXPORT = ("commit-archive", "commit.tar")
MiB = 1 << 20


def commit_archive(path, blob=9 * MiB + 123):
    """A tar as osbuild's ostree commit archive: the repository as repo/."""
    with tarfile.open(path, "w") as tf:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        add("repo/config", b"[core]\nrepo_version=1\nmode=archive-z2\n")
        add("repo/refs/heads/debian/trixie/x86_64/edge", b"ab" * 32 + b"\n")
        add("repo/objects/ab/" + "ab" * 31 + ".commit",
            hashlib.sha256(b"commit").digest() * 4)
        add("repo/objects/cd/" + "cd" * 31 + ".filez",
            bytes((i * 131) & 0xff for i in range(blob)))
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def target(server, repository="edge-commits", basepath="edge/trixie",
           user=USER, password=PASSWORD):
    opts = {"server_address": server, "repository": repository,
            "username": user, "password": password}
    if basepath is not None:
        opts["basepath"] = basepath
    return jobs.target("org.osbuild.pulp.ostree", opts, "commit.tar", EXPORT,
                       "0c1a2b3c-0000-4000-8000-000000000016")


class PulpTarget(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.pulp = self.keep(PulpDouble(USER, PASSWORD))
        self.archive = os.path.join(self.tmp, "commit.tar")
        self.digest = commit_archive(self.archive)

    def run_job(self, targets, generation="2024", extra=""):
        q = self.queue("--generation", generation)
        w = self.worker("http://" + q.address,
                        '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1\n'
                        '%s' % (DOUBLES, extra),
                        env={"IB_PULP_POLL_MS": "20"})
        args = jobs.osbuild_args({"content": self.archive}, EXPORT, targets)
        jid = q.enqueue("osbuild", args)
        q.wait(jid, 120)
        return q.result(jid), w

    def test_new_repository_distributed_and_imported(self):
        res, w = self.run_job([target(self.pulp.url)])
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        url = "%s/pulp/content/edge/trixie/" % self.pulp.url
        self.assertEqual(res["target_results"][0]["options"],
                         {"repository_url": url})
        # 9 MiB in 4 MiB chunks, each checked, the whole file on commit.
        self.assertEqual(self.pulp.chunk_puts, 3)
        (repo, rec), = self.pulp.repos.items()
        self.assertEqual(rec["name"], "edge-commits")
        art, = rec["imports"]
        self.assertEqual(hashlib.sha256(self.pulp.artifacts[art])
                         .hexdigest(), self.digest)
        (dist,) = self.pulp.distributions.values()
        self.assertEqual((dist["name"], dist["base_path"],
                          dist["repository"]),
                         ("edge-commits", "edge/trixie", repo))
        self.assertGreaterEqual(self.pulp.count("GET", r"/tasks/"), 9)
        self.assertNotIn(PASSWORD, w.log())

    def test_existing_repository_on_2026_and_unavailable_server(self):
        """An existing repository is imported into, without basepath and
        without a new distribution; 503s are retried. The 2026 composer
        knows no pulp.ostree result options: none are sent."""
        self.pulp.repos["/pulp/api/v3/repositories/ostree/ostree/r1/"] = {
            "name": "edge-commits", "imports": []}
        self.pulp.distributions["d1"] = {
            "name": "edge-commits", "base_path": "edge/old",
            "repository": "/pulp/api/v3/repositories/ostree/ostree/r1/",
            "base_url": "https://cdn.example.com/pulp/content/edge/old/"}
        self.pulp.unavailable = 2
        res, w = self.run_job([target(self.pulp.url, basepath=None)],
                              generation="2026")
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        self.assertNotIn("options", res["target_results"][0])
        self.assertEqual(len(self.pulp.repos["/pulp/api/v3/repositories/"
                                             "ostree/ostree/r1/"]
                             ["imports"]), 1)
        self.assertEqual(len(self.pulp.distributions), 1)
        self.assertEqual(self.pulp.count("POST", r"distributions"), 0)
        self.assertIn("HTTP 503", w.log())
        self.assertIn("https://cdn.example.com/pulp/content/edge/old/",
                      w.log())

    def test_server_and_credentials_from_the_worker_config(self):
        """[pulp] server_address and credentials stand in for what the
        options lack; options win; the pair is never mixed."""
        creds = os.path.join(self.tmp, "pulp.json")
        with open(creds, "w") as f:
            json.dump({"username": USER, "password": PASSWORD}, f)
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write("username: nope\n")
        extra = '[pulp]\nserver_address = "%s"\ncredentials = "%s"\n' % (
            self.pulp.url, creds)
        res, w = self.run_job([
            # Everything from [pulp].
            target("", user="", password="", basepath="edge/a"),
            # The options' server and user win over [pulp]'s.
            target("http://127.0.0.1:1", user="", password=""),
            # Only a user in the options: the pair comes from the file.
            target("", user="someone-else", password="", basepath="edge/a"),
        ], extra=extra)
        errs = [t.get("target_error") for t in res["target_results"]]
        self.assertIsNone(errs[0], json.dumps(res)[:3000])
        self.assertEqual(res["target_results"][0]["options"],
                         {"repository_url": "%s/pulp/content/edge/a/" %
                          self.pulp.url})
        self.assertEqual(errs[1]["id"], 11)      # port 1: not [pulp]'s
        self.assertIsNone(errs[2])
        self.assertNotIn(PASSWORD, w.log())
        self.assertNotIn(PASSWORD, json.dumps(res))
        # A credentials file that is not JSON: a clear error, no upload.
        before = self.pulp.count("POST", r"/uploads/$")
        res, w = self.run_job([target("", user="", password="")],
                              extra='[pulp]\nserver_address = "%s"\n'
                              'credentials = "%s"\n' % (self.pulp.url, bad))
        err = res["target_results"][0]["target_error"]
        self.assertEqual(err["id"], 17)
        self.assertIn("is not a JSON object with a username and a "
                      "password", err["reason"])
        self.assertEqual(self.pulp.count("POST", r"/uploads/$"), before)

    def test_failures_a_user_meets(self):
        self.pulp.import_error = "Could not import commit: bad object"
        res, w = self.run_job([
            target(self.pulp.url, password="not-the-password"),
            target(self.pulp.url, basepath=None),
            target(self.pulp.url, user="", password=""),
            target(self.pulp.url, basepath="../escape"),
            target("http://user:pw@127.0.0.1:1"),
            target(self.pulp.url),
        ])
        self.assertFalse(res.get("success"))
        self.assertEqual(res["job_error"]["id"], 28)
        errs = [t["target_error"] for t in res["target_results"]]
        self.assertEqual([e["id"] for e in errs], [11, 11, 17, 2, 17, 11])
        self.assertIn("Invalid username/password", errs[0]["reason"])
        self.assertIn("does not exist and needs to be created, but no "
                      "basepath", errs[1]["reason"])
        self.assertEqual(errs[2]["reason"], "pulp credentials not set")
        self.assertIn("Could not import commit: bad object",
                      errs[5]["reason"])
        # Only the last target uploaded: nothing before the checks passed.
        self.assertEqual(self.pulp.count("POST", r"/uploads/$"), 1)
        # Failed results carry null options on 2024, as the reference's.
        for t in res["target_results"]:
            self.assertIsNone(t["options"])
        self.assertNotIn(PASSWORD, w.log())
        self.assertNotIn("not-the-password", w.log())
        self.assertNotIn(PASSWORD, json.dumps(res))
        self.assertTrue(w.alive())


if __name__ == "__main__":
    harness.main()
