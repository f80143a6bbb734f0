#!/usr/bin/python3
# Test harness (the boot-mode VM cases, test-vm/boot_modes.c): builds one
# small Debian 12 image per boot mode on the host, from the composes'
# repository (test-vm/mkrepo.sh, served by the harness), the way a compose
# goes: the queue's plan for the request (queue/ibq_compose.py, the
# "minimal" base), ib-depsolve against the signed repository, the manifest
# from ib-build --generate-manifest with the boot mode, then ib-build. All
# the images of one run share one store, so the tree is installed once and
# each further boot mode is only its image stage. /etc/rc.local prints
#   IB-VMTEST-MARKER HOSTNAME uefi|bios
# on the serial console (the firmware from /sys/firmware/efi, so a boot
# through the other path cannot pass).
#
# usage: bootimg.py --mirror URL --key FILE --store DIR --out DIR
#            --hostname H [--arch x86_64|aarch64] MODE...
#   MODE: legacy, uefi or hybrid; DIR/MODE.qcow2 (DIR/MODE-ARCH.qcow2 for
#   another architecture than x86_64) is written for each.
# Env: B (build directory, for ib-depsolve and ib-build).
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "queue"))
import ibq_compose  # noqa: E402

B = os.environ.get("B", "build")
BDIR = B if os.path.isabs(B) else os.path.join(TOP, B)
# The serial console and the EFI loader's package, per architecture.
ARCHES = {
    "x86_64": {"deb": "amd64", "tty": "ttyS0", "grub": "grub-efi-amd64-bin"},
    "aarch64": {"deb": "arm64", "tty": "ttyAMA0",
                "grub": "grub-efi-arm64-bin"},
}


def log(msg):
    print("bootimg: " + msg, file=sys.stderr, flush=True)


def run(argv, stdin=None, timeout=1800):
    p = subprocess.run(argv, input=stdin, capture_output=True,
                       timeout=timeout)
    if p.returncode != 0:
        sys.exit("bootimg: %s failed (%d): %s\n%s" % (
            os.path.basename(argv[0]), p.returncode,
            p.stderr.decode(errors="replace")[-3000:],
            p.stdout.decode(errors="replace")[-6000:]))
    return p.stdout


def depsolve(args, store, a):
    """The package specs of the compose's depsolve job, by ib-depsolve."""
    req = {"distribution": "debian-12", "base": "minimal",
           "image_type": "qcow2", "packages": [a["grub"]],
           "mirror": args.mirror, "gpgkeys": [args.key_text]}
    dep, man, _, _ = ibq_compose.plan(req, args.mirror)
    pkgs = dep["grouped_package_sets"]["os"][0]
    # The queue's "minimal" base names the amd64 cloud kernel.
    specs = [p.replace("-amd64", "-" + a["deb"]) if
             p.startswith("linux-image-") else p for p in pkgs["Include"]]
    repo = dict(pkgs["Repositories"][0])
    repo["baseurl"] = [u.replace("arch=amd64", "arch=" + a["deb"]) for u in
                       repo.pop("baseurls")]
    request = {"command": "depsolve", "arch": args.arch,
               "releasever": dep["releasever"],
               "cachedir": os.path.join(store, "depsolve-cache"),
               "arguments": {"repos": [repo], "transactions": [
                   {"package-specs": specs, "install_weak_deps": False}]}}
    ans = json.loads(run([os.path.join(BDIR, "ib-depsolve")],
                         json.dumps(request).encode()))
    return man["compose"], [{k: p[k] for k in (
        "name", "version", "arch", "checksum", "remote_location")}
        for p in ans["packages"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hostname", required=True)
    ap.add_argument("--arch", default="x86_64", choices=sorted(ARCHES))
    ap.add_argument("modes", nargs="+",
                    choices=("legacy", "uefi", "hybrid"))
    args = ap.parse_args()
    a = ARCHES[args.arch]
    if args.arch != os.uname().machine:
        # mmdebstrap runs the foreign tree's maintainer scripts through
        # qemu-user: binfmt_misc must know the architecture.
        reg = "/proc/sys/fs/binfmt_misc/qemu-" + args.arch
        try:
            with open(reg) as f:
                enabled = f.readline().strip() == "enabled"
        except OSError:
            enabled = False
        if not enabled:
            sys.exit("bootimg: %s is not registered with binfmt_misc "
                     "(ci/deps.sh arm64)" % reg)
    with open(args.key) as f:
        args.key_text = f.read()
    os.makedirs(args.store, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)

    t0 = time.monotonic()
    compose, specs = depsolve(args, args.store, a)
    log("depsolve: %d %s packages in %.1f s" % (len(specs), a["deb"],
                                               time.monotonic() - t0))
    compose["depsolve"] = {"package_specs": {"os": specs}}
    # The image's own sources.list: Debian's, not the harness's server,
    # whose port changes every run and would change the tree stage's id
    # (the store could then never reuse the package install).
    compose["apt_sources"] = "deb http://deb.debian.org/debian bookworm main\n"
    compose["customizations"] = {
        "hostname": args.hostname,
        "kernel": {"append": "console=%s,115200n8" % a["tty"]},
        "files": [{"path": "/etc/rc.local", "mode": "0755", "data":
                   "#!/bin/sh\nif [ -d /sys/firmware/efi ]; then f=uefi; "
                   "else f=bios; fi\necho IB-VMTEST-MARKER "
                   "$(cat /etc/hostname) $f >/dev/%s\n" % a["tty"]}],
    }
    for mode in args.modes:
        compose["image"] = {"formats": ["qcow2"], "boot_mode": mode}
        if args.arch != "x86_64":
            compose["arch"] = args.arch
        manifest = run([os.path.join(BDIR, "ib-build"),
                        "--generate-manifest"],
                       json.dumps(compose).encode())
        out = os.path.join(args.out, "out-" + mode)
        t1 = time.monotonic()
        env_argv = [os.path.join(BDIR, "ib-build"), "--store", args.store,
                    "--output-directory", out, "--export", "qcow2", "--json",
                    "-"]
        run(env_argv, manifest)
        os.replace(os.path.join(out, "qcow2", "disk.qcow2"),
                   os.path.join(args.out, mode + (
                       "" if args.arch == "x86_64" else "-" + args.arch) +
                       ".qcow2"))
        shutil.rmtree(out, ignore_errors=True)
        log("%s image built in %.0f s" % (mode, time.monotonic() - t1))
    log("done in %.0f s" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LIBGUESTFS_BACKEND", "direct")
    os.environ.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
    sys.exit(main())
