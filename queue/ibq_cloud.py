"""The subset of the composer's cloud API (/api/image-builder-composer/v2)
that a client such as ib-loadtest uses: POST /compose, GET /composes/{id},
POST /composes/{id}/cancel and GET /errors/{id}, with the composer's
ComposeStatus and error bodies (IMAGE-BUILDER-COMPOSER-<n>).

A compose id is the id of its osbuild job. Image types are the queue's own
(ibq_compose.IMAGE_TYPES: depsolve, manifest, osbuild) plus built-in test
types that make one osbuild job with a small manifest of their own; they
exist for load tests with the worker's test osbuild (their manifest carries
the "__double__" settings that tool reads), so a compose takes seconds.
"""

import json
import random
import string
import time
import uuid

import ibq_compose
import ibq_server
import ibq_store

BASE = "/api/image-builder-composer/v2"

# code -> (HTTP status, reason): the composer's cloud API error table (the
# subset this queue can answer).
ERRORS = {
    3: (415, "Only 'application/json' content is supported"),
    4: (400, "Unsupported distribution"),
    5: (400, "Unsupported architecture"),
    6: (400, "Unsupported image type"),
    7: (400, "Invalid repository"),
    14: (400, "Invalid format for compose id"),
    15: (404, "Compose with given id not found"),
    16: (400, "Invalid format for error id, it should be an integer as a "
              "string"),
    17: (404, "Error with given id not found"),
    20: (400, "Malformed json, unable to decode body"),
    21: (404, "Requested resource doesn't exist"),
    22: (405, "Requested method isn't supported for resource"),
    31: (400, "Compose is in a state that does not allow the operation"),
    38: (400, "Invalid upload target"),
    401: (401, "Account authentication could not be verified"),
    10000: (500, "Unspecified internal error "),
}

_B62 = string.digits + string.ascii_letters

# Built-in test image types: stages of the small manifest each sleep this
# long in the test osbuild; default export size; the tool's mode.
TEST_TYPES = {
    "test-small": {"sleep": 0.2, "size": 256 << 10, "mode": "ok"},
    "test-large": {"sleep": 0.6, "size": 3 << 20, "mode": "ok"},
    # Builds that fail in osbuild (a share of requests that must fail).
    "test-broken": {"sleep": 0.2, "size": 64 << 10, "mode": "fail"},
}
MAX_TEST_SIZE = 64 << 20

# Upload target types of the API -> the worker's target names.
UPLOAD_TYPES = {"aws.s3": "org.osbuild.aws.s3",
                "local": "org.osbuild.worker.server"}

# osbuild job error ids (the composer's clienterrors) and the image status
# that was current when they happened: failed uploads are reported after
# the build, while uploading.
UPLOAD_ERRORS = (11, 12, 28)


def error(code, reason=None, details=None):
    st, why = ERRORS.get(code, (500, "Unspecified internal error"))
    body = {"href": "%s/errors/%d" % (BASE, code), "id": str(code),
            "kind": "Error", "code": "IMAGE-BUILDER-COMPOSER-%d" % code,
            "reason": reason or why,
            "operation_id": "".join(random.choice(_B62) for _ in range(27))}
    if details is not None:
        body["details"] = details
    headers = []
    if code == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="ib-queue"'))
    return ibq_server.HttpError(st, body, headers)


def _authorize(h, app):
    """With --jwt-secret: a bearer token carrying the admin claim (a
    worker's token cannot compose)."""
    if app.jwt_secret is None:
        return
    why = ibq_server.jwt_problem(app.jwt_secret,
                                 h.headers.get("Authorization", ""),
                                 admin=True)
    if why is not None:
        raise error(401, why)


def _body(h):
    ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
    if ctype.lower() != "application/json":
        raise error(3)
    try:
        value = ibq_server.decode_json(json.loads,
                                       h.read_body().decode("utf-8"))
    except ibq_server.HttpError as e:
        if e.status == 413:
            raise error(20, "Request body too large")
        raise
    except (ValueError, UnicodeDecodeError):
        raise error(20)
    if not isinstance(value, dict):
        raise error(20)
    return value


def _test_manifest(spec, size, export):
    """A version 2 manifest of four pipelines with one or two stages each;
    the export's file name is the last stage's "filename"."""
    filename = "disk.qcow2" if export == "qcow2" else "disk.raw"
    return {
        "version": "2",
        "pipelines": [
            {"name": "build", "stages": [{"type": "org.osbuild.rpm"}]},
            {"name": "os", "build": "name:build",
             "stages": [{"type": "org.osbuild.rpm"},
                        {"type": "org.osbuild.fix-bls"}]},
            {"name": "image", "build": "name:build",
             "stages": [{"type": "org.osbuild.truncate",
                         "options": {"filename": "disk.raw",
                                     "size": str(size)}}]},
            {"name": "qcow2", "build": "name:build",
             "stages": [{"type": "org.osbuild.qemu",
                         "options": {"filename": filename,
                                     "format": {"type": "qcow2"}}}]},
        ],
        "sources": {},
        "__double__": {"sleep": spec["sleep"], "size": size,
                       "mode": spec["mode"]},
    }, filename


