#!/usr/bin/python3
# ib-build without a network or a VM (about 10 s): the command-line
# contract, validation errors (exit 2, osbuild's shape), curl sources from
# file:// URLs (checksums checked, stored once), customization stages on a
# tree, the store (a second build does no work, a changed option rebuilds,
# eviction under --cache-max-size), the monitor stream, and every output
# format checked with qemu-img.
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.environ.get("IB_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
B = os.environ.get("B", "build")
IB = os.path.join(TOP, B, "ib-build") if not os.path.isabs(B) else \
    os.path.join(B, "ib-build")
FAILS = []
# Escapes, non-ASCII, a character outside the BMP: hashed like Python does.
UNICODE = "h\u00e9llo \u2713 \U0001d11e \"q\" \\ \t/\x7f\n"


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def run(manifest, store, out=None, exports=(), extra=()):
    r, w = os.pipe()
    argv = [IB, "--store", store, "--json",
            "--monitor=JSONSeqMonitor", "--monitor-fd=%d" % w]
    if out:
        argv += ["--output-directory", out]
    for e in exports:
        argv += ["--export", e]
    argv += list(extra) + ["-"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, pass_fds=(w,))
    os.close(w)
    mon = []
    reader = os.fdopen(r, "rb")
    so, se = p.communicate(json.dumps(manifest).encode(), timeout=300)
    for rec in reader.read().split(b"\x1e"):
        if rec.strip():
            mon.append(json.loads(rec))
    reader.close()
    try:
        res = json.loads(so)
    except ValueError:
        res = None
    return p.returncode, res, mon, se.decode()


def stage(t, options=None, inputs=None):
    s = {"type": t, "options": options or {}}
    if inputs:
        s["inputs"] = inputs
    return s


def osbuild_ids(manifest):
    """Stage ids the way osbuild defines them (sha256 over json.dumps with
    sorted keys of type, build id, previous id, options, inputs' ids)."""
    def dumps(o):
        return json.dumps(o, sort_keys=True).encode()
    pids, ids = {}, {}
    for p in manifest["pipelines"]:
        build = pids.get(p.get("build", "")[5:])
        prev = None
        for st in p.get("stages", []):
            m = hashlib.sha256()
            for part in (st["type"], build, prev, st.get("options", {})):
                m.update(dumps(part))
            if st.get("inputs"):
                inp = {}
                for name, i in st["inputs"].items():
                    refs = i.get("references", {})
                    if isinstance(refs, list):
                        refs = {r: {} for r in refs}
                    if i["origin"] == "org.osbuild.pipeline":
                        refs = {pids[k[5:]]: v for k, v in refs.items()}
                    h = hashlib.sha256()
                    for part in (i["type"], i["origin"], refs,
                                 i.get("options", {})):
                        h.update(dumps(part))
                    inp[name] = h.hexdigest()
                m.update(dumps(inp))
            prev = m.hexdigest()
            ids.setdefault(p["name"], []).append(prev)
        pids[p["name"]] = prev
    return ids


def file_input(pipeline, name):
    return {"type": "org.osbuild.files", "origin": "org.osbuild.pipeline",
            "references": {"name:" + pipeline: {"file": name}}}


def main():
    if not os.access(IB, os.X_OK):
        print("ib-build is not built (%s): run make" % IB)
        return 77
    if os.geteuid() != 0:
        print("needs root (chroot, ownership in trees)")
        return 77
    for tool in ("qemu-img", "xz", "zstd"):
        if shutil.which(tool) is None:
            print("%s is not installed" % tool)
            return 77
    # Our sources are file:// URLs, which ib-build takes only when told.
    os.environ["IB_BUILD_ALLOW_FILE_URLS"] = "1"
    tmp = tempfile.mkdtemp(prefix="t_builder_basic.")
    try:
        return body(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def body(tmp):
    v = subprocess.run([IB, "--version"], capture_output=True, text=True)
    check(v.returncode == 0 and v.stdout.strip() == "ib-build 1",
          "--version prints 'ib-build N'")

    store = os.path.join(tmp, "store")
    # --- validation: every error at once, osbuild's shape, exit 2 ---
    bad = {"version": "2", "homer": 1,
           "sources": {"org.osbuild.curl": {"items": {}, "homer": 1}},
           "pipelines": [{"name": "p", "stages": [
               stage("org.osbuild.hostname", {"hostname": "x",
                                              "file_contextso": 1}),
               stage("org.osbuild.rpm"),
               stage("org.osbuild.qemu", {"filename": "../x",
                                          "format": {"type": "qcow3"}}),
               stage("org.osbuild.qemu", {"filename": "y", "format": {
                   "type": "qcow2", "compression_type": "lz4"}}),
               stage("org.osbuild.qemu", {"filename": "z", "format": {
                   "type": "qcow2", "compat": "0.10",
                   "compression_type": "zstd"}})]}]}
    rc, res, _, _ = run(bad, store)
    check(rc == 2, "validation failure exits 2 (got %s)" % rc)
    check(res is not None and res.get("type") ==
          "https://osbuild.org/validation-error" and
          res.get("success") is False and
          res.get("title") == "JSON Schema validation failed",
          "validation failure has osbuild's shape")
    errs = res.get("errors", []) if res else []
    paths = [e["path"] for e in errs]
    msgs = [e["message"] for e in errs]
    check(["sources", "org.osbuild.curl"] in paths and
          "Additional properties are not allowed ('homer' was unexpected)"
          in msgs, "unknown source key reported at its path")
    check(["pipelines", 0, "stages", 0, "options"] in paths and any(
        "'file_contextso' was unexpected" in m for m in msgs),
        "unknown option reported at the stage's options")
    check(["pipelines", 0, "stages", 1, "type"] in paths and any(
        "unsupported stage type 'org.osbuild.rpm'" in m for m in msgs),
        "unsupported stage is a validation error")
    check(any("qcow3" in m for m in msgs) and any("../x" in m for m in msgs),
          "bad format type and unsafe filename reported")
    check(["pipelines", 0, "stages", 2, "inputs"] in paths,
          "missing input reported")
    check(any("'lz4' is not one of" in m for m in msgs) and
          any("compression_type zstd needs compat 1.1" in m for m in msgs),
          "qcow2 compression_type: an unknown codec and zstd in a v2 "
          "image refused")
    # UEFI options: boot modes by osbuild's names, an ESP needs a GPT.
    tree_in = {"tree": {"type": "org.osbuild.tree",
                        "origin": "org.osbuild.pipeline",
                        "references": ["name:t"]}}
    uefi_bad = {"version": "2", "pipelines": [
        {"name": "t", "stages": [stage("org.osbuild.hostname",
                                       {"hostname": "x"})]},
        {"name": "i", "stages": [
            stage("io.ib.disk", {"filename": "a.raw", "boot_mode": "bios"},
                  tree_in),
            stage("io.ib.disk", {"filename": "b.raw", "boot_mode": "uefi",
                                 "partition_table": "mbr"}, tree_in),
            stage("io.ib.disk", {"filename": "c.raw", "boot_mode": "legacy",
                                 "esp_size": "100M"}, tree_in),
            stage("io.ib.disk", {"filename": "d.raw", "boot_mode": "hybrid",
                                 "partition_table": "gpt",
                                 "esp_size": "100M", "secure_boot": True},
                  tree_in),
            stage("io.ib.disk", {"filename": "e.raw", "secure_boot": True},
                  tree_in),
            stage("io.ib.disk", {"filename": "f.raw", "boot_mode": "uefi",
                                 "esp_size": "16M"}, tree_in)]}]}
    rc, res, _, _ = run(uefi_bad, store)
    errs = res.get("errors", []) if res else []
    check(rc == 2 and sorted(e["path"][3] for e in errs) ==
          [0, 1, 2, 4, 5] and
          any("esp_size is below 33 MiB" in e["message"] for e in errs) and
          any("secure_boot without boot_mode" in e["message"]
              for e in errs) and
          any("'bios' is not one of" in e["message"] for e in errs) and
          any("needs partition_table gpt" in e["message"] for e in errs) and
          any("esp_size without boot_mode" in e["message"] for e in errs),
          "io.ib.disk: unknown boot_mode, an ESP on MBR, esp_size and "
          "secure_boot for legacy, a 16 MiB ESP refused; hybrid on GPT "
          "accepted (%s)" %
          [(e["path"], e["message"]) for e in errs])
    # manifest-gen: image.boot_mode reaches io.ib.disk, checked.
    def gen_disk(boot_mode):
        req = {"depsolve": {"package_specs": {"os": [{
            "name": "base-files", "checksum": "sha256:" + "0" * 64,
            "remote_location": "http://127.0.0.1:9/base-files.deb"}]}},
            "image": {"boot_mode": boot_mode, "secure_boot": True}
            if boot_mode else {}}
        p = subprocess.run([IB, "--generate-manifest"],
                           input=json.dumps(req), capture_output=True,
                           text=True)
        if p.returncode != 0:
            return p.returncode, p.stderr
        m = json.loads(p.stdout)
        return 0, [st["options"] for pl in m["pipelines"]
                   if pl["name"] == "image" for st in pl["stages"]][0]
    rc, o = gen_disk("hybrid")
    check(rc == 0 and o.get("boot_mode") == "hybrid" and
          o.get("partition_table") == "gpt" and o.get("secure_boot") is True,
          "manifest-gen: boot_mode hybrid gives io.ib.disk a GPT, "
          "secure_boot passed on (%s)" % o)
    rc, o = gen_disk(None)
    check(rc == 0 and "boot_mode" not in o and "partition_table" not in o,
          "manifest-gen: no boot_mode, the legacy MBR disk as before")
    p = subprocess.run([IB, "--generate-manifest"], input=json.dumps({
        "depsolve": {"package_specs": {"os": [{
            "name": "base-files", "checksum": "sha256:" + "0" * 64,
            "remote_location": "http://127.0.0.1:9/base-files.deb"}]}},
        "image": {"formats": ["qcow2"]}}), capture_output=True, text=True)
    fmts = [st["options"]["format"] for pl in json.loads(p.stdout or "{}")
            .get("pipelines", []) if pl["name"] == "qcow2"
            for st in pl["stages"]]
    check(fmts == [{"type": "qcow2", "compat": "1.1",
                    "compression_type": "zstd"}],
          "manifest-gen: qcow2 compressed with zstd (%s)" % fmts)
    rc, o = gen_disk("bios")
    check(rc == 1 and "boot_mode is not legacy, uefi or hybrid" in o,
          "manifest-gen: an unknown boot_mode is refused (%s)" % o)
    # aarch64: a tree of arm64 packages and a UEFI-only disk.
    def gen_arch(arch, boot_mode=None):
        req = {"arch": arch, "depsolve": {"package_specs": {"os": [{
            "name": "base-files", "checksum": "sha256:" + "0" * 64,
            "remote_location": "http://127.0.0.1:9/base-files.deb"}]}},
            "image": {"boot_mode": boot_mode} if boot_mode else {}}
        p = subprocess.run([IB, "--generate-manifest"],
                           input=json.dumps(req), capture_output=True,
                           text=True)
        if p.returncode != 0:
            return p.returncode, p.stderr, None
        m = json.loads(p.stdout)
        st = {s["type"]: s["options"] for pl in m["pipelines"]
              for s in pl["stages"]}
        return 0, st["io.ib.disk"], st["io.ib.debian.install"]
    rc, o, t = gen_arch("aarch64")
    check(rc == 0 and o.get("arch") == "aarch64" and
          o.get("boot_mode") == "uefi" and t.get("architecture") == "arm64",
          "manifest-gen: arch aarch64 gives an arm64 tree and a UEFI disk "
          "(%s, %s)" % (o, t))
    rc, o, _ = gen_arch("aarch64", "hybrid")
    check(rc == 1 and "boot only with UEFI" in o,
          "manifest-gen: aarch64 with a BIOS boot mode refused (%s)" % o)
    rc, o, _ = gen_arch("ppc64le")
    check(rc == 1 and "arch is not x86_64 or aarch64" in o,
          "manifest-gen: an unknown arch refused (%s)" % o)
    arch_bad = {"version": "2", "pipelines": [
        {"name": "t", "stages": [stage("org.osbuild.hostname",
                                       {"hostname": "x"})]},
        {"name": "i", "stages": [
            stage("io.ib.disk", {"filename": "a.raw", "arch": "aarch64",
                                 "boot_mode": "hybrid"}, tree_in),
            stage("io.ib.disk", {"filename": "b.raw", "arch": "sparc",
                                 "boot_mode": "uefi"}, tree_in),
            stage("io.ib.disk", {"filename": "c.raw", "arch": "aarch64",
                                 "boot_mode": "uefi", "secure_boot": True},
                  tree_in),
            stage("io.ib.disk", {"filename": "d.raw", "arch": "aarch64",
                                 "boot_mode": "uefi"}, tree_in)]}]}
    rc, res, _, _ = run(arch_bad, store)
    errs = res.get("errors", []) if res else []
    check(rc == 2 and sorted(e["path"][3] for e in errs) == [0, 1, 2] and
          any("'sparc' is not one of" in e["message"] for e in errs),
          "io.ib.disk: aarch64 only with boot_mode uefi and without "
          "secure_boot, an unknown arch refused (%s)" %
          [(e["path"], e["message"]) for e in errs])
    rc, res, _, _ = run({"version": "1", "pipelines": []}, store)
    check(rc == 2 and res and res["errors"][0]["path"] == ["version"],
          "manifest version 1 refused")
    p = subprocess.run([IB, "--store", store, "--json", "-"],
                       input=b"{not json", capture_output=True)
    check(p.returncode == 2 and json.loads(p.stdout)["success"] is False,
          "garbage manifest is a validation error")

    # --- a raw file served by file:// as a curl source ---
    raw = os.path.join(tmp, "small.raw")
    with open(raw, "wb") as f:
        f.write(os.urandom(1 << 16))
        f.truncate(3 * (1 << 20) + 4096)      # not a whole MiB: vpc rounds
    with open(raw, "rb") as f:
        digest = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    url = "file://" + raw

    def manifest(hostname, filename="disk.qcow2"):
        return {
            "version": "2",
            "sources": {"org.osbuild.curl": {"items": {digest: {
                "url": url}}}},
            "pipelines": [
                {"name": "tree", "stages": [
                    stage("org.osbuild.hostname", {"hostname": hostname}),
                    stage("io.ib.files", {
                        "directories": [{"path": "/srv/data",
                                         "mode": "0750"}],
                        "files": [{"path": "/etc/motd", "content": "hi\n",
                                   "mode": "0600"},
                                  {"path": "/etc/issue.d/ib.issue",
                                   "content": UNICODE}]}),
                    stage("org.osbuild.fstab", {"filesystems": [
                        {"uuid": "6e1f2ff1-34c8-4b6b-9d0e-1b1d2c3e4f50",
                         "path": "/", "vfs_type": "ext4", "passno": 1}]}),
                    stage("org.osbuild.kernel-cmdline", {
                        "root_fs_uuid":
                            "6e1f2ff1-34c8-4b6b-9d0e-1b1d2c3e4f50",
                        "kernel_opts": "console=ttyS0"}),
                    stage("org.osbuild.cloud-init", {
                        "filename": "99-ib.cfg",
                        "config": {"datasource_list": ["NoCloud"]}}),
                ]},
                {"name": "image", "stages": [
                    stage("org.osbuild.qemu", {
                        "filename": filename,
                        "format": {"type": "qcow2", "compat": "1.1"}},
                        {"image": {"type": "org.osbuild.files",
                                   "origin": "org.osbuild.source",
                                   "references": [digest]}})]},
                {"name": "zq", "stages": [
                    stage("org.osbuild.qemu", {
                        "filename": "disk.qcow2",
                        "format": {"type": "qcow2", "compat": "1.1",
                                   "compression_type": "zstd"}},
                        {"image": {"type": "org.osbuild.files",
                                   "origin": "org.osbuild.source",
                                   "references": [digest]}})]},
                {"name": "raw", "stages": [stage("org.osbuild.qemu", {
                    "filename": "disk.img", "format": {"type": "vmdk",
                    "subformat": "streamOptimized"}},
                    {"image": {"type": "org.osbuild.files",
                               "origin": "org.osbuild.source",
                               "references": [digest]}})]},
                {"name": "vpc", "stages": [stage("org.osbuild.qemu", {
                    "filename": "disk.vhd", "format": {"type": "vpc"}},
                    {"image": {"type": "org.osbuild.files",
                               "origin": "org.osbuild.source",
                               "references": [digest]}})]},
                {"name": "xz", "stages": [stage("org.osbuild.xz", {
                    "filename": "disk.vmdk.xz"},
                    {"file": file_input("raw", "disk.img")})]},
                {"name": "zstd", "stages": [stage("org.osbuild.zstd", {
                    "filename": "disk.vmdk.zst"},
                    {"file": file_input("raw", "disk.img")})]},
            ]}

    out = os.path.join(tmp, "out")
    exports = ["tree", "image", "zq", "raw", "vpc", "xz", "zstd"]
    rc, res, mon, err = run(manifest("ib-one"), store, out, exports)
    check(rc == 0 and res and res["type"] == "result" and res["success"],
          "first build succeeds (rc %s) %s" % (rc, err[-2000:] if rc else ""))
    check(os.path.exists(os.path.join(store, "sources", "org.osbuild.curl",
                                      digest)), "source stored by checksum")
    msgs = [m["message"] for m in mon]
    check("Starting module org.osbuild.hostname" in msgs and
          any(m.startswith("Downloaded file://") for m in msgs),
          "monitor shows the download and the stages")
    check(all(m["progress"]["name"] == "pipelines/sources" for m in mon) and
          any(m.get("result", {}).get("name") == "org.osbuild.qemu"
              for m in mon), "monitor records carry progress and results")
    check(res and [s["type"] for s in res["log"]["tree"]][0] ==
          "org.osbuild.hostname", "result log lists the stages run")
    want = osbuild_ids(manifest("ib-one"))
    got = {p: [st["id"] for st in log] for p, log in res["log"].items()}
    check(got == want, "stage ids are osbuild's (%s)" % (
        "same" if got == want else json.dumps([got, want])[:600]))
    t = os.path.join(out, "tree")
    with open(os.path.join(t, "etc/issue.d/ib.issue"),
              encoding="utf-8") as f:
        check(f.read() == UNICODE, "non-ASCII content written as UTF-8")
    check(open(os.path.join(t, "etc/hostname")).read() == "ib-one\n",
          "hostname written")
    st = os.stat(os.path.join(t, "etc/motd"))
    check(st.st_mode & 0o777 == 0o600 and
          open(os.path.join(t, "etc/motd")).read() == "hi\n",
          "file written with its mode")
    check(os.stat(os.path.join(t, "srv/data")).st_mode & 0o777 == 0o750,
          "directory made with its mode")
    check("UUID=6e1f2ff1-34c8-4b6b-9d0e-1b1d2c3e4f50\t/\text4" in
          open(os.path.join(t, "etc/fstab")).read(), "fstab written")
    check(open(os.path.join(t, "etc/kernel/cmdline")).read().startswith(
        "root=UUID=6e1f2ff1"), "kernel command line written")
    check(json.loads("\n".join(open(os.path.join(
        t, "etc/cloud/cloud.cfg.d/99-ib.cfg")).read().split("\n")[1:]))[
        "datasource_list"] == ["NoCloud"], "cloud-init config written")

    def info(path, fmt=None):
        p = subprocess.run(["qemu-img", "info", "--output=json"] +
                           (["-f", fmt] if fmt else []) + [path],
                           capture_output=True, text=True)
        return json.loads(p.stdout) if p.returncode == 0 else {}
    check(info(os.path.join(out, "image", "disk.qcow2")).get("format") ==
          "qcow2", "qcow2 export recognised by qemu-img")
    def codec(path):
        return info(path).get("format-specific", {}).get("data", {}).get(
            "compression-type")
    zq = os.path.join(out, "zq", "disk.qcow2")
    cmp = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2",
                          raw, zq], capture_output=True)
    check(codec(os.path.join(out, "image", "disk.qcow2")) == "zlib" and
          codec(zq) == "zstd" and cmp.returncode == 0,
          "qcow2 compression_type: zlib by default, zstd when asked, the "
          "same content (%s)" % cmp.stdout.decode().strip())
    check(info(os.path.join(out, "raw", "disk.img")).get("format") ==
          "vmdk", "vmdk export recognised by qemu-img")
    # A fixed VHD probes as raw (its footer is at the end): name the format
    # and check the footer's cookie.
    vhd = info(os.path.join(out, "vpc", "disk.vhd"), "vpc")
    with open(os.path.join(out, "vpc", "disk.vhd"), "rb") as f:
        f.seek(-512, os.SEEK_END)
        cookie = f.read(8)
    check(vhd.get("format") == "vpc" and cookie == b"conectix" and
          vhd.get("virtual-size") == 4 << 20 and
          os.path.getsize(os.path.join(out, "vpc", "disk.vhd")) ==
          (4 << 20) + 512, "fixed VHD rounded up to whole MiB (%s)" %
          vhd.get("virtual-size"))
    for f, tool in (("xz/disk.vmdk.xz", ["xz", "-dc"]),
                    ("zstd/disk.vmdk.zst", ["zstd", "-dc"])):
        p = subprocess.run(tool + [os.path.join(out, f)],
                           capture_output=True)
        check(p.returncode == 0 and p.stdout == open(
            os.path.join(out, "raw", "disk.img"), "rb").read(),
            "%s decompresses to the vmdk" % f)

    # --- the same manifest again: nothing downloaded, no stage run ---
    os.rename(raw, raw + ".gone")      # a download would now fail
    out2 = os.path.join(tmp, "out2")
    rc, res, mon, err = run(manifest("ib-one"), store, out2, exports)
    msgs = [m["message"] for m in mon]
    check(rc == 0 and res["success"], "second build succeeds")
    check(not any(m.startswith("Starting module") for m in msgs) and
          not any(m.startswith("Downloaded") for m in msgs) and
          res["log"] == {}, "second build downloads nothing, runs nothing")
    check("downloaded 0 bytes, ran 0 stages, 7 pipelines cached" in err,
          "summary says so")
    check(open(os.path.join(out2, "tree/etc/hostname")).read() ==
          "ib-one\n", "cached export is the same tree")

    # --- a changed customization rebuilds its pipeline only ---
    rc, res, mon, err = run(manifest("ib-two"), store, out2 + "b", exports)
    ran = [s["type"] for p in res["log"].values() for s in p]
    check(rc == 0 and ran == ["org.osbuild.hostname", "io.ib.files",
                              "org.osbuild.fstab",
                              "org.osbuild.kernel-cmdline",
                              "org.osbuild.cloud-init"],
          "changed hostname reruns the tree pipeline only (%s)" % ran)

    # --- a resumed pipeline links /usr from the store, never writes it ---
    def linked(hostname):
        return {"version": "2", "pipelines": [{"name": "lk", "stages": [
            stage("io.ib.files", {"files": [
                {"path": "/usr/lib/ib/a", "content": "one\n"},
                {"path": "/usr/lib/ib/b", "content": "two\n", "uid": 7,
                 "gid": 8},
                {"path": "/etc/ib.conf", "content": "x\n"}]}),
            stage("org.osbuild.hostname", {"hostname": hostname}),
            stage("io.ib.files", {"files": [
                {"path": "/usr/lib/ib/b", "content": hostname + "\n"}]})]}]}
    lk1 = osbuild_ids(linked("lk-one"))["lk"]
    rc, _, _, err = run(linked("lk-one"), store, os.path.join(tmp, "lk1"),
                        ["lk"], ["--checkpoint", lk1[0]])
    check(rc == 0, "checkpointed build succeeds %s" % err[-1000:])
    rc, _, mon, err = run(linked("lk-two"), store, os.path.join(tmp, "lk2"),
                          ["lk"])
    lk2 = osbuild_ids(linked("lk-two"))["lk"]
    base = os.path.join(store, "objects", lk1[0], "tree")
    new = os.path.join(store, "objects", lk2[-1], "tree")
    check(rc == 0 and any(m["message"].startswith(
        "Pipeline lk: resuming after stage io.ib.files") for m in mon),
        "a changed hostname resumes from the checkpoint %s" % err[-1000:])

    def ino(t, p):
        return os.stat(os.path.join(t, p)).st_ino
    check(ino(base, "usr/lib/ib/a") == ino(new, "usr/lib/ib/a"),
          "the restored /usr is hard links to the store's files")
    check(ino(base, "etc/ib.conf") != ino(new, "etc/ib.conf"),
          "the rest of the tree is copied")
    b_new = os.stat(os.path.join(new, "usr/lib/ib/b"))
    check(open(os.path.join(base, "usr/lib/ib/b")).read() == "two\n" and
          open(os.path.join(new, "usr/lib/ib/b")).read() == "lk-two\n" and
          (b_new.st_uid, b_new.st_gid) == (7, 8) and b_new.st_nlink == 1,
          "a write to a linked /usr file replaces it (owner kept) and "
          "leaves the store's copy as it was")

    # --- ... but copies it when a later stage runs the tree's programs
    # (a package install could chmod or write through a link) ---
    m3 = linked("lk-three")
    m3["sources"] = manifest("ib-one")["sources"]
    m3["pipelines"][0]["stages"].append(stage(
        "io.ib.debian.install", {},
        {"packages": {"type": "org.osbuild.files",
                      "origin": "org.osbuild.source",
                      "references": [digest]}}))
    rc, _, mon, err = run(m3, store, os.path.join(tmp, "lk3"), ["lk"])
    msgs = [m["message"] for m in mon]
    check(any(m.startswith("Pipeline lk: resuming after stage io.ib.files")
              for m in msgs) and
          "Pipeline lk: /usr copied, not linked: a later stage runs the "
          "tree's programs" in msgs,
          "a resumed pipeline before an install copies /usr (%s)" %
          err[-600:])
    check(open(os.path.join(base, "usr/lib/ib/b")).read() == "two\n",
          "the store's tree is unchanged")

    # --- a missing or corrupt source fails the build, nothing stored ---
    m = manifest("ib-one", filename="other.qcow2")
    bogus = "sha256:" + "0" * 64
    m["sources"]["org.osbuild.curl"]["items"][bogus] = {"url": url + ".gone"}
    m["pipelines"][1]["stages"][0]["inputs"]["image"]["references"] = [bogus]
    rc, res, _, _ = run(m, store, os.path.join(tmp, "out3"), ["image"])
    check(rc != 0 and res and res["type"] == "error" and
          res["error"]["type"] == "org.osbuild.error.source" and
          "checksum mismatch" in res["error"]["details"]["source"]["output"],
          "checksum mismatch is a source error")
    check(not os.path.exists(os.path.join(store, "sources",
                                          "org.osbuild.curl", bogus)),
          "nothing stored under a wrong checksum")

    # --- file:// is refused unless allowed ---
    del os.environ["IB_BUILD_ALLOW_FILE_URLS"]
    rc, res, _, _ = run(manifest("ib-one", filename="x.qcow2"),
                        os.path.join(tmp, "store-nofile"),
                        os.path.join(tmp, "out-nofile"), ["image"])
    os.environ["IB_BUILD_ALLOW_FILE_URLS"] = "1"
    check(rc == 1 and res and res["error"]["type"] ==
          "org.osbuild.error.source", "file:// refused by default")
    bad = manifest("ib-one")
    bad["pipelines"].insert(0, {"name": "deb", "stages": [stage(
        "io.ib.debian.install", {"dpkg_opts": ["instdir=/"]},
        {"packages": {"type": "org.osbuild.files",
                      "origin": "org.osbuild.source",
                      "references": [digest]}})]})
    rc, res, _, _ = run(bad, store)
    check(rc == 2 and any("instdir" in e["message"] for e in res["errors"]),
          "dpkg_opts other than path filters refused")

    relative_store(tmp)

    # --- eviction: a tiny limit keeps the store within it ---
    rc, res, _, _ = run(manifest("ib-three"), store, os.path.join(
        tmp, "out4"), ["tree"], ["--cache-max-size=1"])
    left = os.listdir(os.path.join(store, "objects"))
    check(rc == 0 and left == [], "--cache-max-size=1 evicts everything "
          "(left: %s)" % left)

    # --- a failing stage: osbuild's error shape, its output ---
    m = {"version": "2", "pipelines": [{"name": "p", "stages": [
        stage("org.osbuild.qemu", {"filename": "x.qcow2",
                                   "format": {"type": "qcow2"}},
              {"image": file_input("q", "missing.raw")})]}]}
    m["pipelines"].insert(0, {"name": "q", "stages": [
        stage("org.osbuild.hostname", {"hostname": "q"})]})
    rc, res, _, _ = run(m, store, os.path.join(tmp, "out5"), ["p"])
    check(rc == 1 and res and res["type"] == "error" and
          res["error"]["type"] == "org.osbuild.error.stage" and
          res["error"]["details"]["stage"]["type"] == "org.osbuild.qemu" and
          res["log"]["p"][0].get("success") is False,
          "stage failure reported as osbuild does")
    tree_child(tmp)
    print("%d checks failed" % len(FAILS) if FAILS else "all checks passed")
    return 1 if FAILS else 0


