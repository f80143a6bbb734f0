#!/usr/bin/python3
"""ib-depsolve chooses among a dependency's alternatives as apt does (the
first one that can install), checked against `apt-get --simulate` itself
on the same repository, offline (apt reads it through a file: source with
a private configuration and an empty dpkg status):
  - a repository made here (dpkg-deb, apt-ftparchive) whose alternatives
    are listed against the alphabet, one of them out of reach by version,
    and one satisfied already by a package named elsewhere;
  - this machine's Debian mirror lists (bookworm, -updates, -security)
    as one local repository, with the local queue's debian-12 package
    sets (queue/ibq_compose.py): "minimal" (initscripts' `sysv-rc |
    file-rc | openrc`, which apt answers sysv-rc) with and without
    Recommends, and "standard"."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dsrepos  # noqa: E402

sys.path.insert(0, os.path.join(dsrepos.TOP, "queue"))
import ibq_compose  # noqa: E402

SUITE = "test"
PACKAGES = [
    # apt takes zz-rc, the first; libsolv's own order would take aa-rc.
    ("needs-rc", "1.0", ["Depends: zz-rc | aa-rc | mm-rc"], "all"),
    ("zz-rc", "1.0", ["Conflicts: aa-rc, mm-rc"], "all"),
    ("aa-rc", "1.0", ["Conflicts: zz-rc, mm-rc"], "all"),
    ("mm-rc", "1.0", ["Conflicts: zz-rc, aa-rc"], "all"),
    # The first alternative is too old: the second is taken.
    ("needs-new", "1.0", ["Depends: zz-rc (>= 2) | mm-rc"], "all"),
    # A virtual first alternative, provided by a package of another name.
    ("needs-virt", "1.0", ["Depends: rc-virt | aa-rc"], "all"),
    ("virt-rc", "1.0", ["Provides: rc-virt"], "all"),
]
LISTS = "/var/lib/apt/lists"
MIRROR = ("deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
          "deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_"
          "Packages",
          "deb.debian.org_debian-security_dists_bookworm-security_main_"
          "binary-amd64_Packages")

ROOT = None


def setUpModule():
    global ROOT
    ROOT = tempfile.mkdtemp(prefix="ibt-apt-")


def tearDownModule():
    shutil.rmtree(ROOT, ignore_errors=True)


class Apt:
    """apt-get on one local repository only, with an empty status."""

    def __init__(self, repo, suite):
        self.dir = tempfile.mkdtemp(prefix="apt-", dir=ROOT)
        for d in ("lists/partial", "cache/archives/partial", "parts",
                  "prefs"):
            os.makedirs(os.path.join(self.dir, d))
        open(os.path.join(self.dir, "status"), "w").close()
        with open(os.path.join(self.dir, "sources.list"), "w") as f:
            f.write("deb [trusted=yes] file:%s %s main\n" % (repo, suite))
        conf = {
            "Dir::State::status": "status", "Dir::State::lists": "lists",
            "Dir::Cache": "cache", "Dir::Etc::sourcelist": "sources.list",
            "Dir::Etc::sourceparts": "parts",
            "Dir::Etc::parts": "parts", "Dir::Etc::preferences": "none",
            "Dir::Etc::preferencesparts": "prefs",
        }
        self.conf = os.path.join(self.dir, "apt.conf")
        with open(self.conf, "w") as f:
            for k, v in conf.items():
                f.write('%s "%s";\n' % (k, os.path.join(self.dir, v)))
            f.write('APT::Architecture "amd64";\nAPT::Architectures '
                    '"amd64";\nDebug::NoLocking "true";\n')
        self.apt("update")

    def apt(self, *args):
        env = dict(os.environ, APT_CONFIG=self.conf, LC_ALL="C")
        p = subprocess.run(["apt-get", "-q"] + list(args), env=env,
                           capture_output=True, timeout=300)
        if p.returncode != 0:
            raise AssertionError("apt-get %s: %s" % (
                " ".join(args[:2]), p.stderr.decode(errors="replace")))
        return p.stdout.decode()

    def simulate(self, names, recommends):
        """{name: version} apt would install on an empty system."""
        out = self.apt("-s", "-o", "APT::Install-Recommends=%s" %
                       ("true" if recommends else "false"), "install",
                       *names)
        got = {}
        for line in out.splitlines():
            if line.startswith("Inst "):
                w = line.split()
                got[w[1]] = w[2].lstrip("(")
        return got


def depsolve(repo, suite, names, weak):
    """{name: version} ib-depsolve answers, the epoch as apt writes it."""
    cache = tempfile.mkdtemp(prefix="cache-", dir=ROOT)
    req = {"command": "depsolve", "arch": "x86_64", "releasever": "12",
           "cachedir": cache, "arguments": {
               "repos": [{"id": "local", "baseurl": [
                   "deb+file://%s?suite=%s&components=main&trusted=yes" %
                   (repo, suite)]}],
               "transactions": [{"package-specs": list(names),
                                 "install_weak_deps": weak}]}}
    rc, ans, err = dsrepos.run(req, timeout=300)
    if rc != 0:
        raise AssertionError("ib-depsolve: %s %s" % (ans, err))
    return {p["name"]: ("%d:" % p["epoch"] if p["epoch"] else "") +
            p["version"] for p in ans["packages"]}


class Alternatives(unittest.TestCase):

    def compare(self, apt, repo, suite, names, weak):
        want = apt.simulate(names, weak)
        got = depsolve(repo, suite, names, weak)
        self.assertTrue(want)
        only_apt = sorted(set(want.items()) - set(got.items()))
        only_ds = sorted(set(got.items()) - set(want.items()))
        self.assertEqual((only_apt, only_ds), ([], []),
                         "apt alone, ib-depsolve alone")
        return got

    def test_alternatives_made_here(self):
        repo = dsrepos.build_deb_repo(tempfile.mkdtemp(dir=ROOT), PACKAGES,
                                      SUITE)
        apt = Apt(repo, SUITE)
        for names, pick in ((["needs-rc"], "zz-rc"),
                            (["needs-new"], "mm-rc"),
                            (["needs-virt"], "virt-rc"),
                            (["needs-new", "needs-rc"], "mm-rc")):
            got = self.compare(apt, repo, SUITE, names, False)
            self.assertIn(pick, got, names)

    @unittest.skipUnless(all(glob.glob(os.path.join(LISTS, m + "*"))
                             for m in MIRROR),
                         "this machine's bookworm apt lists are missing")
    def test_debian_12_sets_as_apt(self):
        repo = os.path.join(ROOT, "mirror")
        bdir = os.path.join(repo, "dists", "bookworm", "main", "binary-amd64")
        os.makedirs(bdir)
        with open(os.path.join(bdir, "Packages"), "wb") as f:
            for m in MIRROR:
                src = sorted(glob.glob(os.path.join(LISTS, m + "*")))[0]
                # apt-helper reads every compression apt stores lists in.
                f.write(subprocess.run(
                    ["/usr/lib/apt/apt-helper", "cat-file", src],
                    check=True, capture_output=True).stdout)
                f.write(b"\n")
        dsrepos.release(repo, "bookworm")
        apt = Apt(repo, "bookworm")
        d = ibq_compose.DISTROS["debian-12"]
        minimal = d["required"] + d["bases"]["minimal"]
        got = self.compare(apt, repo, "bookworm", minimal, False)
        self.assertIn("sysv-rc", got)
        self.assertNotIn("openrc", got)
        self.compare(apt, repo, "bookworm", minimal, True)
        self.compare(apt, repo, "bookworm",
                     d["required"] + d["bases"]["standard"], False)


if __name__ == "__main__":
    sys.exit(dsrepos.run_tests(["apt-get", "apt-ftparchive", "dpkg-deb"]))
