#!/usr/bin/python3
"""ib-depsolve against a real Debian repository made here (dpkg-deb,
apt-ftparchive) with an InRelease signed by a throwaway GPG key, served on
loopback: dependencies and the Debian version mapping, weak dependencies,
both ways to name a Debian repository, and every way the metadata can be
untrustworthy (unknown signer, default keyring, tampered InRelease,
tampered Packages, wrong suite), each a RepoError."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dsrepos  # noqa: E402

PACKAGES = [
    ("app", "1.0-1", ["Depends: libfoo (>= 2)", "Recommends: extra"], "amd64"),
    ("libfoo", "1.5-1", [], "amd64"),
    ("libfoo", "2.0-3", [], "amd64"),
    ("extra", "1:0.9-2", [], "all"),
    ("c1", "1.0", ["Conflicts: c2"], "all"),
    ("c2", "1.0", [], "all"),
    ("mailer", "1.0", ["Provides: mail-transport-agent"], "all"),
    ("needs-mta", "1.0", ["Depends: mail-transport-agent"], "all"),
]
SUITE = "test"

ROOT = REPO = SERVER = GPG = OTHER = None


def setUpModule():
    global ROOT, REPO, SERVER, GPG, OTHER
    ROOT = tempfile.mkdtemp(prefix="ibt-deb-")
    GPG = dsrepos.Gpg(ROOT, "archive")
    OTHER = dsrepos.Gpg(ROOT, "other")
    REPO = dsrepos.build_deb_repo(ROOT, PACKAGES, SUITE, GPG)
    SERVER = dsrepos.DirServer(REPO)


def tearDownModule():
    SERVER.stop()
    GPG.stop()
    OTHER.stop()
    shutil.rmtree(ROOT, ignore_errors=True)


# Two architectures, one repository: the arm64 index has its own build of
# app and a dependency the amd64 one lacks.
MULTIARCH = [
    ("app", "1.0-1", ["Depends: libfoo"], "amd64"),
    ("app", "1.0-1", ["Depends: libfoo, libarm"], "arm64"),
    ("libfoo", "2.0-3", [], "amd64"),
    ("libfoo", "2.0-3", [], "arm64"),
    ("libarm", "0.1", [], "arm64"),
    ("tzdata", "2024a", [], "all"),
]


class Debian(unittest.TestCase):

    def setUp(self):
        self.cache = tempfile.mkdtemp(prefix="cache-", dir=ROOT)

    def copy(self, name):
        """A private copy of the repository and a server for it."""
        d = os.path.join(self.cache, name)
        shutil.copytree(REPO, d)
        srv = dsrepos.DirServer(d)
        self.addCleanup(srv.stop)
        return d, srv

    def request(self, specs, weak=False, url=None, keys="archive",
                form="url", extra=""):
        url = url or SERVER.url
        repo = {"id": "deb-test"}
        if keys == "archive":
            repo["gpgkeys"] = [GPG.public]
        elif keys is not None:
            repo["gpgkeys"] = keys
        if form == "url":
            repo["baseurl"] = ["deb+%s?suite=%s&components=main%s" %
                               (url, SUITE, extra)]
        else:
            repo["baseurl"] = [url]
            repo["debian"] = {"suite": SUITE, "components": ["main"],
                              "arch": "amd64"}
        return {"command": "depsolve", "arch": "x86_64", "releasever": "12",
                "cachedir": self.cache, "arguments": {
                    "repos": [repo], "transactions": [
                        {"package-specs": specs,
                         "install_weak_deps": weak}]}}

    def solve(self, *a, **kw):
        rc, ans, err = dsrepos.run(self.request(*a, **kw))
        self.assertEqual(rc, 0, err)
        return ans

    def repo_error(self, req, words):
        rc, ans, err = dsrepos.run(req)
        self.assertEqual(rc, 1, err)
        self.assertEqual(ans["kind"], "RepoError", ans)
        self.assertIn(words, ans["reason"])

    def test_arm64_set(self):
        """An aarch64 request reads binary-arm64 and resolves arm64 (and
        all) packages only; the same request for x86_64 gets amd64's."""
        d = dsrepos.build_deb_repo(self.cache, MULTIARCH, SUITE, GPG,
                                   arches=("amd64", "arm64"), name="multi")
        srv = dsrepos.DirServer(d)
        self.addCleanup(srv.stop)
        got = {}
        for arch in ("aarch64", "x86_64"):
            req = self.request(["app", "tzdata"], url=srv.url)
            req["arch"] = arch
            rc, ans, err = dsrepos.run(req)
            self.assertEqual(rc, 0, err)
            got[arch] = sorted((p["name"], p["arch"])
                               for p in ans["packages"])
        self.assertEqual(got["aarch64"], [
            ("app", "arm64"), ("libarm", "arm64"), ("libfoo", "arm64"),
            ("tzdata", "all")])
        self.assertEqual(got["x86_64"], [
            ("app", "amd64"), ("libfoo", "amd64"), ("tzdata", "all")])

    def test_dependencies_and_debian_fields(self):
        ans = self.solve(["app"], weak=True)
        got = {p["name"]: p for p in ans["packages"]}
        self.assertEqual(sorted(got), ["app", "extra", "libfoo"])
        self.assertEqual((got["libfoo"]["version"], got["libfoo"]["release"],
                          got["libfoo"]["epoch"]), ("2.0-3", "", 0))
        self.assertEqual((got["extra"]["version"], got["extra"]["epoch"],
                          got["extra"]["arch"]), ("0.9-2", 1, "all"))
        self.assertEqual(got["app"]["arch"], "amd64")
        for p in ans["packages"]:
            local = os.path.join(REPO, p["path"])
            self.assertTrue(p["path"].startswith("pool/main/"), p)
            self.assertEqual(p["checksum"], "sha256:" + dsrepos.sha256(local))
            self.assertEqual(p["remote_location"],
                             SERVER.url + "/" + p["path"])
            self.assertEqual(p["repo_id"], "deb-test")
            out = subprocess.run(["dpkg-deb", "-f", local, "Package"],
                                 capture_output=True, check=True)
            self.assertEqual(out.stdout.decode().strip(), p["name"])

    def test_weak_deps_off_and_object_form(self):
        ans = self.solve(["app"], weak=False, form="object")
        self.assertEqual(sorted(p["name"] for p in ans["packages"]),
                         ["app", "libfoo"])

    def test_virtual_package(self):
        ans = self.solve(["needs-mta"])
        self.assertEqual(sorted(p["name"] for p in ans["packages"]),
                         ["mailer", "needs-mta"])

    def test_marking_and_depsolve_errors(self):
        rc, ans, _ = dsrepos.run(self.request(["app", "nope"]))
        self.assertEqual((rc, ans["kind"]), (1, "MarkingErrors"))
        self.assertIn("nope", ans["reason"])
        rc, ans, _ = dsrepos.run(self.request(["c1", "c2"]))
        self.assertEqual((rc, ans["kind"]), (1, "DepsolveError"))

    def test_unknown_signer(self):
        self.repo_error(self.request(["app"], keys=[OTHER.public]),
                        "signature")

    def test_default_keyring_is_debians(self):
        # No gpgkeys: Debian's archive keyring, which never signed this.
        self.repo_error(self.request(["app"], keys=None), "signature")

    def test_cache_does_not_carry_trust(self):
        # Metadata a key vouched for is not reused for another key.
        self.solve(["c2"])
        self.repo_error(self.request(["c2"], keys=[OTHER.public]),
                        "signature")
        # Warm and unexpired, the same key gets the cache, server or not.
        d, srv = self.copy("warm")
        req = self.request(["app"], url=srv.url)
        req["arguments"]["repos"][0]["metadata_expire"] = "1h"
        rc, first, err = dsrepos.run(req)
        self.assertEqual(rc, 0, err)
        srv.stop()
        rc, again, err = dsrepos.run(req)
        self.assertEqual((rc, again), (0, first), err)

    def test_keyring_file(self):
        path = os.path.join(self.cache, "key.asc")
        with open(path, "w") as f:
            f.write(GPG.public)
        ans = self.solve(["c2"], keys=["file://" + path])
        self.assertEqual([p["name"] for p in ans["packages"]], ["c2"])

    def test_bad_signature(self):
        d, srv = self.copy("badsig")
        inrel = os.path.join(d, "dists", SUITE, "InRelease")
        with open(inrel) as f:
            text = f.read()
        # The signed text changed after signing.
        with open(inrel, "w") as f:
            f.write(text.replace("Suite: test", "Suite: tesT", 1))
        self.repo_error(self.request(["app"], url=srv.url), "signature")

    def test_signed_by_another_key(self):
        d, srv = self.copy("othersig")
        dsrepos.release(d, SUITE, OTHER)
        self.repo_error(self.request(["app"], url=srv.url), "signature")

    def test_tampered_packages(self):
        d, srv = self.copy("tampered")
        bdir = os.path.join(d, "dists", SUITE, "main", "binary-amd64")
        with open(os.path.join(bdir, "Packages"), "a") as f:
            f.write("\nPackage: evil\nVersion: 1\nArchitecture: all\n"
                    "Filename: pool/main/evil.deb\nSize: 1\n")
        for suffix in (".gz", ".xz"):
            os.unlink(os.path.join(bdir, "Packages" + suffix))
        subprocess.run(["xz", "-kf", os.path.join(bdir, "Packages")],
                       check=True)
        self.repo_error(self.request(["app"], url=srv.url), "checksum")

    def test_wrong_suite(self):
        d, srv = self.copy("suite")
        dsrepos.release(d, SUITE, GPG, codename="other")
        # Suite still matches; make both differ.
        rel = os.path.join(d, "dists", SUITE, "Release")
        with open(rel) as f:
            text = f.read().replace("Suite: test", "Suite: other")
        with open(rel, "w") as f:
            f.write(text)
        GPG.clearsign(rel, os.path.join(d, "dists", SUITE, "InRelease"))
        self.repo_error(self.request(["app"], url=srv.url), "suite")

    def test_trusted_needs_no_signature(self):
        d, srv = self.copy("unsigned")
        os.unlink(os.path.join(d, "dists", SUITE, "InRelease"))
        self.repo_error(self.request(["c2"], url=srv.url), "InRelease")
        ans = self.solve(["c2"], url=srv.url, keys=None,
                         extra="&trusted=yes")
        self.assertEqual([p["name"] for p in ans["packages"]], ["c2"])

    def test_repo_down(self):
        dead = dsrepos.DirServer(ROOT)
        url = dead.url
        dead.stop()
        self.repo_error(self.request(["app"], url=url), "Failed to download")

    def test_search(self):
        req = self.request([])
        req["command"] = "search"
        req["arguments"]["search"] = {"packages": ["lib*"], "latest": True}
        rc, ans, err = dsrepos.run(req)
        self.assertEqual(rc, 0, err)
        self.assertEqual([(p["name"], p["version"]) for p in ans],
                         [("libfoo", "2.0-3")])
        self.assertEqual(ans[0]["summary"], "test package libfoo")
        self.assertEqual(json.loads(json.dumps(ans))[0]["repo_id"],
                         "deb-test")


def main():
    return dsrepos.run_tests(("dpkg-deb", "apt-ftparchive", "gpg", "gpgv",
                              "xz", "gpgconf"))


if __name__ == "__main__":
    sys.exit(main())
