#!/usr/bin/python3
# Test harness (the executor VM case, test-vm/executor.c; its own folder
# so run.sh does not link probe.c into ib-vmtest): the manifest of
# the credentials probe. Builds test-vm/probe/probe.c static, packs it as the
# postinst of a .deb (ib-probe) next to the composes' repository, and
# prints an ib-build manifest whose tree installs the smallest set dpkg
# runs maintainer scripts with (dpkg, dash, coreutils, tar, diffutils,
# libc-bin, sed and what they depend on, from the repository's Packages) plus
# ib-probe, with /etc/ib-probe.conf (the targets, one per --target) set up
# before, /ib-boot (an init that prints IB-VMTEST-MARKER HOSTNAME), then a
# 256 MiB disk of the tree (no boot loader) and its zstd
# (xz takes two minutes under TCG): export "zst", file disk.raw.zst, the
# probe's report at /ib-probe.txt.
#
# usage: probemanifest.py --repo DIR --mirror URL --hostname H
#            [--target 'file PATH' | 'dir PATH' | 'tcp HOST PORT']...
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# The image's init for the boot check: prints the marker with the image's
# host name, then leaves (the kernel, told panic=-1, restarts: the domain
# is destroyed on reboot).
BOOT_INIT = """#!/bin/sh
read -r h </etc/hostname
echo "IB-VMTEST-MARKER $h booted its own init"
"""
# What dpkg needs to run maintainer scripts in the tree (its programs and
# libc6's preinst's sed), no more: each package is seconds under TCG.
WANT = ["dpkg", "dash", "coreutils", "tar", "diffutils", "libc-bin", "sed"]


def packages(repo):
    """name -> {Filename, SHA256, deps} from the repository's index."""
    path = os.path.join(repo, "dists/bookworm/main/binary-amd64/Packages")
    out = {}
    with open(path, encoding="utf-8") as f:
        for para in f.read().split("\n\n"):
            d = {}
            for line in para.splitlines():
                if line[:1] in (" ", "\t") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                d[k] = v.strip()
            if "Package" not in d:
                continue
            deps = []
            for field in ("Pre-Depends", "Depends"):
                for alt in filter(None, d.get(field, "").split(",")):
                    first = alt.split("|")[0].strip().split(" ")[0]
                    deps.append(first.split(":")[0])
            d["deps"] = deps
            out[d["Package"]] = d
    return out


def closure(index, want):
    seen, todo = [], list(want)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        if n not in index:
            # A virtual package some other member provides.
            prov = [p for p, d in index.items()
                    if n in [x.strip().split(" ")[0]
                             for x in d.get("Provides", "").split(",")]]
            if not prov:
                sys.exit("probemanifest: %s is not in the repository" % n)
            n = prov[0]
            if n in seen:
                continue
        seen.append(n)
        todo.extend(index[n]["deps"])
    return seen


def make_deb(repo):
    """The ib-probe .deb in REPO/probe/: (path relative to REPO, sha256)."""
    outdir = os.path.join(repo, "probe")
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ctl = os.path.join(tmp, "pkg", "DEBIAN")
        os.makedirs(ctl)
        subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra",
                        "-Werror", "-o", os.path.join(ctl, "postinst"),
                        os.path.join(HERE, "probe.c")], check=True)
        with open(os.path.join(ctl, "control"), "w") as f:
            f.write("Package: ib-probe\nVersion: 1\nArchitecture: amd64\n"
                    "Maintainer: ib-vmtest <root@localhost>\n"
                    "Description: the executor case's credentials probe\n")
        deb = os.path.join(outdir, "ib-probe_1_amd64.deb")
        # The same bytes every time (fixed times): the builds of one case
        # share the .deb through the worker's store by its checksum.
        os.utime(os.path.join(ctl, "postinst"), (0, 0))
        os.utime(os.path.join(ctl, "control"), (0, 0))
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip",
                        "--build", os.path.join(tmp, "pkg"), deb],
                       check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, SOURCE_DATE_EPOCH="0"))
    with open(deb, "rb") as f:
        return "probe/ib-probe_1_amd64.deb", hashlib.sha256(
            f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--mirror", required=True)
    ap.add_argument("--hostname", required=True)
    ap.add_argument("--target", action="append", default=[])
    a = ap.parse_args()
    index = packages(a.repo)
    items, refs = {}, []
    for n in closure(index, WANT):
        sum_ = "sha256:" + index[n]["SHA256"]
        items[sum_] = a.mirror + "/" + index[n]["Filename"]
        refs.append(sum_)
    rel, hexsum = make_deb(a.repo)
    items["sha256:" + hexsum] = a.mirror + "/" + rel
    refs.append("sha256:" + hexsum)
    conf = "".join(t + "\n" for t in a.target)
    tree = [
        {"type": "io.ib.debian.install",
         "options": {"suite": "bookworm",
                     "setup_files": [{"path": "/etc/ib-probe.conf",
                                      "content": conf, "mode": "0644"}]},
         "inputs": {"packages": {"type": "org.osbuild.files",
                                 "origin": "org.osbuild.source",
                                 "references": refs}}},
        # The image has no kernel (a kernel set is minutes of mmdebstrap
        # under TCG): the case boots its file system with the host's
        # kernel and initrd, and this is the init that says so.
        {"type": "io.ib.files",
         "options": {"directories": [{"path": d, "mode": "0755"} for d in
                                     ("/proc", "/sys", "/run", "/dev")],
                     "files": [{"path": "/ib-boot", "mode": "0755",
                                "content": BOOT_INIT}]}},
        {"type": "org.osbuild.hostname",
         "options": {"hostname": a.hostname}},
    ]
    m = {
        "version": "2",
        "pipelines": [
            {"name": "tree", "stages": tree},
            {"name": "image", "stages": [
                {"type": "io.ib.disk",
                 "options": {"filename": "disk.raw", "size": "256M",
                             "label": "root", "bootloader": "none"},
                 "inputs": {"tree": {
                     "type": "org.osbuild.tree",
                     "origin": "org.osbuild.pipeline",
                     "references": ["name:tree"]}}}]},
            {"name": "zst", "stages": [
                {"type": "org.osbuild.zstd",
                 "options": {"filename": "disk.raw.zst"},
                 "inputs": {"file": {
                     "type": "org.osbuild.files",
                     "origin": "org.osbuild.pipeline",
                     "references": {"name:image": {"file": "disk.raw"}}}}}
            ]},
        ],
        "sources": {"org.osbuild.curl": {"items": items}},
    }
    json.dump(m, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
