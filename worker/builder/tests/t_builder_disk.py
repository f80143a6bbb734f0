#!/usr/bin/python3
# io.ib.disk, both backends (about 2 min: two libguestfs appliance launches
# under TCG; the direct backend takes a second; needs root and loop
# devices). A small tree is built, then given in the store what stages
# cannot make (hard link, symlink, device node, fifo, xattrs, an ACL, a
# sparse file); the disk made from it must have our MBR (bootable partition
# from sector 2048, the same entry libguestfs writes), a clean ext4 with the
# label and UUID, the tree unchanged (read back through a read-only loop
# mount), extlinux and syslinux's MBR code; and nothing may stay mounted or
# attached, after success or failure. Failures: a size too small, a tree
# with more files than the file system has inodes, /boot/extlinux a
# symlink. Fallback: with loop devices that do not work, auto falls back to
# libguestfs and says so.
# check: serial (loop devices, mounts, libguestfs appliances under TCG)
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

TOP = os.environ.get("IB_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
B = os.environ.get("B", "build")
IB = os.path.join(TOP, B, "ib-build") if not os.path.isabs(B) else \
    os.path.join(B, "ib-build")
MBR_BIN = "/usr/lib/syslinux/mbr/mbr.bin"
OFF = 1 << 20
MIB = 1 << 20
UUID = "0b5f3c2e-8d41-4a7e-9c1f-2e6d7a8b9c0d"
KVER = "6.1.0-99-test"
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def stage(t, options=None, inputs=None):
    s = {"type": t, "options": options or {}}
    if inputs:
        s["inputs"] = inputs
    return s


def manifest(disk_opts, files=()):
    tree = [stage("io.ib.files", {
        "directories": [{"path": "/srv/d", "mode": "0750", "uid": 1001,
                         "gid": 1002}],
        "files": [{"path": "/boot/vmlinuz-" + KVER, "content": "kernel\n"},
                  {"path": "/boot/initrd.img-" + KVER,
                   "content": "initrd\n"},
                  {"path": "/etc/motd", "content": "hi\n", "mode": "0600",
                   "uid": 1001, "gid": 1002}] + list(files)}),
        stage("org.osbuild.kernel-cmdline", {
            "root_fs_uuid": UUID, "kernel_opts": "console=ttyS0"})]
    opts = {"filename": "disk.raw", "size": "80M", "label": "ibroot",
            "uuid": UUID}
    opts.update(disk_opts)
    return {"version": "2", "pipelines": [
        {"name": "tree", "stages": tree},
        {"name": "image", "stages": [stage("io.ib.disk", opts, {
            "tree": {"type": "org.osbuild.tree",
                     "origin": "org.osbuild.pipeline",
                     "references": ["name:tree"]}})]}]}


def build(m, store, out, env=None, wrap=()):
    argv = list(wrap) + [IB, "--store", store, "--output-directory", out,
                         "--json", "--export", "image", "-"]
    p = subprocess.run(argv, input=json.dumps(m).encode(),
                       capture_output=True, timeout=900,
                       env=dict(os.environ, **(env or {})))
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = None
    output = ""
    if res and res.get("type") == "result":
        output = "".join(s.get("output", "") for s in res["log"]["image"])
    elif res and res.get("type") == "error":
        output = res["error"]["details"]["stage"]["output"]
    return p.returncode, res, output, p.stderr.decode()


def tree_object(store, m):
    """The stored tree of the 'tree' pipeline (built by a tree export)."""
    r = subprocess.run([IB, "--store", store, "--json", "--export", "tree",
                        "--output-directory", store + ".out", "-"],
                       input=json.dumps(m).encode(), capture_output=True)
    res = json.loads(r.stdout)
    last = res["log"]["tree"][-1]["id"]
    shutil.rmtree(store + ".out", ignore_errors=True)
    return os.path.join(store, "objects", last, "tree")


def enrich(t):
    """What stages cannot make, added to the stored tree."""
    os.link(os.path.join(t, "etc/motd"), os.path.join(t, "srv/d/motd.hl"))
    os.symlink("../etc/motd", os.path.join(t, "srv/motd.sl"))
    os.symlink("/etc/hostname-absolute", os.path.join(t, "srv/abs.sl"))
    os.mknod(os.path.join(t, "srv/null"), 0o666 | stat.S_IFCHR,
             os.makedev(1, 3))
    os.mkfifo(os.path.join(t, "srv/fifo"), 0o640)
    os.setxattr(os.path.join(t, "etc/motd"), "user.ib", b"value\x00\x01")
    # A file capability (cap_net_raw+ep), as ping carries.
    os.setxattr(os.path.join(t, "srv/d"), "trusted.ib", b"t")
    with open(os.path.join(t, "srv/cap"), "wb") as f:
        f.write(b"#!/bin/sh\n")
    os.setxattr(os.path.join(t, "srv/cap"), "security.capability",
                bytes.fromhex("0100000200200000000000000000000000000000"))
    subprocess.run(["setfacl", "-m", "u:1234:rwx,d:g:55:rx",
                    os.path.join(t, "srv/d")], check=True)
    with open(os.path.join(t, "srv/sparse"), "wb") as f:
        f.seek(30 << 20)
        f.write(b"end")
    with open(os.path.join(t, "srv/blob"), "wb") as f:
        f.write(hashlib.sha256(b"x").digest() * 5000)
    os.chown(os.path.join(t, "srv/blob"), 4321, 8765)
    os.utime(os.path.join(t, "srv/blob"), (981173106, 981173106))
    os.chown(os.path.join(t, "srv/abs.sl"), 7, 8, follow_symlinks=False)
    # A kernel with runs of zeros, as real ones have: mke2fs -d leaves
    # them out as holes, which extlinux cannot read.
    with open(os.path.join(t, "boot/vmlinuz-" + KVER), "wb") as f:
        for i in range(256):
            f.write((b"k%07d" % i) * 1024 + bytes(8192))


def boot_file_extents(img, path):
    """debugfs's extent list of a file of the image: [(first, last)]
    logical blocks, whether an index block (depth > 0) is used, and the
    file system's block size."""
    dev = "%s?offset=%d" % (img, OFF)
    p = subprocess.run(["debugfs", "-R", "stat " + path, dev],
                       capture_output=True, text=True)
    ext = p.stdout.split("EXTENTS:", 1)[-1]
    runs = [(int(a), int(b or a)) for a, b in
            re.findall(r"\((\d+)(?:-(\d+))?\):\d+", ext)]
    p = subprocess.run(["dumpe2fs", "-h", dev], capture_output=True,
                       text=True)
    m = re.search(r"^Block size:\s+(\d+)", p.stdout, re.M)
    return runs, "ETB" in ext, int(m.group(1)) if m else 4096


def describe(root, skip=()):
    """Every entry: type, mode, owner, size, data, target, rdev, links,
    mtime, xattrs (ACLs are system.posix_acl_* xattrs)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if any(rel == x or rel.startswith(x + "/") for x in skip):
                continue
            st = os.lstat(p)
            e = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                 st.st_uid, st.st_gid, st.st_nlink]
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    e += [st.st_size, hashlib.sha256(f.read()).hexdigest(),
                          int(st.st_mtime)]
            elif stat.S_ISLNK(st.st_mode):
                e.append(os.readlink(p))
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e.append(st.st_rdev)
            if not stat.S_ISLNK(st.st_mode):
                e.append(sorted((k, os.getxattr(p, k)) for k in
                                os.listxattr(p)))
            out[rel] = e
    st = os.lstat(root)
    out["."] = [stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid]
    return out


def leftovers(tmp):
    """Loop devices and mounts that name our folder."""
    lo = subprocess.run(["losetup", "-a"], capture_output=True,
                        text=True).stdout
    with open("/proc/mounts") as f:
        mounts = f.read()
    return [x for x in lo.splitlines() + mounts.splitlines() if tmp in x]


def settled_leftovers(tmp):
    # The kernel may detach an autoclear loop device just after umount.
    for _ in range(20):
        left = leftovers(tmp)
        if not left:
            return []
        time.sleep(0.25)
    return left


class Mounted:
    """The image's partition mounted read-only (autoclear loop)."""

    def __init__(self, img, where):
        self.img, self.where = img, where

    def __enter__(self):
        os.makedirs(self.where, exist_ok=True)
        subprocess.run(["mount", "-t", "ext4", "-o",
                        "ro,loop,offset=%d" % OFF, self.img, self.where],
                       check=True)
        return self.where

    def __exit__(self, *a):
        subprocess.run(["umount", self.where], check=False)


def check_image(tmp, img, tree, want, name):
    with open(img, "rb") as f:
        s0 = f.read(512)
        f.seek(OFF)
        vbr = f.read(512)
    size = os.path.getsize(img)
    e = s0[446:462]
    check(s0[510:512] == b"\x55\xaa" and e[0] == 0x80 and e[4] == 0x83 and
          int.from_bytes(e[8:12], "little") == 2048 and
          int.from_bytes(e[12:16], "little") == size // 512 - 2048 and
          s0[462:510] == bytes(48),
          "%s: MBR has one bootable Linux partition, 2048 to the end" % name)
    check(s0[440:444] != bytes(4), "%s: disk signature set" % name)
    with open(MBR_BIN, "rb") as f:
        check(s0[:440] == f.read(440), "%s: syslinux MBR code" % name)
    check(vbr[510:512] == b"\x55\xaa" and (b"SYSLINUX" in vbr or
                                            b"EXTLINUX" in vbr),
          "%s: extlinux boot sector at the partition start" % name)
    p = subprocess.run(["e2fsck", "-fn", "%s?offset=%d" % (img, OFF)],
                       capture_output=True, text=True)
    check(p.returncode == 0, "%s: e2fsck -fn clean (%s)" % (
        name, (p.stdout + p.stderr).strip().splitlines()[-1:]))
    p = subprocess.run(["blkid", "-p", "-O", str(OFF), "-o", "export", img],
                       capture_output=True, text=True)
    tags = dict(x.split("=", 1) for x in p.stdout.split() if "=" in x)
    runs, index, bsize = boot_file_extents(img, "/boot/vmlinuz-" + KVER)
    blocks = -(-os.path.getsize(os.path.join(tree, "boot/vmlinuz-" + KVER))
               // bsize)
    check(not index and runs and runs[0][0] == 0 and
          runs[-1][1] == blocks - 1 and
          all(b[0] == a[1] + 1 for a, b in zip(runs, runs[1:])),
          "%s: the kernel has no holes and its extents fit in the inode, "
          "as extlinux needs (%s%s)" % (name, runs[:6],
                                        " + index" if index else ""))
    check(tags.get("TYPE") == "ext4" and tags.get("LABEL") == "ibroot" and
          tags.get("UUID") == UUID, "%s: ext4, label and UUID (%s)" % (
              name, tags))
    with Mounted(img, os.path.join(tmp, "ro-" + name)) as mnt:
        got = describe(mnt, skip=("lost+found", "boot/extlinux"))
        diff = sorted(k for k in set(got) | set(want)
                      if got.get(k) != want.get(k))
        check(not diff, "%s: the tree round-trips (differs: %s)" % (
            name, [(k, want.get(k), got.get(k)) for k in diff][:4]))
        ext = os.path.join(mnt, "boot/extlinux")
        check(os.path.isfile(os.path.join(ext, "ldlinux.sys")) and
              os.path.isfile(os.path.join(ext, "ldlinux.c32")),
              "%s: extlinux installed (ldlinux.sys)" % name)
        with open(os.path.join(ext, "extlinux.conf")) as f:
            conf = f.read()
        check("LINUX /boot/vmlinuz-%s" % KVER in conf and
              "INITRD /boot/initrd.img-%s" % KVER in conf and
              "APPEND root=UUID=%s ro" % UUID in conf,
              "%s: extlinux.conf names the kernel, initrd and root" % name)
    check(not settled_leftovers(tmp), "%s: nothing left mounted or "
          "attached (%s)" % (name, leftovers(tmp)))
    return e


def main():
    if not os.access(IB, os.X_OK):
        print("ib-build is not built (%s): run make" % IB)
        return 77
    if os.geteuid() != 0 or not os.path.exists("/dev/loop-control"):
        print("needs root and loop devices")
        return 77
    for tool in ("mke2fs", "e2fsck", "blkid", "extlinux", "setfacl",
                 "unshare", "losetup"):
        if shutil.which(tool) is None:
            print("%s is not installed (make deps)" % tool)
            return 77
    if not os.path.exists(MBR_BIN):
        print("syslinux-common is not installed (make deps)")
        return 77
    # A read-only loop mount with an offset must work here.
    tmp = tempfile.mkdtemp(prefix="t_builder_disk.")
    probe = os.path.join(tmp, "probe")
    with open(probe, "wb") as f:
        f.truncate(OFF + (8 << 20))
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-E", "offset=%d" % OFF,
                    probe, "8M"], capture_output=True)
    try:
        with Mounted(probe, os.path.join(tmp, "probe.d")):
            pass
    except subprocess.CalledProcessError:
        shutil.rmtree(tmp, ignore_errors=True)
        print("loop mounts with an offset do not work here")
        return 77
    os.environ.setdefault("LIBGUESTFS_BACKEND", "direct")
    os.environ.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
    os.environ.pop("IB_BUILD_DISK_BACKEND", None)
    try:
        return body(tmp)
    finally:
        for x in leftovers(tmp):
            print("# left: " + x)
        shutil.rmtree(tmp, ignore_errors=True)


