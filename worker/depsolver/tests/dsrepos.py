"""Helpers for the ib-depsolve tests: real repositories made here with the
real tools (rpmbuild + createrepo_c; dpkg-deb + apt-ftparchive + gpg),
served from a directory on loopback, and a runner for the depsolver."""

import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "lib"))
import testpath  # noqa: E402  (shared helpers and doubles on the path)
import loopback  # noqa: E402

TOP = testpath.TOP
BUILD = testpath.BUILD
DEPSOLVE = os.path.join(BUILD, "ib-depsolve")


def missing_tools(*tools):
    return [t for t in tools if shutil.which(t) is None]


def run_tests(tools, programs=(DEPSOLVE,)):
    """The calling script's test cases; 77 (skipped) when one of programs
    is not built or one of tools is not installed, else 0 or 1."""
    for p in programs:
        if not os.access(p, os.X_OK):
            print("skipped: %s is not built" % p)
            return 77
    miss = missing_tools(*tools)
    if miss:
        print("skipped: missing %s" % ", ".join(miss))
        return 77
    prog = unittest.main(verbosity=2, exit=False, warnings="ignore")
    return 0 if prog.result.wasSuccessful() else 1


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class DirServer:
    """A static HTTP server for one directory, on a free loopback port."""

    def __init__(self, root):
        handler = functools.partial(_Quiet, directory=root)
        self.server = loopback.start(handler)
        self.port = self.server.server_address[1]
        self.url = loopback.url(self.server)

    def stop(self):
        loopback.stop(self.server)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def run(request, timeout=120, env=None):
    """Runs ib-depsolve; returns (exit code, answer JSON, stderr)."""
    p = subprocess.run([DEPSOLVE], input=json.dumps(request).encode(),
                       capture_output=True, timeout=timeout, env=env)
    try:
        ans = json.loads(p.stdout)
    except ValueError:
        ans = None
    return p.returncode, ans, p.stderr.decode(errors="replace")


# --- rpm-md ---------------------------------------------------------------

RPM_SPEC = """Name: %(name)s
Version: %(version)s
Release: 1
Summary: test package %(name)s
License: MIT
BuildArch: noarch
%(deps)s
%%description
A package for the ib-depsolve tests.
%%files
"""


def build_rpm_repo(tmp, packages):
    """packages: [(name, version, ["Requires: x", ...])]; returns the repo
    directory (createrepo_c output)."""
    top = os.path.join(tmp, "rpmbuild")
    repo = os.path.join(tmp, "rpmrepo")
    os.makedirs(os.path.join(top, "SPECS"), exist_ok=True)
    os.makedirs(repo, exist_ok=True)
    for name, version, deps in packages:
        spec = os.path.join(top, "SPECS", "%s-%s.spec" % (name, version))
        with open(spec, "w") as f:
            f.write(RPM_SPEC % {"name": name, "version": version,
                                "deps": "\n".join(deps)})
        subprocess.run(["rpmbuild", "-bb", "--quiet", "--define",
                        "_topdir " + top, "--define",
                        "_rpmdir " + os.path.join(repo, "Packages"), spec],
                       check=True, capture_output=True)
    subprocess.run(["createrepo_c", "--quiet", repo], check=True,
                   capture_output=True)
    return repo


# --- Debian ---------------------------------------------------------------

class Gpg:
    """A throwaway GnuPG home with one signing key (no passphrase)."""

    def __init__(self, tmp, name):
        self.home = os.path.join(tmp, "gnupg-" + name)
        os.makedirs(self.home, mode=0o700)
        self.uid = "ib-depsolve test %s <%s@ib.invalid>" % (name, name)
        self.gpg("--quick-gen-key", self.uid, "ed25519", "sign", "never")
        self.public = self.gpg("--armor", "--export", self.uid)

    def gpg(self, *args):
        p = subprocess.run(["gpg", "--homedir", self.home, "--batch",
                            "--quiet", "--pinentry-mode", "loopback",
                            "--passphrase", ""] + list(args),
                           check=True, capture_output=True, timeout=120)
        return p.stdout.decode()

    def clearsign(self, src, dst):
        if os.path.exists(dst):
            os.unlink(dst)
        self.gpg("--local-user", self.uid, "--output", dst, "--clearsign",
                 src)

    def stop(self):
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"],
                       capture_output=True)


