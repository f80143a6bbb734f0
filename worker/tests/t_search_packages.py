#!/usr/bin/python3
"""search-packages end to end: the queue, the worker binary and real RPM
repository metadata (rpmbuild + createrepo_c, served over loopback HTTP);
only the depsolver itself is a test double (dnf does not run on Debian)."""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402

DOUBLE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "doubles", "depsolver-search")
SPEC = """Name: %{pname}
Version: %{pver}
Release: 1
Summary: test package %{pname}
License: MIT
BuildArch: noarch
%description
A tiny package for tests.
%files
"""


def make_repo(top):
    """A real RPM repository: four tiny packages and createrepo_c metadata."""
    spec = os.path.join(top, "p.spec")
    with open(spec, "w") as f:
        f.write(SPEC)
    for name, ver in (("tiny-a", "1.0"), ("tiny-a", "1.2"), ("tiny-b", "2.0"),
                      ("other", "0.1")):
        subprocess.run(["rpmbuild", "-bb", "--quiet",
                        "--define", "_topdir " + os.path.join(top, "build"),
                        "--define", "pname " + name,
                        "--define", "pver " + ver, spec],
                       check=True, capture_output=True, timeout=60)
    repo = os.path.join(top, "build", "RPMS")
    subprocess.run(["createrepo_c", "-q", repo], check=True, timeout=60)
    return harness.tree_files(repo)


class SearchPackages(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.files = self.keep(harness.FileServer(make_repo(self.tmp)))
        self.reqlog = os.path.join(self.tmp, "requests.jsonl")
        self.q = self.queue()
        self.w = self.worker("http://" + self.q.address,
                             'dnf-json = "%s"\n' % DOUBLE,
                             env={"DOUBLE_LOG": self.reqlog})
        self.w.wait_log(r"taking job types:.*search-packages")

    def args(self, packages, baseurl=None):
        return {"packages": packages,
                "repos": [{"name": "tiny", "baseurls": [
                    baseurl or self.files.url + "/repo"],
                    "check_gpg": False}],
                "module_platform_id": "platform:el9", "arch": "x86_64",
                "releasever": "9"}

    def run_job(self, args):
        jid = self.q.enqueue("search-packages", args)
        self.q.wait(jid, 30)
        return self.q.result(jid)

    def test_glob_and_exact_names(self):
        res = self.run_job(self.args(["tiny-*", "other"]))
        self.assertNotIn("job_error", res)
        got = [(p["name"], p["version"]) for p in res["packages"]]
        self.assertEqual(got, [("other", "0.1"), ("tiny-a", "1.0"),
                               ("tiny-a", "1.2"), ("tiny-b", "2.0")])
        p = res["packages"][1]
        self.assertEqual(p["summary"], "test package tiny-a")
        self.assertEqual(p["license"], "MIT")
        self.assertEqual(p["arch"], "noarch")
        self.assertRegex(p["build_time"], r"^\d{4}-\d\d-\d\dT")
        # What the worker asked the depsolver: the reference's contract.
        with open(self.reqlog) as f:
            req = json.loads(f.readlines()[-1])
        self.assertEqual(req["command"], "search")
        self.assertEqual(req["arch"], "x86_64")
        self.assertEqual(req["releasever"], "9")
        self.assertEqual(req["module_platform_id"], "platform:el9")
        self.assertTrue(req["cachedir"].startswith(self.w.cache))
        self.assertEqual(req["arguments"]["search"]["packages"],
                         ["tiny-*", "other"])
        repo = req["arguments"]["repos"][0]
        self.assertEqual(repo["baseurl"], [self.files.url + "/repo"])
        self.assertEqual(repo["gpgcheck"], False)
        self.assertRegex(repo["id"], r"^[0-9a-f]{64}$")

    def test_no_match_is_an_empty_list(self):
        res = self.run_job(self.args(["nothing-like-this"]))
        self.assertNotIn("job_error", res)
        self.assertEqual(res["packages"], [])

    def test_repository_down_is_a_repo_error(self):
        port = harness.free_port()
        res = self.run_job(self.args(["tiny-a"],
                                     "http://127.0.0.1:%d/repo" % port))
        self.assertEqual(res["job_error"]["id"], 25)
        self.assertEqual(res["job_error"]["reason"],
                         "DNF error occurred: RepoError")
        self.assertIn("Failed to download metadata",
                      res["job_error"]["details"])
        self.assertIsNone(res["packages"])
        self.assertTrue(self.w.alive())

    def test_bad_args(self):
        for args in ({"packages": "tiny", "repos": []},
                     {"packages": ["tiny"], "repos": []},
                     {"packages": [1], "repos": [{"baseurls": ["x"]}]}):
            res = self.run_job(args)
            self.assertEqual(res["job_error"]["id"], 29, res)


class Unavailable(harness.TestCase):

    def test_not_advertised_without_a_depsolver(self):
        q = self.queue()
        w = self.worker("http://" + q.address,
                        'dnf-json = "%s"\n' % os.path.join(self.tmp, "nope"))
        w.wait_log(r"taking job types:")
        self.assertRegex(w.log(), r"not taking search-packages jobs: the "
                         r"depsolver .*nope cannot be run")
        self.assertNotRegex(w.log(), r"taking job types:.*search-packages")


if __name__ == "__main__":
    for tool in ("rpmbuild", "createrepo_c"):
        if shutil.which(tool) is None:
            print("skipped: %s is not installed" % tool)
            raise SystemExit(77)
    harness.main()
