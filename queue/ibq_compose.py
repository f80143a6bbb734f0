"""Composes: the chain a real composer makes for one image request.

A compose request (distribution, image type, packages, customizations,
targets) becomes three jobs, as osbuild-composer does it:

  depsolve (a worker)  ->  manifest-id-only (the queue itself)  ->  osbuild
                                                  (a worker, dynamic_args)

The manifest job never goes to a worker: the queue runs it when its
depsolve job has finished, by handing the depsolve result and the request
to the builder's manifest generator (`ib-build --generate-manifest`). Its
result is {"data": MANIFEST}, or a job_error that the osbuild job's worker
then reports as a failed manifest dependency (error 9).
"""

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid

import ibq_store

MANIFEST_JOB = "manifest-id-only"

# Job error ids of the composer's clienterrors.
ERR_DEPSOLVE_DEPENDENCY = 5
ERR_MANIFEST_GENERATION = 8

# What each distribution installs under the requested packages: the
# Priority-required set of the release plus what a VM image boots with,
# as the composer's distro definitions fix an image type's package set.
DISTROS = {
    "debian-12": {
        "suite": "bookworm",
        "releasever": "12",
        "components": "main",
        "bases": {},
        "required": [
            "base-files", "base-passwd", "bash", "bsdutils", "coreutils",
            "dash", "debconf", "debianutils", "diffutils", "dpkg",
            "e2fsprogs", "findutils", "grep", "gzip", "hostname",
            "init-system-helpers", "libc-bin", "libpam-modules",
            "libpam-modules-bin", "libpam-runtime", "login", "mawk",
            "mount", "ncurses-base", "ncurses-bin", "passwd", "perl-base",
            "sed", "sysvinit-utils", "tar", "tzdata", "util-linux"],
    },
}

# The base sets on top of the required ones: "standard" boots with
# systemd and the generic kernel; "minimal" is the smallest image that
# still boots on a cloud VM (sysvinit and the cloud kernel: a quarter of
# the size, for fleets and tests that build many images).
# initramfs-tools is named so the solver does not pick dracut.
DISTROS["debian-12"]["bases"] = {
    "standard": ["systemd-sysv", "udev", "linux-image-amd64",
                 "initramfs-tools"],
    "minimal": ["sysvinit-core", "linux-image-cloud-amd64", "usr-is-merged",
                "initramfs-tools"],
}

# The architectures images are built for (the composer's names) -> Debian's
# name, and what the image needs beyond the base set: aarch64 boots only
# with UEFI, whose loader the manifest generator makes from the tree's GRUB
# modules. The jobs carry the architecture: the depsolve job resolves that
# architecture's packages, and the osbuild job goes only to a worker of
# that architecture (the store matches `osbuild` with the job's arch, as
# the composer queues osbuild:ARCH), where the tree is native.
ARCHES = {
    "x86_64": {"deb": "amd64", "extra": []},
    "aarch64": {"deb": "arm64", "extra": ["grub-efi-arm64-bin"]},
}

# Image type -> (export pipeline, file), as the manifest generator names
# them.
IMAGE_TYPES = {
    "raw": ("image", "disk.raw"),
    "qcow2": ("qcow2", "disk.qcow2"),
    "vmdk": ("vmdk", "disk.vmdk"),
    "vhd": ("vpc", "disk.vhd"),
    "raw.xz": ("xz", "disk.raw.xz"),
    "raw.zst": ("zstd", "disk.raw.zst"),
}

# Target -> the image types it takes (None: any), as the composer pairs
# upload targets with image types. org.osbuild.aws.s3 is also the generic
# S3 target (options endpoint, region, bucket, ca_bundle,
# skip_ssl_verification). The container and pulp.ostree targets take an
# OCI archive and an ostree commit archive, which this queue's manifest
# generator does not make: they are known, and refused with why.
TARGETS = {
    "org.osbuild.worker.server": None,
    "org.osbuild.aws.s3": None,
    "org.osbuild.aws": None,
    "org.osbuild.gcp": None,
    "org.osbuild.azure.image": None,
    "org.osbuild.azure": ("vhd",),
    "org.osbuild.oci": ("qcow2",),
    "org.osbuild.oci.objectstorage": None,
    "org.osbuild.vmware": ("vmdk",),
    "org.osbuild.container": (),
    "org.osbuild.pulp.ostree": (),
}
TARGET_TYPES = tuple(TARGETS)
NEEDS = {"org.osbuild.container": "an OCI archive (a container image type)",
         "org.osbuild.pulp.ostree": "an ostree commit archive (an edge "
                                    "commit image type)"}

