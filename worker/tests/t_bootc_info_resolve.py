#!/usr/bin/python3
"""bootc-info-resolve end to end: a real registry (Debian's
docker-registry on loopback) holding a bootc-shaped image the test builds
(os-release, a kernel under usr/lib/modules, bootc install files naming the
root file system, spread over two layers) and pushes with skopeo; the
worker reads it without running it. Failures a user meets: an image that
is not bootc, a missing repository."""

import gzip
import io
import json
import os
import shutil
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
from t_container_resolve import (Layout, Registry, OCI_MANIFEST,  # noqa: E402
                                 build_images, sha)

OS_RELEASE = ('NAME="Test Linux"\nID=testos\nVERSION_ID="42.1"\n'
              'ID_LIKE="fedora"\nVARIANT_ID=bootc\n')


def layer(files):
    """A gzip tar layer of {path: bytes or ("symlink", target) or None}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for path, data in files.items():
            ti = tarfile.TarInfo(path)
            ti.mtime = 1700000000
            if data is None:
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif isinstance(data, tuple):
                ti.type = tarfile.SYMTYPE
                ti.linkname = data[1]
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, mtime=0)


def bootc_image(lay):
    l1, g1 = layer({
        "usr": None, "usr/lib": None,
        "usr/lib/os-release": OS_RELEASE.encode(),
        "etc/os-release": ("symlink", "../usr/lib/os-release"),
        "usr/lib/modules/6.12.9-test.x86_64/vmlinuz": b"\x7fkernel" * 999,
        "usr/lib/bootc/install/00-base.toml":
            b'[install.filesystem.root]\ntype = "ext4"\n',
    })
    l2, g2 = layer({
        "usr/lib/bootc/install/20-site.toml":
            b'# site\n[install]\n[install.filesystem.root]\ntype = "xfs"\n',
        "usr/lib/bootc/install/10-other.toml":
            b'[install.filesystem.root]\ntype = "btrfs"\n',
    })
    b1, b2 = lay.blob(g1), lay.blob(g2)
    cb = lay.blob(json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"containers.bootc": "1"}},
        "rootfs": {"type": "layers", "diff_ids": [sha(l1), sha(l2)]},
    }, sort_keys=True).encode())
    mb = lay.blob(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": dict(cb, mediaType=
                       "application/vnd.oci.image.config.v1+json"),
        "layers": [dict(b, mediaType=
                        "application/vnd.oci.image.layer.v1.tar+gzip")
                   for b in (b1, b2)]}, sort_keys=True).encode())
    return {"manifest": dict(mb, mediaType=OCI_MANIFEST),
            "config": cb["digest"], "digest": mb["digest"],
            "size": b1["size"] + b2["size"]}


class BootcInfoResolve(harness.TestCase):

    def test_resolve(self):
        lay = build_images(self.tmp)[0]
        img = bootc_image(lay)
        lay.tag("bootc", img)
        reg = self.keep(Registry(self.tmp, "reg"))
        reg.push(lay.d, "bootc", "test/bootc:stream")
        reg.push(lay.d, "single", "test/plain:v1")
        q = self.queue()
        w = self.worker("http://" + q.address,
                        "[containers]\ntls_verify = false\n")
        ref = reg.host + "/test/bootc:stream"

        def run(specs):
            jid = q.enqueue("bootc-info-resolve", {"specs": specs})
            q.wait(jid, 60)
            return q.result(jid)

        res = run([{"ref": ref, "resolve_mode": "full"},
                   {"ref": ref, "resolve_mode": "build"}])
        self.assertNotIn("job_error", res, res)
        full, build = res["infos"]
        self.assertEqual(full, {
            "imgref": ref, "image_id": img["config"],
            "digest": img["digest"], "arch": "x86_64",
            "default_root_fs": "xfs", "size": img["size"],
            "os_info": {
                "OSRelease": {"ID": "testos", "VersionID": "42.1",
                              "Name": "Test Linux", "VariantID": "bootc",
                              "IDLike": "fedora"},
                "KernelInfo": {"Version": "6.12.9-test.x86_64"}}})
        self.assertNotIn("os_info", build)
        self.assertEqual(build["digest"], img["digest"])
        # Nothing of the layers is left in the cache.
        out = os.path.join(w.cache, "output")
        self.assertEqual(os.listdir(out) if os.path.isdir(out) else [], [])

        # Failures: each a job error with the reason.
        for specs, text in (
                ([{"ref": reg.host + "/test/plain:v1",
                   "resolve_mode": "full"}], "is not a bootc image"),
                ([{"ref": reg.host + "/test/nosuch:v1",
                   "resolve_mode": "full"}], "manifest unknown"),
                ([{"ref": ref, "resolve_mode": "fast"}],
                 "invalid resolve mode"),
                ([{"ref": "Not A Ref::", "resolve_mode": "full"}],
                 "invalid image reference")):
            res = run(specs)
            self.assertEqual(res["job_error"]["id"], 30, res)
            self.assertIn(text, res["job_error"]["reason"])
        res = run([])
        self.assertEqual(res["job_error"]["id"], 29)
        self.assertTrue(w.alive())


if __name__ == "__main__":
    for tool in ("docker-registry", "skopeo"):
        if shutil.which(tool) is None:
            print("skipped: %s is not installed" % tool)
            raise SystemExit(77)
    harness.main()
