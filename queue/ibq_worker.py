"""The composer worker API (PROTOCOL.md), as osbuild-composer answers it:
routes, status codes, error bodies and the order in which it checks things
(token syntax, then content type and JSON, then the queue's state).
"""

import json
import os
import random
import string
import time
import uuid

import ibq_openapi
import ibq_server
import ibq_store

# code -> (HTTP status, reason), the composer's table of worker API errors.
ERRORS = {
    3: (415, "Only 'application/json' content is supported"),
    5: (404, "Token not found"),
    6: (400, "Job is not running"),
    7: (400, "Given job id is not a uuidv4"),
    8: (400, "Given job token is not a uuidv4"),
    9: (400, "Error id must be an integer"),
    10: (400, "Malformed json, unable to decode body"),
    11: (404, "Requested resource doesn't exist"),
    12: (405, "Requested method isn't supported for resource"),
    14: (404, "No error with this id"),
    15: (400, "Requested job type cannot be dequeued"),
    17: (400, "Given worker id is not a uuidv4"),
    18: (400, "Given worker id doesn't exist"),
    1000: (500, "Error discarding artifact"),
    1002: (500, "Error writing artifact"),
    1004: (500, "Error finishing job"),
    1010: (500, "Error updating job"),
    10000: (500, "Unspecified internal error "),
}

SERVER_SIDE_TYPES = ("manifest-id-only", "bootc-pre-manifest")
_B62 = string.digits + string.ascii_letters


def error(app, code, reason=None, status=None):
    st, why = ERRORS.get(code, (500, "Unspecified internal error"))
    reason = reason or why
    return ibq_server.HttpError(status or st, {
        "href": "%s/errors/%d" % (app.base, code), "id": str(code),
        "kind": "Error", "code": "IMAGE-BUILDER-WORKER-%d" % code,
        "reason": reason, "message": reason,
        "operation_id": "".join(random.choice(_B62) for _ in range(27))})


def _uuid(s, code, app):
    try:
        return str(uuid.UUID(s))
    except (ValueError, TypeError, AttributeError):
        raise error(app, code)


def _json_body(h, app):
    """The composer's binder: exactly one Content-Type, exactly
    'application/json', then one JSON object (trailing bytes ignored)."""
    ctype = h.headers.get_all("Content-Type") or []
    if len(ctype) != 1 or ctype[0] != "application/json":
        raise error(app, 3)
    try:
        raw = h.read_body().decode("utf-8")
        value, _ = ibq_server.decode_json(
            json.JSONDecoder(parse_constant=_no_constant).raw_decode,
            raw.lstrip(" \t\r\n"))
    except ibq_server.HttpError as e:
        if e.status == 413:
            raise error(app, 10, "Request body too large", status=413)
        raise
    except (ValueError, UnicodeDecodeError):
        raise error(app, 10)
    if not isinstance(value, dict):
        raise error(app, 10)
    return value


def _no_constant(name):
    raise ValueError("%s is not JSON" % name)


def _ref(app, path, oid, kind):
    return {"href": app.base + path, "id": oid, "kind": kind}


# --- handlers -------------------------------------------------------------
def get_status(h, app):
    h.send_json(200, dict(_ref(app, "/status", "status", "Status"),
                          status="OK"))


def get_openapi(h, app):
    h.send_json(200, ibq_openapi.spec(app.partial))


def get_error(h, app, eid):
    try:
        code = int(eid)
    except ValueError:
        raise error(app, 9)
    if code not in ERRORS:
        raise error(app, 14)
    h.send_json(200, error(app, code).body)


def post_workers(h, app):
    body = _json_body(h, app)
    arch = body.get("arch", "")
    if not isinstance(arch, str):
        raise error(app, 10)
    wid = app.store.register_worker(arch)
    h.send_json(201, dict(_ref(app, "/workers", wid, "WorkerID"),
                          worker_id=wid))


def post_worker_status(h, app, wid):
    if app.generation >= 2026:
        # Its generated wrapper parses the path's uuid and fails with a
        # plain echo error, which the error handler makes a 500.
        wid = _uuid(wid, 10000, app)
    else:
        wid = _uuid(wid, 17, app)
    if not app.store.worker_status(wid):
        raise error(app, 18)
    h.send_empty(200)