def relative_store(tmp):
    """A relative --store: the install's repository links to the store's
    sources from another directory, so the path must be made absolute.
    One package without dpkg cannot be installed (mmdebstrap needs dpkg
    in the tree), but the repository must hold it and mmdebstrap must
    get to the install."""
    pkg = os.path.join(tmp, "rel-pkg")
    os.makedirs(os.path.join(pkg, "DEBIAN"))
    with open(os.path.join(pkg, "DEBIAN", "control"), "w") as f:
        f.write("Package: ib-tiny\nVersion: 1.0\nArchitecture: all\n"
                "Maintainer: t <t@example.org>\nDescription: tiny\n")
    deb = os.path.join(tmp, "ib-tiny.deb")
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", pkg, deb],
                   check=True, capture_output=True)
    with open(deb, "rb") as f:
        digest = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    m = {"version": "2",
         "sources": {"org.osbuild.curl": {"items": {
             digest: {"url": "file://" + deb}}}},
         "pipelines": [{"name": "os", "stages": [stage(
             "io.ib.debian.install", {},
             {"packages": {"type": "org.osbuild.files",
                           "origin": "org.osbuild.source",
                           "references": [digest]}})]}]}
    p = subprocess.run([IB, "--store", "rel-store", "--json", "-"],
                       input=json.dumps(m), capture_output=True, text=True,
                       cwd=tmp, timeout=120)
    try:
        out = json.loads(p.stdout)["error"]["details"]["stage"]["output"]
    except (ValueError, KeyError, TypeError):
        out = p.stdout + p.stderr
    check("Wrote 1 entries" in out and "failed to read archive" not in out
          and "installing 1 packages with mmdebstrap" in out and
          "running apt-get update" in out,
          "a relative --store: the install's repository finds the "
          "store's .debs (%s)" % out[-800:])


