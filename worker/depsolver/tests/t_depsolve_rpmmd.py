#!/usr/bin/python3
"""ib-depsolve against a real rpm-md repository: rpms built here with
rpmbuild, indexed with createrepo_c, served on loopback. Dependencies,
weak dependencies on and off, excludes, chained transactions, the error
kinds (MarkingErrors, DepsolveError, RepoError), the metadata cache and
its expiry, a tampered primary, and search."""

import gzip
import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dsrepos  # noqa: E402

PACKAGES = [
    ("app", "1.0", ["Requires: libfoo >= 2", "Recommends: extra"]),
    ("libfoo", "1.0", []),
    ("libfoo", "2.0", []),
    ("extra", "1.0", []),
    ("c1", "1.0", ["Conflicts: c2"]),
    ("c2", "1.0", []),
    ("broken", "1.0", ["Requires: nothing-provides-this"]),
    ("tool", "3.1", ["Provides: the-tool"]),
]

ROOT = None
REPO = None
SERVER = None


def setUpModule():
    global ROOT, REPO, SERVER
    ROOT = tempfile.mkdtemp(prefix="ibt-rpmmd-")
    REPO = dsrepos.build_rpm_repo(ROOT, PACKAGES)
    SERVER = dsrepos.DirServer(REPO)


def tearDownModule():
    SERVER.stop()
    shutil.rmtree(ROOT, ignore_errors=True)


