#!/usr/bin/python3
# ib-build's UEFI and hybrid disks end to end (SLOW: about 8 minutes; needs
# root, the Debian mirror of /etc/apt/sources.list and Debian's ovmf):
# pins a small Debian 12 set with grub-efi-amd64-bin (mkmanifest.py),
# builds a hybrid image (GPT: ESP with GRUB's EFI build + root with the
# legacy BIOS bootable attribute, gptmbr.bin and extlinux), checks its
# partition table and ESP, boots it under SeaBIOS and under OVMF to the
# marker unit of t_builder_boot, then a UEFI-only image from the same
# stored tree, booted under OVMF, and one with secure_boot (the image's
# shim-signed and grub-efi-amd64-signed), booted with Secure Boot on. A second unit says which firmware booted
# (/sys/firmware/efi), so a fallback to the other path cannot pass.
# Slow parts: the cold build (~2-4 min) and four TCG boots (~0.5-1 min
# each).
# check: serial (a whole build and four TCG boots: both cores, minutes)
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import t_builder_boot as tb  # noqa: E402  (build, gen, boot, check)

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS.fd"
# Secure Boot: the SMM build, variables with Microsoft's keys enrolled
# (shim is signed by Microsoft's UEFI CA).
OVMF_SB_CODE = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
OVMF_SB_VARS = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
GPTMBR = "/usr/lib/syslinux/mbr/gptmbr.bin"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
MIB = 1 << 20

FIRMWARE_UNIT = """[Unit]
Description=ib-build test: say which firmware booted the image
After=local-fs.target
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'if [ -d /sys/firmware/efi ]; then f=uefi; else \
f=bios; fi; echo IB-FIRMWARE $f $(cat /etc/hostname) >/dev/ttyS0'

[Install]
WantedBy=multi-user.target
"""

check = tb.check
log = tb.log


def main():
    if os.geteuid() != 0:
        print("needs root (mmdebstrap in root mode, chroot)")
        return 77
    for tool in ("mmdebstrap", "qemu-system-x86_64", "dpkg-scanpackages",
                 "unshare", "grub-mkimage", "mkfs.fat", "mcopy", "sfdisk"):
        if shutil.which(tool) is None:
            print("%s is not installed (make deps)" % tool)
            return 77
    for f in (OVMF_CODE, OVMF_VARS, OVMF_SB_CODE, OVMF_SB_VARS, GPTMBR):
        if not os.path.exists(f):
            print("%s is missing (ci/deps.sh: ovmf, syslinux-common)" % f)
            return 77
    if not os.access(tb.IB, os.X_OK):
        print("ib-build is not built: run make")
        return 77
    req = tb.pinned_request(["--formats", "", "--hostname", "ib-uefi-1",
                             "--extra", "grub-efi-amd64-bin,shim-signed,"
                             "grub-efi-amd64-signed"])
    if req is None:
        return 77
    c = req["customizations"]
    c["files"].append({"path": "/etc/systemd/system/ib-firmware.service",
                       "data": FIRMWARE_UNIT, "mode": "0644"})
    c["services"]["enabled"].append("ib-firmware.service")
    tmp = tempfile.mkdtemp(prefix="t_builder_uefi.", dir=tb.BDIR)
    try:
        return body(tmp, req)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def partitions(raw):
    p = subprocess.run(["sfdisk", "--json", raw], capture_output=True,
                       text=True)
    return json.loads(p.stdout)["partitiontable"] if p.returncode == 0 \
        else {}


def esp_files(raw, start):
    """The ESP's /EFI/BOOT listing, through mtools at the offset."""
    p = subprocess.run(["mdir", "-b", "-i", "%s@@%d" % (raw, start),
                        "::/EFI/BOOT"], capture_output=True, text=True,
                       env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
    return sorted(os.path.basename(x.strip()) for x in
                  p.stdout.splitlines() if x.strip())


def boot(tmp, raw, name, firmware):
    """Boots raw under SeaBIOS (firmware "bios"), OVMF ("uefi") or OVMF
    with Secure Boot enforced ("secureboot": q35 with SMM, Microsoft's
    keys), each with a fresh copy of its variable store, until the boot
    marker and the line naming the firmware are on the serial console
    (and, with Secure Boot, the kernel's word that it is on)."""
    args = []
    expect = ["IB-BOOT-MARKER ib-uefi-1",
              "IB-FIRMWARE %s ib-uefi-1" % ("bios" if firmware == "bios"
                                            else "uefi")]
    code, vars_ = {"uefi": (OVMF_CODE, OVMF_VARS),
                   "secureboot": (OVMF_SB_CODE, OVMF_SB_VARS)}.get(
                       firmware, (None, None))
    if code:
        vars_copy = os.path.join(tmp, "%s-%s.vars.fd" % (name, firmware))
        shutil.copyfile(vars_, vars_copy)
        args = ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" +
                code, "-drive", "if=pflash,format=raw,unit=1,file=" +
                vars_copy]
    if firmware == "secureboot":
        args += ["-machine", "q35,smm=on", "-global",
                 "driver=cfi.pflash01,property=secure,value=on"]
        expect.append("Secure boot enabled")
    fw = {"bios": "SeaBIOS", "uefi": "OVMF",
          "secureboot": "OVMF with Secure Boot"}[firmware]
    log("SLOW: booting the %s image under %s" % (name, fw))
    seen, secs = tb.boot(raw, expect, fmt="raw", firmware=args,
                         serial=os.path.join(tmp, "%s-%s.serial" %
                                             (name, firmware)))
    check(seen, "%s image boots under %s to the marker (%.0f s)" %
          (name, fw, secs))