def build_deb(tmp, pool, name, version, fields=(), arch="all"):
    d = os.path.join(tmp, "debsrc", "%s_%s_%s" % (name, version, arch))
    os.makedirs(os.path.join(d, "DEBIAN"))
    os.makedirs(os.path.join(d, "usr", "share", "doc", name))
    with open(os.path.join(d, "usr", "share", "doc", name, "README"),
              "w") as f:
        f.write("%s %s\n" % (name, version))
    ctrl = ["Package: " + name, "Version: " + version,
            "Architecture: " + arch, "Maintainer: ib <ib@ib.invalid>",
            "Description: test package " + name] + list(fields)
    with open(os.path.join(d, "DEBIAN", "control"), "w") as f:
        f.write("\n".join(ctrl) + "\n")
    out = os.path.join(pool, "%s_%s_%s.deb" % (name, version.replace(
        ":", "%3a"), arch))
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", d,
                    out], check=True, capture_output=True)
    return out


def build_deb_repo(tmp, packages, suite="test", gpg=None, arches=None,
                   name="debrepo"):
    """packages: [(name, version, [control fields], arch)]; a repository
    with dists/SUITE/main/binary-ARCH/Packages{,.gz,.xz} and a Release,
    and an InRelease when gpg is given. Returns its root. arches: None,
    one amd64 index listing every package (as before); else one index per
    architecture with its packages and those of arch all."""
    root = os.path.join(tmp, name)
    pool = os.path.join(root, "pool", "main")
    os.makedirs(pool, exist_ok=True)
    for pname, version, fields, arch in packages:
        build_deb(tmp, pool, pname, version, fields, arch)
    p = subprocess.run(["apt-ftparchive", "packages", "pool/main"],
                       cwd=root, check=True, capture_output=True)
    for arch in arches or ("amd64",):
        bdir = os.path.join(root, "dists", suite, "main", "binary-" + arch)
        os.makedirs(bdir, exist_ok=True)
        text = p.stdout
        if arches:
            text = b"\n\n".join(
                st for st in p.stdout.strip().split(b"\n\n")
                if re.search(rb"^Architecture: (%s|all)$" % arch.encode(),
                             st, re.M)) + b"\n"
        with open(os.path.join(bdir, "Packages"), "wb") as f:
            f.write(text)
        subprocess.run(["gzip", "-9nkf", os.path.join(bdir, "Packages")],
                       check=True)
        subprocess.run(["xz", "-kf", os.path.join(bdir, "Packages")],
                       check=True)
    release(root, suite, gpg, arches=arches)
    return root


def release(root, suite, gpg=None, codename=None, arches=None):
    """(Re)writes dists/SUITE/Release and, with gpg, InRelease."""
    d = os.path.join(root, "dists", suite)
    for n in ("Release", "InRelease"):
        if os.path.exists(os.path.join(d, n)):
            os.unlink(os.path.join(d, n))
    p = subprocess.run(
        ["apt-ftparchive",
         "-o", "APT::FTPArchive::Release::Suite=" + suite,
         "-o", "APT::FTPArchive::Release::Codename=" + (codename or suite),
         "-o", "APT::FTPArchive::Release::Architectures=" +
         " ".join(arches or ("amd64",)),
         "-o", "APT::FTPArchive::Release::Components=main",
         "release", "."], cwd=d, check=True, capture_output=True)
    with open(os.path.join(d, "Release"), "wb") as f:
        f.write(p.stdout)
    if gpg is not None:
        gpg.clearsign(os.path.join(d, "Release"), os.path.join(d, "InRelease"))