class RpmMd(unittest.TestCase):

    def setUp(self):
        self.cache = tempfile.mkdtemp(prefix="cache-", dir=ROOT)

    def request(self, *transactions, url=None, expire=None, command=None,
                search=None):
        repo = {"id": "test", "name": "Test", "baseurl": [url or SERVER.url]}
        if expire is not None:
            repo["metadata_expire"] = expire
        req = {"command": command or "depsolve", "arch": "x86_64",
               "releasever": "39", "cachedir": self.cache,
               "arguments": {"repos": [repo], "transactions": [
                   {"package-specs": t[0], "install_weak_deps": t[1],
                    **(t[2] if len(t) > 2 else {})}
                   for t in transactions]}}
        if search is not None:
            req["arguments"]["search"] = search
        return req

    def solve(self, *transactions, **kw):
        rc, ans, err = dsrepos.run(self.request(*transactions, **kw))
        self.assertEqual(rc, 0, err)
        return ans

    def names(self, ans):
        return sorted("%s-%s" % (p["name"], p["version"])
                      for p in ans["packages"])

    def test_dependencies_and_pinned_fields(self):
        ans = self.solve((["app"], True))
        self.assertEqual(self.names(ans),
                         ["app-1.0", "extra-1.0", "libfoo-2.0"])
        self.assertEqual(ans["solver"], "ib-depsolve")
        self.assertIn("test", ans["repos"])
        for p in ans["packages"]:
            self.assertEqual(p["repo_id"], "test")
            self.assertEqual(p["arch"], "noarch")
            self.assertEqual(p["release"], "1")
            self.assertEqual(p["epoch"], 0)
            local = os.path.join(REPO, p["path"])
            self.assertEqual(p["checksum"], "sha256:" + dsrepos.sha256(local))
            self.assertEqual(p["remote_location"],
                             SERVER.url + "/" + p["path"])
            with urllib.request.urlopen(p["remote_location"]) as r, \
                    open(local, "rb") as f:
                self.assertEqual(r.read(), f.read())

    def test_weak_deps_off(self):
        ans = self.solve((["app"], False))
        self.assertEqual(self.names(ans), ["app-1.0", "libfoo-2.0"])

    def test_provides_and_glob(self):
        ans = self.solve((["the-tool", "c*1"], False))
        self.assertEqual(self.names(ans), ["c1-1.0", "tool-3.1"])

    def test_excludes(self):
        ans = self.solve((["app"], True, {"exclude-specs": ["extra"]}))
        self.assertEqual(self.names(ans), ["app-1.0", "libfoo-2.0"])
        # Excluding what a requirement needs makes it unsolvable.
        rc, ans, _ = dsrepos.run(self.request(
            (["app"], False, {"exclude-specs": ["libfoo"]})))
        self.assertEqual((rc, ans["kind"]), (1, "DepsolveError"))
        # Excluding the package asked for is a marking error, as dnf.
        rc, ans, _ = dsrepos.run(self.request(
            (["c2"], False, {"exclude-specs": ["c*"]})))
        self.assertEqual((rc, ans["kind"]), (1, "MarkingErrors"))

    def test_chained_transactions_accumulate(self):
        ans = self.solve((["libfoo"], False), (["c2"], False))
        self.assertEqual(self.names(ans), ["c2-1.0", "libfoo-2.0"])
        # The second transaction cannot drop what the first chose.
        rc, ans, _ = dsrepos.run(self.request((["c1"], False),
                                              (["c2"], False)))
        self.assertEqual((rc, ans["kind"]), (1, "DepsolveError"))

    def test_api_v2_disjoint_transactions(self):
        """api_version 2: one disjoint set per chained transaction, v2
        package fields, and "gpgkey" as a list (v1: one string)."""
        req = self.request((["libfoo"], False), (["app"], False))
        req["api_version"] = 2
        req["arguments"]["repos"][0]["gpgkey"] = ["file:///nonexistent"]
        rc, ans, err = dsrepos.run(req)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("packages", ans)
        self.assertEqual([[p["name"] for p in t]
                          for t in ans["transactions"]],
                         [["libfoo"], ["app"]])
        p = ans["transactions"][1][0]
        local = os.path.join(REPO, p["location"])
        self.assertEqual(p["checksum"], {"algorithm": "sha256",
                                         "value": dsrepos.sha256(local)})
        self.assertEqual(p["remote_locations"],
                         [SERVER.url + "/" + p["location"]])
        self.assertEqual(ans["repos"]["test"]["gpgkey"],
                         ["file:///nonexistent"])
        # v1 takes one key as a string.
        req = self.request((["libfoo"], False))
        req["arguments"]["repos"][0]["gpgkey"] = "file:///nonexistent"
        rc, ans, err = dsrepos.run(req)
        self.assertEqual(rc, 0, err)
        self.assertEqual(ans["repos"]["test"]["gpgkeys"],
                         ["file:///nonexistent"])
        req["api_version"] = 3
        rc, ans, _ = dsrepos.run(req)
        self.assertEqual((rc, ans["kind"]), (1, "InvalidRequest"))

    def test_missing_package(self):
        rc, ans, _ = dsrepos.run(self.request((["app", "no-such"], True)))
        self.assertEqual(rc, 1)
        self.assertEqual(ans["kind"], "MarkingErrors")
        self.assertIn("no-such", ans["reason"])

    def test_conflict_and_unresolvable(self):
        for specs in (["c1", "c2"], ["broken"]):
            rc, ans, _ = dsrepos.run(self.request((specs, False)))
            self.assertEqual(rc, 1)
            self.assertEqual(ans["kind"], "DepsolveError", ans)
            self.assertIn(specs[0], ans["reason"])

    def test_repo_down(self):
        dead = dsrepos.DirServer(ROOT)
        url = dead.url
        dead.stop()
        rc, ans, _ = dsrepos.run(self.request((["app"], True), url=url))
        self.assertEqual((rc, ans["kind"]), (1, "RepoError"))

    def test_cache_and_expiry(self):
        # A private copy served by a server we stop afterwards.
        repo = os.path.join(self.cache, "copy")
        shutil.copytree(REPO, repo)
        srv = dsrepos.DirServer(repo)
        try:
            first = self.solve((["app"], True), url=srv.url, expire="1h")
        finally:
            srv.stop()
        self.assertTrue(any(f.endswith("repo.solv") for _, _, fs in
                            os.walk(self.cache) for f in fs))
        again = self.solve((["app"], True), url=srv.url, expire="1h")
        self.assertEqual(first["packages"], again["packages"])
        # Expired metadata is checked again; the server is gone.
        rc, ans, _ = dsrepos.run(self.request((["app"], True), url=srv.url,
                                              expire="0"))
        self.assertEqual((rc, ans["kind"]), (1, "RepoError"))

    def test_tampered_primary(self):
        repo = os.path.join(self.cache, "tampered")
        shutil.copytree(REPO, repo)
        data = os.path.join(repo, "repodata")
        prim = [f for f in os.listdir(data) if "primary.xml" in f][0]
        with gzip.open(os.path.join(data, prim)) as f:
            xml = f.read()
        with gzip.open(os.path.join(data, prim), "wb") as f:
            f.write(xml + b"\n")
        srv = dsrepos.DirServer(repo)
        try:
            rc, ans, _ = dsrepos.run(self.request((["app"], True),
                                                  url=srv.url))
        finally:
            srv.stop()
        self.assertEqual((rc, ans["kind"]), (1, "RepoError"))
        self.assertIn("checksum", ans["reason"])

    def test_search(self):
        req = self.request(command="search",
                           search={"packages": ["lib*"], "latest": False})
        rc, ans, err = dsrepos.run(req)
        self.assertEqual(rc, 0, err)
        self.assertEqual([(p["name"], p["version"]) for p in ans],
                         [("libfoo", "1.0"), ("libfoo", "2.0")])
        self.assertEqual(ans[0]["summary"], "test package libfoo")
        self.assertEqual(ans[0]["license"], "MIT")
        req["arguments"]["search"] = {"packages": ["*bfo*", "c1"],
                                      "latest": True}
        rc, ans, err = dsrepos.run(req)
        self.assertEqual([(p["name"], p["version"]) for p in ans],
                         [("c1", "1.0"), ("libfoo", "2.0")])

    def test_invalid_request(self):
        rc, ans, _ = dsrepos.run({"command": "depsolve"})
        self.assertEqual((rc, ans["kind"]), (1, "InvalidRequest"))
        req = self.request((["app"], True))
        req["arguments"]["repos"] = []
        rc, ans, _ = dsrepos.run(req)
        self.assertEqual((rc, ans["kind"]), (1, "NoReposError"))


def main():
    return dsrepos.run_tests(("rpmbuild", "createrepo_c"))


if __name__ == "__main__":
    sys.exit(main())