def check_gpt(raw, hybrid):
    pt = partitions(raw)
    parts = pt.get("partitions", [])
    check(pt.get("label") == "gpt" and len(parts) == 2,
          "a GPT with two partitions (%s)" % pt.get("label"))
    if len(parts) != 2:
        return None
    esp, root = parts
    check(esp["type"] == ESP_TYPE and esp["start"] == 2048 and
          esp["size"] * 512 == 200 * MIB,
          "the first partition is a 200 MiB ESP at 1 MiB")
    check(root["type"] == ROOT_TYPE and
          ("LegacyBIOSBootable" in root.get("attrs", "")) == hybrid,
          "the second is an x86-64 root, legacy BIOS bootable: %s" % hybrid)
    v = subprocess.run(["sfdisk", "--verify", raw], capture_output=True,
                       text=True)
    check(v.returncode == 0 and "No errors detected" in v.stdout,
          "sfdisk --verify finds no error in the GPT: " +
          v.stdout.strip().replace("\n", " | "))
    files = esp_files(raw, 2048 * 512)
    check(files == ["BOOTX64.EFI", "grub.cfg"],
          "the ESP holds /EFI/BOOT/BOOTX64.EFI and grub.cfg (%s)" % files)
    with open(raw, "rb") as f:
        code = f.read(440)
    with open(GPTMBR, "rb") as f:
        gptmbr = f.read(440)
    if hybrid:
        check(code == gptmbr, "hybrid: syslinux's gptmbr.bin in sector 0")
    else:
        check(code == bytes(440), "uefi: no BIOS boot code in sector 0")
    return parts


def body(tmp, req):
    store = os.path.join(tmp, "store")
    req["image"]["boot_mode"] = "hybrid"
    manifest = tb.gen(req)
    disk = [s for p in manifest["pipelines"] if p["name"] == "image"
            for s in p["stages"]][0]
    check(disk["options"].get("boot_mode") == "hybrid" and
          disk["options"].get("partition_table") == "gpt",
          "manifest-gen passes boot_mode hybrid and a GPT to io.ib.disk")

    log("SLOW: cold build of the hybrid image")
    out = os.path.join(tmp, "out1")
    rc, res, mon, err, secs, (dl, ran) = tb.build(manifest, store, out,
                                                  ["image"])
    log("cold build: %.0f s, %d bytes downloaded, %d stages" %
        (secs, dl, ran))
    check(rc == 0 and res and res.get("success"),
          "hybrid build succeeds%s" % ("" if rc == 0 else ": " + err[-3000:]))
    if rc != 0:
        if res:
            print(json.dumps(res)[-4000:])
        return 1
    raw = os.path.join(out, "image", "disk.raw")
    check_gpt(raw, True)

    boot(tmp, raw, "hybrid", "bios")
    boot(tmp, raw, "hybrid", "uefi")

    req["image"]["boot_mode"] = "uefi"
    out = os.path.join(tmp, "out2")
    rc, res, mon, err, secs, (dl, ran) = tb.build(tb.gen(req), store, out,
                                                  ["image"])
    check(rc == 0 and dl == 0 and ran == 1,
          "the UEFI image reuses the stored tree: one stage (%d, %.0f s)%s" %
          (ran, secs, "" if rc == 0 else ": " + err[-3000:]))
    if rc != 0:
        return 1
    raw = os.path.join(out, "image", "disk.raw")
    check_gpt(raw, False)
    boot(tmp, raw, "UEFI", "uefi")

    # Secure Boot: shim and the signed GRUB of the image, enforced.
    req["image"]["secure_boot"] = True
    out = os.path.join(tmp, "out3")
    rc, res, mon, err, secs, (dl, ran) = tb.build(tb.gen(req), store, out,
                                                  ["image"])
    check(rc == 0 and ran == 1, "the Secure Boot image: one stage "
          "(%d, %.0f s)%s" % (ran, secs, "" if rc == 0 else
                              ": " + err[-3000:]))
    if rc != 0:
        return 1
    raw = os.path.join(out, "image", "disk.raw")
    files = esp_files(raw, 2048 * 512)
    check(files == ["BOOTX64.EFI", "grub.cfg", "grubx64.efi", "mmx64.efi"],
          "secure_boot: shim, the signed GRUB and MokManager on the ESP "
          "(%s)" % files)
    boot(tmp, raw, "Secure Boot", "secureboot")
    print("%d checks failed" % len(tb.FAILS) if tb.FAILS else
          "all checks passed")
    return 1 if tb.FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