# Keep the default image small: no docs, locales, firmware or drivers a
# cloud VM does not have; an initramfs with the virtio drivers only.
SMALL_IMAGE = {
    "dpkg_opts": [
        "path-exclude=/usr/share/man/*",
        "path-exclude=/usr/share/locale/*",
        "path-include=/usr/share/locale/locale.alias",
        "path-exclude=/usr/share/doc/*",
        "path-exclude=/usr/share/info/*",
        "path-exclude=/lib/firmware/*",
    ] + ["path-exclude=/lib/modules/*/kernel/%s/*" % d for d in (
        "drivers/gpu", "drivers/media", "drivers/net/wireless",
        "drivers/infiniband", "drivers/staging", "drivers/usb",
        "drivers/bluetooth", "drivers/isdn", "drivers/iio", "sound",
        "net/wireless", "net/mac80211", "net/bluetooth")],
    "setup_files": [
        {"path": "/etc/initramfs-tools/conf.d/ib-build.conf",
         "content": "MODULES=list\nCOMPRESS=gzip\n"},
        {"path": "/usr/share/initramfs-tools/modules.d/ib-build",
         "content": "virtio_pci\nvirtio_blk\nvirtio_scsi\nvirtio_net\n"
                    "sd_mod\nata_piix\nahci\next4\ncrc32c_generic\n"},
    ],
}

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


class ComposeError(Exception):
    pass


def _check(cond, why):
    if not cond:
        raise ComposeError(why)


def plan(req, mirror):
    """The three jobs' arguments for a compose request, or ComposeError."""
    _check(isinstance(req, dict), "a compose request is a JSON object")
    distro = req.get("distribution", "debian-12")
    _check(isinstance(distro, str) and distro in DISTROS, "unknown distribution %r (known: %s)" %
           (distro, ", ".join(sorted(DISTROS))))
    d = DISTROS[distro]
    base = req.get("base", "standard")
    _check(isinstance(base, str) and base in d["bases"],
           "unknown base %r (known: %s)" %
           (base, ", ".join(sorted(d["bases"]))))
    itype = req.get("image_type", "qcow2")
    _check(isinstance(itype, str) and itype in IMAGE_TYPES, "unknown image_type %r (known: %s)" %
           (itype, ", ".join(sorted(IMAGE_TYPES))))
    pkgs = req.get("packages", [])
    _check(isinstance(pkgs, list) and len(pkgs) <= 1000 and
           all(isinstance(p, str) and NAME_RE.match(p) for p in pkgs),
           "packages must be a list of package names")
    cust = req.get("customizations", {})
    _check(isinstance(cust, dict), "customizations must be an object")
    arch = req.get("arch", "x86_64")
    _check(isinstance(arch, str) and arch in ARCHES,
           "arch must be one of %s" % ", ".join(sorted(ARCHES)))
    debarch = ARCHES[arch]["deb"]
    # The base sets name the amd64 kernels; each architecture has its own.
    base_pkgs = [p[:-len("-amd64")] + "-" + debarch
                 if p.startswith("linux-image-") and p.endswith("-amd64")
                 else p for p in d["bases"][base]] + ARCHES[arch]["extra"]
    mirror = req.get("mirror", mirror).rstrip("/")
    _check(re.match(r"^https?://[^\s?#]+$", mirror) is not None,
           "mirror must be an http(s) URL")
    gpgkeys = req.get("gpgkeys", [])
    _check(isinstance(gpgkeys, list) and len(gpgkeys) <= 8 and
           all(isinstance(k, str) and 0 < len(k) <= 65536 for k in gpgkeys),
           "gpgkeys must be a list of at most 8 keys (armored or URLs)")
    targets = req.get("targets") or [{"type": "org.osbuild.worker.server"}]
    _check(isinstance(targets, list) and 0 < len(targets) <= 8,
           "targets must be a list of at most 8 targets")

    repo = {
        "id": distro,
        "name": distro,
        "baseurls": ["deb+%s?suite=%s&components=%s&arch=%s" % (
            mirror, d["suite"], d["components"], debarch)],
        "check_gpg": False,
    }
    if gpgkeys:
        # Who signs the mirror's InRelease, when not Debian's archive keys.
        repo["gpgkeys"] = gpgkeys
    depsolve = {
        "grouped_package_sets": {"os": [{
            "Include": sorted(set(d["required"] + base_pkgs + pkgs)),
            "Exclude": [],
            "Repositories": [repo],
            "InstallWeakDeps": False,
        }]},
        "module_platform_id": "",
        "arch": arch,
        "releasever": d["releasever"],
    }
    manifest_request = dict(SMALL_IMAGE)
    manifest_request.update({
        "package_set": "os",
        "suite": d["suite"],
        "apt_sources": "deb %s %s %s\n" % (mirror, d["suite"],
                                           d["components"]),
        "customizations": cust,
        "image": {"formats": [itype]},
        "arch": arch,
    })
    if isinstance(req.get("size"), int):
        manifest_request["image"]["size"] = req["size"]

    export, filename = IMAGE_TYPES[itype]
    image_name = req.get("image_name", "%s-%s" % (distro, filename))
    _check(isinstance(image_name, str) and NAME_RE.match(image_name) and
           ".." not in image_name, "image_name must be a plain file name")
    osb_targets = []
    for t in targets:
        _check(isinstance(t, dict) and t.get("type") in TARGET_TYPES,
               "each target needs a type among %s" % ", ".join(TARGET_TYPES))
        name, takes = t["type"], TARGETS[t["type"]]
        _check(name not in NEEDS, "%s needs %s; this queue's images are "
               "disk images (%s)" % (name, NEEDS.get(name),
                                     ", ".join(sorted(IMAGE_TYPES))))
        _check(takes is None or itype in takes,
               "%s takes image_type %s, not %r" % (
                   name, " or ".join(takes or ()), itype))
        opts = t.get("options", {})
        _check(isinstance(opts, dict), "target options must be an object")
        tname = t.get("image_name", image_name)
        _check(isinstance(tname, str) and NAME_RE.match(tname) and
               ".." not in tname, "a target's image_name must be a plain "
               "file name")
        osb_targets.append({
            "uuid": str(uuid.uuid4()),
            "image_name": tname,
            "name": t["type"],
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "status": "WAITING",
            "options": opts,
            "osbuild_artifact": {"export_filename": filename,
                                 "export_name": export},
        })
    osbuild = {
        "targets": osb_targets,
        "pipeline_names": {"build": [],
                           "payload": ["os", "image"] +
                           ([export] if export != "image" else [])},
        "export_stages": [export],
    }
    return depsolve, {"compose": manifest_request}, osbuild, arch