def request_job(h, app):
    body = _json_body(h, app)
    types, arch = body.get("types"), body.get("arch", "")
    wid = body.get("worker_id")
    if types is None:
        types = []
    if not isinstance(types, list) or \
            not all(isinstance(t, str) for t in types) or \
            not isinstance(arch, str) or \
            not (wid is None or isinstance(wid, str)):
        raise error(app, 10)
    if wid is not None:
        wid = _uuid(wid, 17, app)
    if any(t in SERVER_SIDE_TYPES for t in types):
        raise error(app, 15)

    store, job = app.store, None
    deadline = None
    if app.request_job_timeout > 0:
        deadline = time.monotonic() + app.request_job_timeout
    with store.cv:
        store.waiting += 1
        try:
            while True:
                job = store.try_dequeue(types, arch, wid,
                                        lambda: not h.client_gone())
                if job is not None:
                    break
                if h.client_gone():
                    h.close_connection = True
                    h._status = "client gone"
                    return
                left = 1.0
                if deadline is not None:
                    left = min(left, deadline - time.monotonic())
                    if left <= 0:
                        break
                store.cv.wait(left)
        finally:
            store.waiting -= 1
    if job is None:
        h.send_no_content()
        return
    loc = "%s/jobs/%s" % (app.base, job["token"])
    resp = dict(_ref(app, "/jobs", job["id"], "RequestJob"),
                type=job["type"], location=loc,
                artifact_location=loc + "/artifacts/", args=job["args"])
    if job["dynamic_args"]:
        resp["dynamic_args"] = job["dynamic_args"]
    try:
        h.send_json(201, resp)
        h.wfile.flush()
    except OSError:
        store.requeue_unclaimed(job["token"])
        raise


def get_job(h, app, token):
    token = _uuid(token, 8, app)
    canceled = app.store.heartbeat(token)
    if canceled is None:
        raise error(app, 5)
    h.send_json(200, dict(_ref(app, "/jobs/" + token, token, "JobStatus"),
                          canceled=canceled))


def update_job(h, app, token):
    token = _uuid(token, 7, app)
    body = _json_body(h, app)
    try:
        jtype = app.store.update(token, body, app.partial)
    except ibq_store.StoreError as e:
        if e.what == "canceled":
            # Both generations: "job was canceled" from the job queue
            # surfaces as the handler's catch-all, a 500 (Error updating
            # job for a partial update, Error finishing job otherwise).
            partial = app.partial and "result" not in body and \
                "partial" in body
            raise error(app, 1010 if partial else 1004)
        raise error(app, 5 if e.what == "no-token" else 6)
    if jtype == "osbuild" and "result" in body:
        why = unreadable_result(body["result"], app.generation)
        if why:
            # As composer: the job is finished with the result, then
            # reading it back fails.
            raise error(app, 1004)
    h.send_json(200, _ref(app, "/jobs/" + token, token, "UpdateJobResponse"))


# Target names whose results may carry options, per generation
# (the composer's UnmarshalTargetResultOptions).
_OPTIONS_2024 = {"org.osbuild.aws", "org.osbuild.aws.s3", "org.osbuild.gcp",
                 "org.osbuild.azure.image", "org.osbuild.koji",
                 "org.osbuild.oci", "org.osbuild.oci.objectstorage",
                 "org.osbuild.container", "org.osbuild.pulp.ostree"}
TARGET_RESULT_OPTIONS = {
    2024: _OPTIONS_2024,
    2026: (_OPTIONS_2024 - {"org.osbuild.pulp.ostree"}) |
    {"org.osbuild.worker.server"},
}


def unreadable_result(result, generation):
    """Why that generation cannot read an osbuild result, or None. Its
    target results decode options only for the names it knows (any
    present options, even null, are decoded)."""
    if not isinstance(result, dict):
        return None
    for tr in result.get("target_results") or []:
        if not isinstance(tr, dict) or "options" not in tr:
            continue
        name = tr.get("name")
        if name not in TARGET_RESULT_OPTIONS[generation]:
            return "unexpected target result name: %s" % name
    return None


# Target names whose options the composer's compose status type-asserts
# (cloudapi v2 targetResultToUploadStatus): a result without the key
# decodes to nil options and the assertion panics (500, 10001). A null
# is decoded to empty options and passes.
_ASSERTED = {"org.osbuild.aws": "AWSTargetResultOptions",
             "org.osbuild.aws.s3": "AWSS3TargetResultOptions",
             "org.osbuild.gcp": "GCPTargetResultOptions",
             "org.osbuild.azure.image": "AzureImageTargetResultOptions",
             "org.osbuild.container": "ContainerTargetResultOptions",
             "org.osbuild.oci.objectstorage":
             "OCIObjectStorageTargetResultOptions"}