def tree_child(tmp):
    """The chrooted tree writer is ib-build run again (--ib-child tree):
    an absolute symlink of the tree stays inside it, bad arguments are
    refused with a clear error and nothing written."""
    tree = os.path.join(tmp, "child-tree")
    os.makedirs(os.path.join(tree, "etc"))
    name = "ib-escape-%d" % os.getpid()
    os.symlink("/" + name, os.path.join(tree, "etc", "resolv.conf"))

    def child(*args, data=b""):
        return subprocess.run([IB, "--ib-child", "tree"] + list(args),
                              input=data, capture_output=True)
    p = child("file", tree, "/etc/resolv.conf", "384", "-1", "-1",
              data=b"nameserver 192.0.2.1\n")
    inside = os.path.join(tree, name)
    check(p.returncode == 0 and os.path.exists(inside) and
          not os.path.exists("/" + name) and
          oct(os.stat(inside).st_mode & 0o777) == "0o600",
          "tree child writes through an absolute symlink inside the tree "
          "(%s)" % p.stderr)
    p = child("dir", tree, "/srv/a/b", "448", "0", "0")
    check(p.returncode == 0 and
          os.path.isdir(os.path.join(tree, "srv", "a", "b")),
          "tree child makes directories with their parents")
    for bad in (["file", tree, "/x/../../etc", "420", "-1", "-1"],
                ["file", tree, "rel", "420", "-1", "-1"],
                ["file", tree, "/x", "0x1a4", "-1", "-1"],
                ["link", tree, "/x", "420", "-1", "-1"],
                ["file", tree, "/x"]):
        p = child(*bad)
        check(p.returncode == 2 and b"bad arguments" in p.stderr and
              not os.path.exists(os.path.join(tree, "x")),
              "tree child refuses %s" % bad[:3])
    p = subprocess.run([IB, "--ib-child", "extlinux", "/img", "/mnt", "-1",
                        "5"], capture_output=True)
    check(p.returncode == 1 and b"bad arguments" in p.stderr,
          "the extlinux child refuses a negative offset")
    p = subprocess.run([IB, "--ib-child", "nosuch"], capture_output=True)
    check(p.returncode == 2 and b"unknown child" in p.stderr,
          "an unknown child is refused")


if __name__ == "__main__":
    sys.exit(main())