HOST_GRUB_EFI = "/usr/lib/grub/x86_64-efi"
GPTMBR = "/usr/lib/syslinux/mbr/gptmbr.bin"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"


def partition_table(img):
    """sfdisk's view of the image's partition table, {} without one."""
    p = subprocess.run(["sfdisk", "--json", img], capture_output=True,
                       text=True)
    return json.loads(p.stdout)["partitiontable"] if p.returncode == 0 \
        else {}


def gpt_checks(tmp, store, fails):
    """io.ib.disk with boot_mode hybrid and uefi on a small tree given the
    host's GRUB EFI modules (as grub-efi-amd64-bin puts them in an image):
    the GPT, the ESP's files, the root file system at its offset, the boot
    code; then the failures: no modules, a module that is a symlink, the
    libguestfs backend."""
    def gpt_tree(opts, host, modules=True):
        mm = manifest(dict({"size": "320M"}, **opts))
        mm["pipelines"][0]["stages"].append(stage(
            "org.osbuild.hostname", {"hostname": host}))
        t = tree_object(store, mm)
        if modules:
            shutil.copytree(HOST_GRUB_EFI, t + HOST_GRUB_EFI)
        return mm, t

    for mode in ("hybrid", "uefi"):
        mm, t = gpt_tree({"boot_mode": mode}, "gpt-" + mode)
        out = os.path.join(tmp, "out-" + mode)
        start = time.monotonic()
        rc, res, output, err = build(mm, store, out)
        print("# %s disk stage: %.1f s" % (mode, time.monotonic() - start))
        check(rc == 0 and "disk backend: direct" in output,
              "%s: built (%s)" % (mode, (output or err)[-1500:]))
        if rc != 0:
            continue
        img = os.path.join(out, "image", "disk.raw")
        pt = partition_table(img)
        parts = pt.get("partitions", [])
        check(pt.get("label") == "gpt" and len(parts) == 2 and
              parts[0]["type"] == ESP_TYPE and parts[0]["start"] == 2048 and
              parts[0]["size"] == 200 * 2048 and
              parts[1]["type"] == ROOT_TYPE and
              parts[1]["start"] == 201 * 2048 and
              ("LegacyBIOSBootable" in parts[1].get("attrs", "")) ==
              (mode == "hybrid") and
              parts[1]["start"] + parts[1]["size"] == (320 - 1) * 2048,
              "%s: GPT with the 200 MiB ESP, then the root to the last "
              "MiB, legacy BIOS bootable for hybrid only (%s)" %
              (mode, parts))
        v = subprocess.run(["sfdisk", "--verify", img], capture_output=True,
                           text=True)
        check(v.returncode == 0 and "No errors detected" in v.stdout,
              "%s: sfdisk --verify (%s)" % (mode, v.stdout.strip()))
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
        esp = "%s@@%d" % (img, 2048 * 512)
        ls = subprocess.run(["mdir", "-b", "-i", esp, "::/EFI/BOOT"],
                            capture_output=True, text=True, env=env)
        cfg = subprocess.run(["mtype", "-i", esp, "::/EFI/BOOT/grub.cfg"],
                             capture_output=True, text=True, env=env)
        efi = subprocess.run(["mtype", "-i", esp, "::/EFI/BOOT/BOOTX64.EFI"],
                             capture_output=True, env=env)
        check(sorted(os.path.basename(x) for x in ls.stdout.split()) ==
              ["BOOTX64.EFI", "grub.cfg"] and efi.stdout[:2] == b"MZ",
              "%s: the ESP holds a PE BOOTX64.EFI and grub.cfg (%s)" %
              (mode, ls.stdout + ls.stderr))
        check("search --no-floppy --set=root --fs-uuid %s" % UUID in
              cfg.stdout and "linux /boot/vmlinuz-%s root=UUID=%s" %
              (KVER, UUID) in cfg.stdout and
              "initrd /boot/initrd.img-" + KVER in cfg.stdout,
              "%s: grub.cfg finds the root by UUID and boots its kernel "
              "(%s)" % (mode, cfg.stdout))
        p = subprocess.run(["e2fsck", "-fn", "%s?offset=%d" %
                            (img, 201 * MIB)], capture_output=True)
        check(p.returncode == 0, "%s: the root e2fsck clean" % mode)
        with open(img, "rb") as f:
            code = f.read(440)
        with open(GPTMBR, "rb") as f:
            gptmbr = f.read(440)
        if mode == "hybrid":
            check(code == gptmbr, "hybrid: gptmbr.bin in sector 0")
            d = subprocess.run(["debugfs", "-R", "stat /boot/extlinux/"
                                "ldlinux.sys", "%s?offset=%d" %
                                (img, 201 * MIB)], capture_output=True)
            check(d.returncode == 0 and b"Inode:" in d.stdout,
                  "hybrid: extlinux installed on the root")
        else:
            check(code == bytes(440), "uefi: no BIOS boot code")
        shutil.rmtree(out)

    # bootloader none: an empty ESP of esp_size (the smallest FAT32
    # size here), the root right after it; no loop device needed.
    mm, t = gpt_tree({"boot_mode": "uefi", "bootloader": "none",
                      "esp_size": "33M"}, "gpt-none", modules=False)
    out = os.path.join(tmp, "out-gn")
    rc, res, output, err = build(mm, store, out)
    img = os.path.join(out, "image", "disk.raw")
    parts = partition_table(img).get("partitions", [])
    ls = subprocess.run(["mdir", "-b", "-i", "%s@@%d" % (img, 1 << 20),
                         "::/"], capture_output=True, text=True,
                        env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
    check(rc == 0 and len(parts) == 2 and parts[0]["size"] == 33 * 2048 and
          parts[1]["start"] == 34 * 2048 and ls.returncode == 0 and
          ls.stdout.strip() == "" and "ESP (empty)" in output,
          "uefi, bootloader none: a 33 MiB empty FAT32 ESP, then the root "
          "(%s %s %s)" % (parts, ls.stdout + ls.stderr, (output or
                                                         err)[-600:]))
    shutil.rmtree(out, ignore_errors=True)

    # legacy on a GPT: no ESP, extlinux behind gptmbr.bin.
    mm, t = gpt_tree({"partition_table": "gpt"}, "gpt-legacy",
                     modules=False)
    out = os.path.join(tmp, "out-gl")
    rc, res, output, err = build(mm, store, out)
    img = os.path.join(out, "image", "disk.raw")
    parts = partition_table(img).get("partitions", [])
    e2 = subprocess.run(["e2fsck", "-fn", "%s?offset=%d" % (img, MIB)],
                        capture_output=True)
    with open(img, "rb") as f:
        code = f.read(440)
    with open(GPTMBR, "rb") as f:
        gptmbr = f.read(440)
    check(rc == 0 and len(parts) == 1 and parts[0]["start"] == 2048 and
          parts[0]["type"] == ROOT_TYPE and
          parts[0].get("attrs") == "LegacyBIOSBootable" and
          e2.returncode == 0 and code == gptmbr,
          "legacy on a GPT: one root partition at 1 MiB, legacy BIOS "
          "bootable, gptmbr.bin, e2fsck clean (%s %s)" %
          (parts, (output or err)[-600:]))
    # Inodes sized to the tree (twice its entries, 64 KiB per inode at
    # most), not mke2fs's "small" type for a 319 MiB file system (4 KiB).
    entries = sum(len(d) + len(f) for _, d, f in os.walk(t)) + 1
    h = subprocess.run(["dumpe2fs", "-h", "%s?offset=%d" % (img, MIB)],
                       capture_output=True, text=True).stdout
    m = re.search(r"^Inode count:\s+(\d+)", h, re.M)
    inodes = int(m.group(1)) if m else 0
    check(2 * entries <= inodes <= (319 << 20) // 65536 + 1024,
          "inodes sized to the tree: %d for %d entries" % (inodes, entries))
    shutil.rmtree(out, ignore_errors=True)

    # secure_boot: shim and the signed GRUB from the tree, not made.
    shim = "/usr/lib/shim/shimx64.efi.signed"
    sgrub = "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
    mm, t = gpt_tree({"boot_mode": "uefi", "secure_boot": True}, "gpt-sb",
                     modules=False)
    for path, data in ((shim, b"MZ shim"), (sgrub, b"MZ signed grub")):
        os.makedirs(os.path.dirname(t + path), exist_ok=True)
        with open(t + path, "wb") as f:
            f.write(data)
    out = os.path.join(tmp, "out-sb")
    rc, res, output, err = build(mm, store, out)
    img = os.path.join(out, "image", "disk.raw")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")

    def esp_read(path):
        p = subprocess.run(["mtype", "-i", "%s@@%d" % (img, 2048 * 512),
                            "::" + path], capture_output=True, env=env)
        return p.stdout if p.returncode == 0 else None
    check(rc == 0 and esp_read("/EFI/BOOT/BOOTX64.EFI") == b"MZ shim" and
          esp_read("/EFI/BOOT/grubx64.efi") == b"MZ signed grub" and
          esp_read("/EFI/BOOT/grub.cfg") is not None and
          esp_read("/EFI/debian/grub.cfg") == esp_read("/EFI/BOOT/grub.cfg")
          and esp_read("/EFI/BOOT/mmx64.efi") is None,
          "secure_boot: shim as BOOTX64.EFI, the signed GRUB beside it, "
          "grub.cfg in /EFI/BOOT and /EFI/debian (%s)" %
          (output or err)[-800:])
    shutil.rmtree(out, ignore_errors=True)
    # /usr/lib/shim a symlink to a host folder holding a shim: not read.
    mm, t = gpt_tree({"boot_mode": "uefi", "secure_boot": True},
                     "gpt-sb-sym", modules=False)
    hshim = os.path.join(tmp, "host-shim")
    os.makedirs(hshim)
    with open(os.path.join(hshim, "shimx64.efi.signed"), "wb") as f:
        f.write(b"MZ host")
    os.makedirs(t + "/usr/lib")
    os.symlink(hshim, t + "/usr/lib/shim")
    fails(mm, "secure_boot with /usr/lib/shim a symlink to the host",
          "install shim-signed and grub-efi-amd64-signed")
    # A fifo where the shim should be: refused, the build does not hang.
    mm, t = gpt_tree({"boot_mode": "uefi", "secure_boot": True},
                     "gpt-sb-fifo", modules=False)
    os.makedirs(t + "/usr/lib/shim")
    os.mkfifo(t + shim)
    fails(mm, "secure_boot with a fifo for shim", "not a regular file")

    mm, _ = gpt_tree({"boot_mode": "uefi"}, "gpt-nomods", modules=False)
    fails(mm, "uefi without GRUB's EFI modules", "install "
          "grub-efi-amd64-bin in the image")
    # A module that is a symlink to a host file is not read through.
    mm, t = gpt_tree({"boot_mode": "uefi"}, "gpt-symmod")
    os.unlink(t + HOST_GRUB_EFI + "/normal.mod")
    os.symlink(HOST_GRUB_EFI + "/normal.mod",
               t + HOST_GRUB_EFI + "/normal.mod")
    fails(mm, "a GRUB module that is a symlink", "grub-mkimage failed")
    o = os.path.join(tmp, "out-gg")
    mm, _ = gpt_tree({"boot_mode": "uefi"}, "gpt-guestfs")
    rc, res, output, err = build(mm, store, o,
                                 {"IB_BUILD_DISK_BACKEND": "libguestfs"})
    check(rc == 1 and "made by the direct backend only" in output,
          "libguestfs backend: a GPT is a clear stage error (%s)" %
          output[-300:])
    shutil.rmtree(o, ignore_errors=True)


def body(tmp):
    store = os.path.join(tmp, "store")
    m = manifest({})
    t = tree_object(store, m)
    enrich(t)
    want = describe(t)
    want["boot"][4] += 1        # extlinux/ in it: one more link

    # --- direct (the default here: root, loop-control) ---
    out = os.path.join(tmp, "out")
    start = time.monotonic()
    rc, res, output, err = build(m, store, out)
    secs = time.monotonic() - start
    check(rc == 0, "direct build succeeds (%s)" % (output or err)[-1500:])
    check("disk backend: direct" in output, "stage output says direct")
    print("# direct disk stage: %.1f s" % secs)
    img = os.path.join(out, "image", "disk.raw")
    if rc == 0:
        entry = check_image(tmp, img, t, want, "direct")
        # The kernel's blocks as mke2fs -d wrote them, before /boot was
        # rewritten densely, are discarded: one copy of it in the disk.
        with open(img, "rb") as f:
            copies = f.read().count(b"k0000255" * 512) // 2
        check(copies == 1, "direct: the blocks /boot had before its "
              "rewrite are holes (%d copies of the kernel)" % copies)
        # Only what extlinux cannot read is rewritten: the kernel with
        # holes, not the initrd of one block (nor, so, a Debian kernel
        # and initrd, one extent each).
        check("/boot/vmlinuz-%s rewritten densely" % KVER in output and
              "/boot/initrd.img-%s rewritten" % KVER not in output,
              "direct: only the /boot file with holes is rewritten (%s)" %
              [x for x in output.splitlines() if "rewritten" in x])

    # --- mke2fs and extlinux run without their syncs (which only wait
    # for the scratch image to reach the disk): probes in PATH before
    # the real tools record whether fsync is skipped for them ---
    probe = os.path.join(tmp, "sync-probe")
    os.makedirs(probe)
    plog = os.path.join(tmp, "sync-probe.log")
    for tool in ("mke2fs", "extlinux"):
        with open(os.path.join(probe, tool), "w") as f:
            f.write("#!/bin/sh\n"
                    "python3 -c 'import os\n"
                    "r, w = os.pipe()\n"
                    "try:\n"
                    "    os.fsync(w)\n"      # EINVAL on a pipe, if it runs
                    "    print(\"%s skipped\")\n"
                    "except OSError:\n"
                    "    print(\"%s real\")' >>%s\n"
                    "exec %s \"$@\"\n" % (tool, tool, plog,
                                           shutil.which(tool)))
        os.chmod(os.path.join(probe, tool), 0o755)
    out = os.path.join(tmp, "out-p")
    rc, res, output, err = build(
        manifest({"kernel_opts": "probe"}), store, out,
        {"PATH": probe + ":" + os.environ["PATH"]})
    seen = open(plog).read().split("\n") if os.path.exists(plog) else []
    check(rc == 0 and "mke2fs skipped" in seen and
          "extlinux skipped" in seen and not any("real" in x for x in seen),
          "mke2fs and extlinux run with fsync skipped (%s %s)" %
          (seen, (output or err)[-600:]))
    if rc == 0:
        check_image(tmp, os.path.join(out, "image", "disk.raw"), t, want,
                    "direct, syncs skipped")
    shutil.rmtree(out)

    # --- the same with libguestfs, forced: the same layout ---
    out = os.path.join(tmp, "out-g")
    mg = manifest({"kernel_opts": "quiet"})  # another id: not from store
    mg["pipelines"][0] = m["pipelines"][0]
    start = time.monotonic()
    rc, res, output, err = build(mg, store, out,
                                 {"IB_BUILD_DISK_BACKEND": "libguestfs"})
    print("# libguestfs disk stage: %.1f s" % (time.monotonic() - start))
    check(rc == 0 and "disk backend: libguestfs" in output and
          "disk backend: direct" not in output,
          "IB_BUILD_DISK_BACKEND=libguestfs is used (%s)" %
          (output or err)[-1500:])
    if rc == 0:
        eg = check_image(tmp, os.path.join(out, "image", "disk.raw"), t,
                         want, "libguestfs")
        # CHS fields follow each tool's idea of the geometry (the
        # appliance's virtual disk, 255/63 here); LBA is what boots.
        def lba(x):
            return (x[0], x[4], x[8:16])
        check(lba(eg) == lba(entry), "both backends write the same "
              "partition (flag, type, LBA start and count: %s, %s)" % (
                  entry.hex(), eg.hex()))
    shutil.rmtree(out)

    # --- bootloader none: no loop device at all ---
    out = os.path.join(tmp, "out-n")
    rc, res, output, err = build(manifest({"bootloader": "none"}), store,
                                 out)
    img = os.path.join(out, "image", "disk.raw")
    check(rc == 0 and "disk backend: direct" in output,
          "bootloader none: direct (%s)" % (output or err)[-800:])
    if rc == 0:
        with open(img, "rb") as f:
            s0 = f.read(512)
        check(s0[:440] == bytes(440) and s0[446] == 0x80,
              "bootloader none: no boot code, partition still bootable")
        p = subprocess.run(["e2fsck", "-fn", "%s?offset=%d" % (img, OFF)],
                           capture_output=True)
        check(p.returncode == 0, "bootloader none: e2fsck clean")
    shutil.rmtree(out)

    # --- failures: a clear stage error, no image, nothing left ---
    def fails(mm, what, expect, env=None):
        o = os.path.join(tmp, "out-f")
        rc, res, output, err = build(mm, store, o, env)
        check(rc == 1 and res and res["type"] == "error" and
              expect in output and "disk backend: direct" in output,
              "%s: stage error saying '%s' (%s)" % (what, expect,
                                                    output[-600:]))
        check(not os.path.exists(os.path.join(o, "image", "disk.raw")),
              "%s: no image left" % what)
        check(not settled_leftovers(tmp), "%s: nothing left mounted or "
              "attached (%s)" % (what, leftovers(tmp)))
        shutil.rmtree(o, ignore_errors=True)
        return output

    fails(manifest({"size": "16M"}), "size smaller than the tree",
          "is too small for a tree of")
    # Trees of their own (another hostname), changed in the store.
    def own_tree(opts, host):
        mm = manifest(opts)
        mm["pipelines"][0]["stages"].append(stage(
            "org.osbuild.hostname", {"hostname": host}))
        return mm, tree_object(store, mm)

    mi, ti = own_tree({"size": "80M"}, "many")
    os.makedirs(os.path.join(ti, "srv/many"))
    for i in range(24000):
        open(os.path.join(ti, "srv/many/f%05d" % i), "w").close()
    fails(mi, "more files than inodes", "mke2fs failed")
    ms, ts = own_tree({"label": "ibsym"}, "sym")
    # An absolute symlink naming a folder of the host: written through
    # on the host, it would land there.
    host = os.path.join(tmp, "host-dir")
    os.makedirs(host)
    os.symlink(host, os.path.join(ts, "boot/extlinux"))
    fails(ms, "/boot/extlinux a symlink", "is not a directory")
    check(os.listdir(host) == [],
          "nothing written through the image's symlink on the host")

    # --- GPT: hybrid (ESP with GRUB + extlinux/gptmbr) and uefi ---
    if os.path.isdir(HOST_GRUB_EFI):
        gpt_checks(tmp, store, fails)
    else:
        print("# skipping the GPT checks: no %s (grub-efi-amd64-bin)" %
              HOST_GRUB_EFI)

    # --- auto with loop devices that do not work: libguestfs once ---
    # A private /dev where loop-control is a plain file: mount -o loop
    # fails, as in a container.
    fake = ("set -eu; d=$1; shift; mkdir \"$d\"; "
            "mount -t tmpfs tmpfs \"$d\"; "
            "for n in null zero full random urandom kvm tty; do "
            "[ -e /dev/$n ] || continue; touch \"$d/$n\"; "
            "mount --bind /dev/$n \"$d/$n\"; done; "
            "touch \"$d/loop-control\"; mount --rbind \"$d\" /dev; "
            "exec \"$@\"")
    out = os.path.join(tmp, "out-fb")
    rc, res, output, err = build(
        manifest({"kernel_opts": "fallback"}), store, out, wrap=(
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            fake, "sh", os.path.join(tmp, "fakedev")))
    check(rc == 0 and "disk backend: direct" in output and
          "loop devices do not work here: falling back to libguestfs"
          in output and "disk backend: libguestfs" in output,
          "auto falls back to libguestfs when the loop mount fails (%s)" %
          (output or err)[-1500:])
    check(not settled_leftovers(tmp), "fallback: nothing left (%s)" %
          leftovers(tmp))

    print("%d checks failed" % len(FAILS) if FAILS else "all checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
