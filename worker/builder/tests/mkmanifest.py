#!/usr/bin/python3
# Test harness: pins a small bootable Debian 12 package set from the
# Debian mirror this machine's apt uses (closure computed by apt against an
# empty status file, each .deb's URL and SHA256 from the Packages index)
# and writes a manifest-gen request for it: the depsolve result, the
# customizations (a marker unit that prints IB-BOOT-MARKER on the serial
# console) and the image options. Feed the output to manifest-gen.
#
# usage: mkmanifest.py [--formats qcow2,raw,...] [--hostname H]
#                      [--extra pkg,pkg] > request.json
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

BASE = ["systemd-sysv", "udev", "linux-image-amd64"]
# Not needed to boot to the marker; left out to keep the image small.
SKIP = {"apt"}
ROOT_UUID = "6e1f2ff1-34c8-4b6b-9d0e-1b1d2c3e4f50"

MARKER_UNIT = """[Unit]
Description=ib-build test: say the image booted
After=local-fs.target
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo IB-BOOT-MARKER $(cat /etc/hostname) >/dev/ttyS0'

[Install]
WantedBy=multi-user.target
"""

# Only the drivers a qemu guest needs go into the initramfs: it is built in
# seconds instead of a minute.
INITRAMFS_CONF = "MODULES=list\nCOMPRESS=gzip\n"
INITRAMFS_MODULES = """virtio_pci
virtio_blk
virtio_scsi
sd_mod
ata_piix
ahci
ext4
crc32c_generic
"""

DPKG_OPTS = [
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/doc/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/lib/firmware/*",
] + ["path-exclude=/lib/modules/*/kernel/%s/*" % d for d in (
    "drivers/gpu", "drivers/media", "drivers/net/wireless",
    "drivers/net/ethernet", "drivers/infiniband", "drivers/staging",
    "drivers/usb", "drivers/bluetooth", "drivers/isdn", "drivers/iio",
    "drivers/hid", "drivers/input/touchscreen", "drivers/mtd",
    "drivers/net/can", "sound", "net/wireless", "net/mac80211",
    "net/bluetooth")]


def run(argv):
    return subprocess.run(argv, check=True, capture_output=True,
                          text=True).stdout


def required_packages():
    names = set()
    for f in glob.glob("/var/lib/apt/lists/*_dists_bookworm_main_"
                       "binary-amd64_Packages*"):
        text = run(["/usr/lib/apt/apt-helper", "cat-file", f])
        for stanza in text.split("\n\n"):
            m = re.search(r"^Package: (\S+)", stanza, re.M)
            if m and (re.search(r"^Priority: required", stanza, re.M) or
                      re.search(r"^Essential: yes", stanza, re.M)):
                names.add(m.group(1))
    if not names:
        sys.exit("mkmanifest: no bookworm Packages index under "
                 "/var/lib/apt/lists (apt-get update)")
    return sorted(names - SKIP)


def closure(wanted):
    with tempfile.NamedTemporaryFile() as empty:
        out = run(["apt-get", "-s", "-o", "Dir::State::status=" + empty.name,
                   "-o", "APT::Install-Recommends=false", "install"] +
                  wanted)
    pkgs = []
    for line in out.splitlines():
        m = re.match(r"^Inst (\S+) \((\S+) ", line)
        if m:
            pkgs.append((m.group(1), m.group(2)))
    return pkgs


def pin(pkgs):
    out = run(["apt-get", "download", "--print-uris"] +
              ["%s=%s" % p for p in pkgs])
    specs = []
    names = dict(pkgs)
    for line in out.splitlines():
        m = re.match(r"^'(\S+)' (\S+) (\d+) SHA256:([0-9a-f]{64})$", line)
        if not m:
            continue
        url, fname = m.group(1), m.group(2)
        name = fname.split("_")[0]
        specs.append({"name": name, "version": names.get(name, ""),
                      "arch": fname.rsplit("_", 1)[-1].split(".")[0],
                      "checksum": "sha256:" + m.group(4),
                      "remote_location": url})
    if len(specs) != len(pkgs):
        sys.exit("mkmanifest: %d packages but %d URLs" %
                 (len(pkgs), len(specs)))
    return specs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--formats", default="qcow2")
    ap.add_argument("--hostname", default="ib-test")
    ap.add_argument("--extra", default="")
    args = ap.parse_args()
    wanted = required_packages() + BASE + [p for p in args.extra.split(",")
                                          if p]
    specs = pin(closure(wanted))
    req = {
        "depsolve": {"package_specs": {"os": specs}},
        "suite": "bookworm",
        "apt_sources": "deb http://deb.debian.org/debian bookworm main\n",
        "dpkg_opts": DPKG_OPTS,
        "setup_files": [
            {"path": "/etc/initramfs-tools/conf.d/ib-build.conf",
             "content": INITRAMFS_CONF},
            {"path": "/usr/share/initramfs-tools/modules.d/ib-build",
             "content": INITRAMFS_MODULES},
        ],
        "customizations": {
            "hostname": args.hostname,
            "files": [{"path": "/etc/systemd/system/ib-boot-marker.service",
                       "data": MARKER_UNIT, "mode": "0644"}],
            "services": {"enabled": ["ib-boot-marker.service"]},
            "kernel": {"append": "console=ttyS0,115200n8"},
        },
        "image": {"uuid": ROOT_UUID,
                  "formats": [f for f in args.formats.split(",") if f]},
    }
    json.dump(req, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LC_ALL", "C")
    sys.exit(main())
