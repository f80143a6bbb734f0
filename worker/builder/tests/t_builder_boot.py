#!/usr/bin/python3
# ib-build end to end (SLOW: about 6 minutes; needs root and the Debian
# mirror of /etc/apt/sources.list): pins a small Debian 12 package set
# (mkmanifest.py), turns it into a manifest (manifest-gen), builds qcow2,
# raw and fixed VHD images from an empty store, checks them with qemu-img,
# boots the qcow2 under TCG to the marker unit's line on the serial
# console, then checks the store: the same manifest again downloads and
# runs nothing, a changed hostname resumes after the package install, and a
# package missing from the pinned set fails the install (nothing is
# fetched behind the manifest's back).
# Slow parts: the cold build (mmdebstrap, libguestfs under TCG: ~4 min) and
# the boot (~1-2 min).
# check: serial (a whole build and a TCG boot: both cores, for minutes)
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("IB_TOP") or os.path.abspath(
    os.path.join(HERE, "..", "..", ".."))
B = os.environ.get("B", "build")
BDIR = B if os.path.isabs(B) else os.path.join(TOP, B)
IB = os.path.join(BDIR, "ib-build")
GEN = os.path.join(TOP, "worker", "builder", "manifest-gen")
BOOT_TIMEOUT = 240
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def log(msg):
    print("# " + msg, flush=True)


def gen(req):
    p = subprocess.run([GEN], input=json.dumps(req), capture_output=True,
                       text=True, env=dict(os.environ, IB_BUILD=IB))
    if p.returncode != 0:
        sys.exit("manifest-gen failed: " + p.stderr)
    return json.loads(p.stdout)


def build(manifest, store, out, exports):
    r, w = os.pipe()
    argv = [IB, "--store", store, "--output-directory", out,
            "--cache-max-size=%d" % (20 << 30), "-", "--json",
            "--monitor=JSONSeqMonitor", "--monitor-fd=%d" % w]
    for e in exports:
        argv += ["--export", e]
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, pass_fds=(w,))
    os.close(w)
    reader = os.fdopen(r, "rb")
    so, se = p.communicate(json.dumps(manifest).encode(), timeout=1200)
    mon = [json.loads(x) for x in reader.read().split(b"\x1e") if x.strip()]
    reader.close()
    secs = time.monotonic() - start
    try:
        res = json.loads(so)
    except ValueError:
        res = None
    m = re.search(r"downloaded (\d+) bytes, ran (\d+) stages", se.decode())
    summary = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
    return p.returncode, res, mon, se.decode(), secs, summary


def boot(image, expect, fmt="qcow2", firmware=(), serial=None):
    """Boots image (read only: snapshot=on) under TCG until expect (a
    string, or every string of a list) shows on the serial console;
    firmware: extra qemu arguments (OVMF's flash)."""
    serial = serial or image + ".serial"
    expects = [expect] if isinstance(expect, str) else list(expect)
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "2",
            "-display", "none", "-no-reboot", "-monitor", "none",
            "-drive", "file=%s,if=virtio,format=%s,snapshot=on" % (image, fmt),
            "-serial", "file:" + serial] + list(firmware)
    q = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    start = time.monotonic()
    seen = False
    try:
        while time.monotonic() - start < BOOT_TIMEOUT and q.poll() is None:
            time.sleep(3)
            try:
                with open(serial, "rb") as f:
                    text = f.read()
                if all(e.encode() in text for e in expects):
                    seen = True
                    break
            except FileNotFoundError:
                pass
    finally:
        q.kill()
        q.wait()
    if not seen and os.path.exists(serial):
        with open(serial, "rb") as f:
            sys.stdout.write(f.read()[-3000:].decode(errors="replace"))
    return seen, time.monotonic() - start


def pinned_request(args):
    """mkmanifest.py's request for args, or None (said why: skip)."""
    p = subprocess.run([os.path.join(HERE, "mkmanifest.py")] + args,
                       capture_output=True, text=True)
    if p.returncode != 0:
        print("cannot pin packages from the apt mirror: " +
              p.stderr.strip().splitlines()[-1])
        return None
    return json.loads(p.stdout)