def _targets(ir, s3_bucket):
    """[(worker target name, options)] of an image request."""
    out = []
    items = []
    if "upload_options" in ir:
        items.append({"type": "aws.s3" if isinstance(
            ir["upload_options"], dict) and "region" in ir["upload_options"]
            else "local", "upload_options": ir["upload_options"]})
    ut = ir.get("upload_targets", [])
    if not isinstance(ut, list) or len(ut) > 8:
        raise error(38, "upload_targets must be a list of at most 8")
    items += ut
    if not items:
        items = [{"type": "local", "upload_options": {}}]
    for t in items:
        if not isinstance(t, dict) or t.get("type") not in UPLOAD_TYPES or \
                not isinstance(t.get("upload_options", {}), dict):
            raise error(38, "upload target type must be one of %s" %
                        ", ".join(sorted(UPLOAD_TYPES)))
        o = t.get("upload_options", {})
        if t["type"] == "aws.s3":
            region = o.get("region")
            if not isinstance(region, str) or not region or \
                    len(region) > 64 or set(o) - {"region", "public"}:
                raise error(38, "aws.s3 upload options: region (and "
                                "public) only")
            # As the composer does: bucket from its own configuration,
            # credentials and endpoint left to the worker's.
            out.append((UPLOAD_TYPES["aws.s3"], {
                "region": region, "accessKeyID": "", "secretAccessKey": "",
                "sessionToken": "", "bucket": s3_bucket or "",
                "key": "composer-api-%s" % uuid.uuid4(), "endpoint": "",
                "ca_bundle": "", "skip_ssl_verification": False,
                "public": o.get("public") is True}))
        else:
            if o:
                raise error(38, "local upload options must be empty")
            out.append((UPLOAD_TYPES["local"], {}))
    return out


def post_compose(h, app):
    req = _body(h)
    distro = req.get("distribution")
    if not isinstance(distro, str) or distro not in ibq_compose.DISTROS:
        raise error(4)
    ir = req.get("image_request")
    if not isinstance(ir, dict):
        raise error(20, "image_request (one) is required")
    arch = ir.get("architecture")
    if not isinstance(arch, str) or arch not in ibq_compose.ARCHES:
        raise error(5)
    itype = ir.get("image_type")
    if not isinstance(itype, str) or (itype not in TEST_TYPES and
                                      itype not in ibq_compose.IMAGE_TYPES):
        raise error(6, "Unsupported image type (known: %s)" % ", ".join(
            sorted(list(TEST_TYPES) + list(ibq_compose.IMAGE_TYPES))))
    repos = ir.get("repositories", [])
    if not isinstance(repos, list) or not all(
            isinstance(r, dict) and isinstance(r.get("baseurl", ""), str)
            for r in repos):
        raise error(7)
    size = ir.get("size", 0)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise error(20, "size must be a number of bytes")
    targets = _targets(ir, app.s3_bucket)
    cust = req.get("customizations", {})
    if not isinstance(cust, dict):
        raise error(20, "customizations must be an object")

    if itype in TEST_TYPES:
        if arch != "x86_64":
            raise error(5, "the test image types are x86_64 only")
        spec = TEST_TYPES[itype]
        size = min(size or spec["size"], MAX_TEST_SIZE)
        manifest, filename = _test_manifest(spec, size, "qcow2")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        args = {"manifest": manifest, "export_stages": ["qcow2"],
                "pipeline_names": {"build": ["build"],
                                   "payload": ["os", "image", "qcow2"]},
                "targets": [{
                    "uuid": str(uuid.uuid4()),
                    "image_name": "%s-%s" % (itype, filename),
                    "name": name, "created": now, "status": "WAITING",
                    "options": dict(opts, filename=filename)
                    if name == UPLOAD_TYPES["aws.s3"] else opts,
                    "osbuild_artifact": {"export_filename": filename,
                                         "export_name": "qcow2"}}
                    for name, opts in targets]}
        job_id = app.store.enqueue("osbuild", args, "x86_64", [])
    else:
        mirror = app.mirror
        for r in repos:
            if r.get("baseurl"):
                mirror = r["baseurl"]
                break
        creq = {"distribution": distro, "image_type": itype,
                "arch": arch, "customizations": cust, "mirror": mirror,
                "targets": [{"type": n, "options": o} for n, o in targets]}
        if size:
            creq["size"] = size
        try:
            job_id = ibq_compose.enqueue(app.store, creq, app.mirror,
                                         app.generation)["id"]
        except ibq_compose.ComposeError as e:
            raise error(20, str(e))
    h.send_json(201, {"href": "%s/compose" % BASE, "kind": "ComposeId",
                      "id": job_id})


