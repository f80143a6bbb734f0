#!/usr/bin/python3
"""ib-depsolve end to end: the project's queue and the worker binary with
dnf-json = build/ib-depsolve, depsolve jobs against a signed Debian
repository and an rpm-md repository made here and served on loopback. The
answers land as package_specs; the depsolver's error kinds become the job
errors 21 (marking), 20 (depsolve) and 25 (repository)."""

import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import dsrepos  # noqa: E402
import harness  # noqa: E402

DEB = [("app", "1.0-1", ["Depends: libfoo"], "amd64"),
       ("libfoo", "2.0-3", [], "amd64"),
       ("c1", "1.0", ["Conflicts: c2"], "all"),
       ("c2", "1.0", [], "all")]
RPM = [("tool", "1.0", ["Requires: libtool"]), ("libtool", "2.0", [])]

ROOT = GPG = OTHER = DEBSRV = RPMSRV = None


def setUpModule():
    global ROOT, GPG, OTHER, DEBSRV, RPMSRV
    ROOT = tempfile.mkdtemp(prefix="ibt-dsw-")
    GPG = dsrepos.Gpg(ROOT, "archive")
    OTHER = dsrepos.Gpg(ROOT, "other")
    DEBSRV = dsrepos.DirServer(dsrepos.build_deb_repo(ROOT, DEB, "test", GPG))
    RPMSRV = dsrepos.DirServer(dsrepos.build_rpm_repo(ROOT, RPM))


def tearDownModule():
    DEBSRV.stop()
    RPMSRV.stop()
    GPG.stop()
    OTHER.stop()
    shutil.rmtree(ROOT, ignore_errors=True)


def deb_repo(key):
    url = "deb+%s?suite=test&components=main" % DEBSRV.url
    return {"baseurls": [url], "gpgkeys": [key.public], "check_gpg": False}


def job(sets):
    return {"grouped_package_sets": {
        name: [{"Include": inc, "Exclude": None, "Repositories": [repo],
                "InstallWeakDeps": False}]
        for name, (inc, repo) in sets.items()},
        "arch": "x86_64", "releasever": "12"}


class WorkerDepsolve(harness.TestCase):

    def start(self):
        q = self.queue()
        self.worker("http://" + q.address,
                    'dnf-json = "%s"\n' % dsrepos.DEPSOLVE)
        return q

    def run_job(self, q, args):
        jid = q.enqueue("depsolve", args)
        q.wait(jid, 90)
        return q.result(jid)

    def test_debian_and_rpmmd_pipelines(self):
        q = self.start()
        rpm = {"baseurls": [RPMSRV.url], "check_gpg": False}
        res = self.run_job(q, job({"os": (["app"], deb_repo(GPG)),
                                   "build": (["tool"], rpm)}))
        self.assertNotIn("job_error", res)
        self.assertEqual(res["error"], "")
        os_pkgs = {p["name"]: p for p in res["package_specs"]["os"]}
        self.assertEqual(sorted(os_pkgs), ["app", "libfoo"])
        self.assertEqual(os_pkgs["libfoo"]["version"], "2.0-3")
        self.assertTrue(os_pkgs["app"]["checksum"].startswith("sha256:"))
        self.assertEqual(os_pkgs["app"]["remote_location"],
                         DEBSRV.url + "/" + os_pkgs["app"]["path"])
        build = sorted(p["name"] for p in res["package_specs"]["build"])
        self.assertEqual(build, ["libtool", "tool"])
        self.assertEqual(len(res["transactions"]["os"][0]), 2)

    def test_chained_transactions_stay_apart(self):
        """Two chained package sets (the second as selinux-policy-targeted
        in an image) come back as two disjoint transactions, as the
        reference's result; package_specs keeps all of them for 2024."""
        q = self.start()
        rpm = {"baseurls": [RPMSRV.url], "check_gpg": False}
        sets = {"os": [
            {"Include": ["libtool"], "Repositories": [rpm]},
            {"Include": ["tool"], "Repositories": [rpm]}]}
        res = self.run_job(q, {"grouped_package_sets": sets,
                               "arch": "x86_64", "releasever": "39"})
        self.assertNotIn("job_error", res)
        tx = [[p["name"] for p in t] for t in res["transactions"]["os"]]
        self.assertEqual(tx, [["libtool"], ["tool"]])
        self.assertEqual(sorted(p["name"] for p in
                                res["package_specs"]["os"]),
                         ["libtool", "tool"])
        p = res["transactions"]["os"][1][0]
        self.assertTrue(p["checksum"].startswith("sha256:"))
        self.assertEqual(p["remote_location"], RPMSRV.url + "/" + p["path"])

    def test_error_ids(self):
        q = self.start()
        cases = [(["app", "missing"], deb_repo(GPG), 21),
                 (["c1", "c2"], deb_repo(GPG), 20),
                 (["app"], deb_repo(OTHER), 25)]
        for inc, repo, want in cases:
            res = self.run_job(q, job({"os": (inc, repo)}))
            self.assertEqual(res["job_error"]["id"], want, res)
            self.assertNotIn("package_specs", res)


def main():
    return dsrepos.run_tests(("dpkg-deb", "apt-ftparchive", "gpg",
                              "rpmbuild", "createrepo_c", "gpgconf"),
                             (dsrepos.DEPSOLVE, harness.WORKER))


if __name__ == "__main__":
    sys.exit(main())