def main():
    if os.geteuid() != 0:
        print("needs root (mmdebstrap in root mode, chroot)")
        return 77
    for tool in ("mmdebstrap", "qemu-system-x86_64", "qemu-img",
                 "dpkg-scanpackages", "unshare"):
        if shutil.which(tool) is None:
            print("%s is not installed (make deps)" % tool)
            return 77
    if not os.access(IB, os.X_OK):
        print("ib-build is not built: run make")
        return 77
    os.environ.setdefault("LIBGUESTFS_BACKEND", "direct")
    os.environ.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
    req = pinned_request(["--formats", "qcow2,vhd", "--hostname",
                          "ib-boot-1"])
    if req is None:
        return 77
    tmp = tempfile.mkdtemp(prefix="t_builder_boot.", dir=BDIR)
    try:
        return body(tmp, req)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def body(tmp, req):
    store = os.path.join(tmp, "store")
    manifest = gen(req)
    names = [p["name"] for p in manifest["pipelines"]]
    check(names == ["os", "image", "qcow2", "vpc"],
          "manifest-gen pipelines %s" % names)

    log("SLOW: cold build from an empty store")
    out = os.path.join(tmp, "out1")
    rc, res, mon, err, secs, (dl, ran) = build(
        manifest, store, out, ["qcow2", "image", "vpc"])
    log("cold build: %.0f s, %d bytes downloaded, %d stages" %
        (secs, dl, ran))
    check(rc == 0 and res and res.get("success"),
          "cold build succeeds%s" % ("" if rc == 0 else ": " + err[-3000:]))
    if rc != 0:
        return 1
    check(dl > 50 << 20 and ran == 9, "cold build downloads the packages "
          "and runs every stage (%d bytes, %d stages)" % (dl, ran))
    pkgs = res["metadata"]["os"]["io.ib.debian.install"]["packages"]
    check(len(pkgs) == len(req["depsolve"]["package_specs"]["os"]),
          "metadata lists the %d installed packages" % len(pkgs))
    inst = res["log"]["os"][0]["output"]
    check("installing remaining packages inside the chroot" in inst,
          "the install extracts only the Essential:yes packages first, "
          "dpkg unpacks the rest once (%s)" % inst[-600:])
    check(inst.count("update-initramfs: Generating /boot/initrd.img-") == 1,
          "the initramfs is made once, not again by the trigger (%d)" %
          inst.count("update-initramfs: Generating"))

    def info(path, fmt=None):
        p = subprocess.run(["qemu-img", "info", "--output=json"] +
                           (["-f", fmt] if fmt else []) + [path],
                           capture_output=True, text=True)
        return json.loads(p.stdout) if p.returncode == 0 else {}
    qcow2 = os.path.join(out, "qcow2", "disk.qcow2")
    raw = os.path.join(out, "image", "disk.raw")
    vhd = os.path.join(out, "vpc", "disk.vhd")
    check(info(qcow2).get("format") == "qcow2", "qcow2 recognised")
    check(info(raw).get("format") == "raw", "raw recognised")
    vi = info(vhd, "vpc")
    check(vi.get("format") == "vpc" and vi.get("virtual-size", 1) %
          (1 << 20) == 0, "fixed VHD recognised, whole MiB")

    log("SLOW: booting the qcow2 under TCG")
    seen, secs = boot(qcow2, "IB-BOOT-MARKER ib-boot-1")
    check(seen, "the image boots to the marker unit (%.0f s)" % secs)

    rc, res, mon, err, secs, (dl, ran) = build(
        manifest, store, os.path.join(tmp, "out2"), ["qcow2", "image", "vpc"])
    check(rc == 0 and dl == 0 and ran == 0 and
          not any(m["message"].startswith(("Starting module", "Downloaded"))
                  for m in mon),
          "warm rebuild downloads nothing and runs no stage (%.1f s)" % secs)
    check(info(os.path.join(tmp, "out2", "qcow2", "disk.qcow2")).get(
        "format") == "qcow2", "warm rebuild exports the qcow2")

    req["customizations"]["hostname"] = "ib-boot-2"
    rc, res, mon, err, secs, (dl, ran) = build(
        gen(req), store, os.path.join(tmp, "out3"), ["os"])
    msgs = [m["message"] for m in mon]
    check(rc == 0 and dl == 0 and ran == 5 and any(
        "resuming after stage io.ib.debian.install" in m for m in msgs),
        "a changed hostname resumes after the install (%d stages, %.1f s)" %
        (ran, secs))
    with open(os.path.join(tmp, "out3", "os", "etc", "hostname")) as f:
        check(f.read() == "ib-boot-2\n", "the new hostname is in the tree")
    os3 = os.path.join(tmp, "out3", "os")
    links = [os.readlink(os.path.join(os3, x)) for x in
             ("initrd.img", "initrd.img.old", "vmlinuz", "vmlinuz.old")
             if os.path.islink(os.path.join(os3, x))]
    check(len(links) == 4 and all(os.path.isfile(os.path.join(os3, x))
                                  for x in links),
          "the kernel's and initramfs' links at / lead to /boot (%s)" %
          links)
    with open(os.path.join(tmp, "out3", "os", "var", "lib", "dpkg",
                           "status")) as f:
        status = f.read().split("\n\n")
    want = sorted(p["name"] for p in req["depsolve"]["package_specs"]["os"])
    got = sorted(st.split("\n", 1)[0][len("Package: "):] for st in status
                 if "Status: install ok installed" in st)
    check(got == want and not os.path.exists(os.path.join(
        tmp, "out3", "os", "var", "lib", "apt", "extended_states")),
        "the tree holds exactly the pinned packages, installed, and no "
        "apt state (%d of %d)" % (len(got), len(want)))

    # A pinned set missing a dependency: mmdebstrap has no mirror to
    # fetch it from, so the install fails.
    specs = req["depsolve"]["package_specs"]["os"]
    req["depsolve"]["package_specs"]["os"] = [
        s for s in specs if s["name"] != "libzstd1"]
    rc, res, mon, err, secs, _ = build(
        gen(req), store, os.path.join(tmp, "out4"), ["os"])
    check(rc == 1 and res and res["type"] == "error" and
          res["error"]["details"]["stage"]["type"] == "io.ib.debian.install",
          "a package missing from the pinned set fails the install")
    print("%d checks failed" % len(FAILS) if FAILS else "all checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