def enqueue(store, req, mirror, generation=2026):
    """Adds the three jobs; returns their ids. The 2026 composer's cloud
    API puts the pipeline names in the manifest job's result
    (info.pipeline_names) and not in the osbuild job's args; 2024 has
    them in the args only."""
    depsolve, manifest, osbuild, arch = plan(req, mirror)
    if generation >= 2026:
        manifest["pipeline_names"] = osbuild.pop("pipeline_names")
    dep_id = store.enqueue("depsolve", depsolve, arch, [])
    man_id = store.enqueue(MANIFEST_JOB, manifest, arch, [dep_id])
    osb_id = store.enqueue("osbuild", osbuild, arch, [man_id])
    return {"id": osb_id, "depsolve": dep_id, "manifest": man_id}


def _generate(generator, dep_result, manifest_args, timeout=300):
    """{"data": manifest} or a job_error result."""
    if ibq_store.result_failed(dep_result):
        return {"job_error": {"id": ERR_DEPSOLVE_DEPENDENCY,
                              "reason": "the depsolve job failed",
                              "details": (dep_result or {}).get("job_error")}}
    request = dict(manifest_args["compose"])
    request["depsolve"] = dep_result
    try:
        p = subprocess.run(generator, input=json.dumps(request).encode(),
                           capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"job_error": {"id": ERR_MANIFEST_GENERATION,
                              "reason": "manifest generator: %s" % e}}
    if p.returncode != 0:
        return {"job_error": {"id": ERR_MANIFEST_GENERATION,
                              "reason": "manifest generator failed: %s" %
                              p.stderr.decode(errors="replace").strip()[-500:]}}
    try:
        out = {"data": json.loads(p.stdout)}
    except ValueError:
        return {"job_error": {"id": ERR_MANIFEST_GENERATION,
                              "reason": "the manifest generator printed no "
                                        "JSON"}}
    if "pipeline_names" in manifest_args:
        out["info"] = {"osbuild_composer_version": "ib-queue",
                       "pipeline_names": manifest_args["pipeline_names"]}
    return out


def find_generator(top):
    """argv of the manifest generator: ib-build from the tree or PATH."""
    for cand in (os.environ.get("IB_BUILD"),
                 os.path.join(top, os.environ.get("B", "build"), "ib-build"),
                 shutil.which("ib-build")):
        if cand and os.access(cand, os.X_OK):
            return [cand, "--generate-manifest"]
    return None


def runner(store, generator, stop, log):
    """Runs ready manifest jobs, as the composer does in-process."""
    while not stop.is_set():
        job = store.take_internal(MANIFEST_JOB)
        if job is None:
            with store.cv:
                store.cv.wait(1.0)
            continue
        job_id, args, dyn = job
        if generator is None:
            result = {"job_error": {"id": ERR_MANIFEST_GENERATION,
                                    "reason": "no manifest generator "
                                              "(ib-build) on this queue"}}
        else:
            result = _generate(generator, dyn[0] if dyn else None, args)
        store.finish_internal(job_id, result)
        log("job %s: manifest %s" % (job_id, "failed" if "job_error" in
                                     result else "generated"))


def start(store, generator, stop, log):
    threading.Thread(target=runner, args=(store, generator, stop, log),
                     daemon=True).start()
