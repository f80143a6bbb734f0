"""Job documents for the integration tests, made from the composer job the
project captured (worker/tests/fixtures), so that what the worker reads
is what a real composer sends."""

import json
import os

import testpath

FIXTURES = os.path.join(testpath.TOP, "worker", "tests", "fixtures")


def fixture(name):
    """A captured document from worker/tests/fixtures, parsed."""
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def osbuild_args(double=None, export=None, targets=None):
    """The captured osbuild job's args with its manifest inlined.
    double: the osbuild test double's knobs (size, sleep, sparse...);
    export: (pipeline name, file name) of the exported image, for targets
    that expect a given export (gce, vhd); targets replaces the targets."""
    job = fixture("composer-v105-requestjob-osbuild-response.json")
    args = job["args"]
    manifest = job["dynamic_args"][0]["data"]
    if double:
        manifest["__double__"] = double
    if export:
        last = manifest["pipelines"][-1]
        last["name"] = export[0]
        last["stages"][-1].setdefault("options", {})["filename"] = export[1]
    args["manifest"] = manifest
    if targets is not None:
        args["targets"] = targets
    return args


def target(name, options, image_name, export, uuid):
    """A target of the composer's shape, WAITING; export: (pipeline name,
    file name) of the artifact it uploads."""
    return {"uuid": uuid, "image_name": image_name, "name": name,
            "created": "2026-11-29T14:08:20Z", "status": "WAITING",
            "options": options,
            "osbuild_artifact": {"export_filename": export[1],
                                 "export_name": export[0]}}


def one_target(args, name, image_name, options):
    """Makes the job's one target a name target; returns the file name the
    osbuild double exports."""
    t = args["targets"][0]
    t["name"] = name
    t["image_name"] = image_name
    t["options"] = options
    return t["osbuild_artifact"]["export_filename"]


def worker_server_args(image_name="disk.qcow2", double=None):
    """The captured job with a worker.server target (the artifact stays in
    the queue)."""
    args = osbuild_args(double)
    one_target(args, "org.osbuild.worker.server", image_name, {})
    return args