def _compose_job(app, cid):
    try:
        cid = str(uuid.UUID(cid))
    except (ValueError, TypeError, AttributeError):
        raise error(14)
    try:
        show = app.store.show(cid)
    except ibq_store.StoreError:
        raise error(15)
    if show["type"] != "osbuild":
        raise error(15)
    return show


def _dependency_failed(app, show):
    """The job_error of a failed or canceled job this one waits for."""
    for dep in show["dependencies"]:
        d = app.store.show(dep)
        if d["state"] in (ibq_store.FAILURE, ibq_store.CANCELED):
            return d
        found = _dependency_failed(app, d)
        if found is not None:
            return found
    return None


def compose_status(app, show):
    """The ComposeStatus of an osbuild job, as the composer derives it."""
    state, res = show["state"], show["result"]
    upload = []
    image = {}
    if state == ibq_store.PENDING:
        image["status"] = "pending"
    elif state == ibq_store.RUNNING:
        image["status"] = "building"
    elif state == ibq_store.CANCELED:
        image = {"status": "failure",
                 "error": {"id": 26, "reason": "compose canceled"}}
    elif state == ibq_store.SUCCESS:
        image["status"] = "success"
    else:
        je = res.get("job_error") if isinstance(res, dict) else None
        if not isinstance(je, dict):
            je = {"id": 10, "reason": "osbuild build failed"}
        image = {"status": "failure",
                 "error": {"id": je.get("id"), "reason": je.get("reason"),
                           "details": je.get("details")}}
    for t in show["args"].get("targets", []):
        kind = {v: k for k, v in UPLOAD_TYPES.items()}.get(t.get("name"),
                                                            "local")
        st = {"type": kind, "status": "pending", "options": {}}
        tr = None
        if isinstance(res, dict):
            for r in res.get("target_results") or []:
                if isinstance(r, dict) and r.get("name") == t.get("name"):
                    tr = r
        if state == ibq_store.SUCCESS:
            st["status"] = "success"
        elif state in (ibq_store.FAILURE, ibq_store.CANCELED):
            st["status"] = "failure"
        elif state == ibq_store.RUNNING:
            st["status"] = "running"
        if tr and isinstance(tr.get("options"), dict):
            if kind == "aws.s3" and "url" in tr["options"]:
                st["options"] = {"url": tr["options"]["url"]}
            elif kind == "local":
                st["options"] = {"artifact_path": tr["options"].get(
                    "artifact_relative_path", "")}
        upload.append(st)
    if state == ibq_store.PENDING:
        dep = _dependency_failed(app, show)
        if dep is not None:   # depsolve or manifest failed: so did this
            je = (dep["result"] or {}).get("job_error") or \
                {"id": 26, "reason": "a dependency was canceled"}
            image = {"status": "failure",
                     "error": {"id": 26, "reason": "dependency failed",
                               "details": je}}
    if upload:
        image["upload_status"] = upload[0]
        image["upload_statuses"] = upload
    status = {"building": "pending"}.get(image["status"], image["status"])
    return {"href": "%s/composes/%s" % (BASE, show["id"]),
            "kind": "ComposeStatus", "id": show["id"], "status": status,
            "image_status": image, "image_statuses": [image]}


def handle(h, app, segs):
    _authorize(h, app)
    m = h.command
    if segs == ["compose"]:
        if m != "POST":
            raise error(22)
        return post_compose(h, app)
    if len(segs) == 2 and segs[0] == "composes":
        if m != "GET":
            raise error(22)
        show = _compose_job(app, segs[1])
        return h.send_json(200, compose_status(app, show))
    if len(segs) == 3 and segs[0] == "composes" and segs[2] == "cancel":
        if m != "POST":
            raise error(22)
        show = _compose_job(app, segs[1])
        try:
            if show["state"] in ibq_store.FINISHED:
                raise ibq_store.StoreError("finished")
            app.store.cancel(show["id"])
        except ibq_store.StoreError:
            raise error(31, "Compose already %s" % show["state"])
        # The chain before it (depsolve, manifest) goes too.
        todo = list(show["dependencies"])
        while todo:
            dep = todo.pop()
            try:
                app.store.cancel(dep)
            except ibq_store.StoreError:
                pass
            todo += app.store.show(dep)["dependencies"]
        return h.send_json(200, compose_status(app, app.store.show(
            show["id"])))
    if len(segs) == 2 and segs[0] == "errors" and m == "GET":
        if segs[1] is None or not segs[1].isdigit():
            raise error(16)
        code = int(segs[1])
        if code not in ERRORS:
            raise error(17)
        e = error(code)
        return h.send_json(200, e.body)
    raise error(21)