STATUS_ASSERTS = {
    2024: dict(_ASSERTED, **{"org.osbuild.pulp.ostree":
                             "PulpOSTreeTargetResultOptions"}),
    2026: dict(_ASSERTED, **{"org.osbuild.worker.server":
                             "WorkerServerTargetResultOptions"}),
}


def compose_status_panic(result, generation):
    """The panic message of that generation's GET /composes/ID on this
    osbuild result, or None."""
    if not isinstance(result, dict):
        return None
    for tr in result.get("target_results") or []:
        if not isinstance(tr, dict) or "options" in tr:
            continue
        want = STATUS_ASSERTS[generation].get(tr.get("name"))
        if want:
            return ("interface conversion: target.TargetResultOptions is "
                    "nil, not *target.%s" % want)
    return None


def compose_metadata_panic(args, result, generation):
    """Likewise for GET /composes/ID/metadata: 2026 reads the pipeline
    names from the osbuild result, 2024 from the job's args."""
    where = result if generation >= 2026 else args
    pn = where.get("pipeline_names") if isinstance(where, dict) else None
    if not isinstance(pn, dict):
        return ("runtime error: invalid memory address or nil pointer "
                "dereference")
    return None


def name_ok(name):
    return (0 < len(name.encode()) <= 255 and "/" not in name and
            ".." not in name and not name.startswith(".") and
            all(c >= " " and c != "\x7f" for c in name))


def upload_artifact(h, app, token, name):
    token = _uuid(token, 7, app)
    ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
    if ctype.lower() != "application/octet-stream":
        raise error(app, 3, "Only 'application/octet-stream' content is "
                            "supported for artifacts")
    if name is None or not name_ok(name):
        raise error(app, 10, "Invalid artifact name")
    store = app.store
    with store.cv:
        job = store.live_token(token)
    if job is None:
        # The real server fails to create the file: the token's directory
        # is gone once the job finished or was requeued.
        raise error(app, 1000)
    adir = store.artifact_tmp_dir(token)
    os.makedirs(adir, exist_ok=True)
    part = os.path.join(adir, ".part-%s" % uuid.uuid4())
    try:
        f = open(part, "wb")
    except OSError:
        raise error(app, 1000)
    try:
        with f:
            for data in h.body_chunks():
                try:
                    f.write(data)
                except OSError:
                    raise error(app, 1002)
        os.rename(part, os.path.join(adir, name))
    except BaseException:
        try:
            os.unlink(part)
        except OSError:
            pass
        raise
    h.send_empty(200)


# (segments pattern, {method: handler}); "*" matches one segment.
ROUTES = [
    (("openapi",), {"GET": get_openapi}),
    (("status",), {"GET": get_status}),
    (("errors", "*"), {"GET": get_error}),
    (("jobs",), {"POST": request_job}),
    (("jobs", "*"), {"GET": get_job, "PATCH": update_job}),
    (("jobs", "*", "artifacts", "*"), {"PUT": upload_artifact}),
    (("workers",), {"POST": post_workers}),
    (("workers", "*", "status"), {"POST": post_worker_status}),
]


def handle(h, app, segs):
    for pattern, methods in ROUTES:
        if len(pattern) != len(segs) or None in segs:
            continue
        if not all(p == "*" or p == s for p, s in zip(pattern, segs)):
            continue
        if app.jwt_secret is not None and pattern != ("openapi",):
            why = ibq_server.jwt_problem(app.jwt_secret,
                                         h.headers.get("Authorization", ""))
            if why:
                err = error(app, 401, why, status=401)
                err.headers.append(("WWW-Authenticate", "Bearer"))
                raise err
        fn = methods.get(h.command)
        if fn is None:
            raise error(app, 12)
        params = [s for p, s in zip(pattern, segs) if p == "*"]
        return fn(h, app, *params)
    if app.jwt_secret is not None and \
            ibq_server.jwt_problem(app.jwt_secret,
                                   h.headers.get("Authorization", "")):
        err = error(app, 401, "authentication required", status=401)
        err.headers.append(("WWW-Authenticate", "Bearer"))
        raise err
    raise error(app, 11)
