"""The queue's own side, beside the worker API: the admin API under
/api/queue/v1 (enqueue, list, show, result, wait, cancel, artifacts, events,
workers) used by the `ib-queue` subcommands and the tests, and /metrics in
the Prometheus text format for the fleet autoscaler.
"""

import json
import math
import os
import re
import urllib.parse
import uuid

import ibq_server
import ibq_compose
import ibq_store
import ibq_worker

TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ARCH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
MAX_DEPS = 64


def fail(status, reason):
    return ibq_server.HttpError(status, {"kind": "Error", "reason": reason})


def _job_id(s):
    try:
        return str(uuid.UUID(s))
    except (ValueError, TypeError):
        raise fail(404, "no such job")


def _query(h, name, default):
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query)
    try:
        v = float(q[name][0]) if name in q else default
    except ValueError:
        raise fail(400, "bad %s" % name)
    if not math.isfinite(v):
        raise fail(400, "bad %s" % name)
    return v


def _store_call(fn, *args):
    try:
        return fn(*args)
    except ibq_store.StoreError as e:
        if e.what in ("no-job", "no-dep"):
            raise fail(404, str(e) if e.what == "no-dep" else "no such job")
        raise fail(409, str(e))


def enqueue(h, app):
    try:
        body = ibq_server.decode_json(json.loads,
                                      h.read_body().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise fail(400, "body is not JSON")
    if not isinstance(body, dict):
        raise fail(400, "body is not a JSON object")
    jtype, arch = body.get("type"), body.get("arch", "x86_64")
    deps = body.get("depends", [])
    if not isinstance(jtype, str) or not TYPE_RE.match(jtype):
        raise fail(400, "bad job type")
    if not isinstance(arch, str) or not ARCH_RE.match(arch):
        raise fail(400, "bad arch")
    if not isinstance(deps, list) or len(deps) > MAX_DEPS or \
            not all(isinstance(d, str) for d in deps):
        raise fail(400, "depends must be a list of job ids")
    deps = [_job_id(d) for d in deps]
    job_id = _store_call(app.store.enqueue, jtype, body.get("args", {}),
                         arch, deps)
    h.send_json(201, {"id": job_id})


def compose(h, app):
    try:
        body = ibq_server.decode_json(json.loads,
                                      h.read_body().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise fail(400, "body is not JSON")
    try:
        ids = ibq_compose.enqueue(app.store, body, app.mirror,
                                   app.generation)
    except ibq_compose.ComposeError as e:
        raise fail(400, str(e))
    h.send_json(201, ids)


def compose_status(h, app, job_id, metadata):
    """GET /composes/ID[/metadata] of a finished osbuild job, answered as
    that generation's composer does: a 500 (10001, its panic recovered)
    where it cannot read the result."""
    show = _store_call(app.store.show, job_id)
    if show["type"] != "osbuild":
        raise fail(404, "not a compose")
    res = show["result"]
    why = None
    if show["state"] in ibq_store.FINISHED:
        why = ibq_worker.compose_metadata_panic(
            show.get("args"), res, app.generation) if metadata else \
            ibq_worker.compose_status_panic(res, app.generation)
    if why:
        raise ibq_server.HttpError(500, {
            "kind": "Error", "code": "IMAGE-BUILDER-COMPOSER-10001",
            "reason": why})
    h.send_json(200, {"id": job_id, "state": show["state"]})


def artifact(h, app, job_id, name):
    if not ibq_worker.name_ok(name):
        raise fail(400, "bad artifact name")
    show = _store_call(app.store.show, _job_id(job_id))
    if show["state"] not in ibq_store.FINISHED:
        raise fail(409, "job not finished")
    path = os.path.join(app.store.artifact_dir(show["id"]), name)
    if not os.path.isfile(path):
        raise fail(404, "no such artifact")
    h.send_file(path)


def result(h, app, job_id):
    show = _store_call(app.store.show, _job_id(job_id))
    if show["state"] not in ibq_store.FINISHED:
        raise fail(409, "job is %s" % show["state"])
    h.send_json(200, show["result"])


def _authorize(h, app):
    """With --jwt-secret the admin API needs an admin bearer token too."""
    if app.jwt_secret is None:
        return
    why = ibq_server.jwt_problem(app.jwt_secret,
                                 h.headers.get("Authorization", ""),
                                 admin=True)
    if why is not None:
        raise ibq_server.HttpError(
            401, {"kind": "Error", "reason": why},
            [("WWW-Authenticate", 'Bearer realm="ib-queue admin"')])


def handle(h, app, segs):
    store, m = app.store, h.command
    _authorize(h, app)
    if None in segs:
        raise fail(404, "no such resource")
    if segs == ["jobs"] and m == "GET":
        return h.send_json(200, store.list_jobs())
    if segs == ["jobs"] and m == "POST":
        return enqueue(h, app)
    if len(segs) == 2 and segs[0] == "jobs" and m == "GET":
        return h.send_json(200, _store_call(store.show, _job_id(segs[1])))
    if len(segs) == 3 and segs[0] == "jobs":
        job_id, what = _job_id(segs[1]), segs[2]
        if what == "result" and m == "GET":
            return result(h, app, job_id)
        if what == "wait" and m == "GET":
            timeout = min(max(_query(h, "timeout", 30), 0), 600)
            return h.send_json(200, _store_call(store.wait_finished, job_id,
                                                timeout))
        if what == "cancel" and m == "POST":
            _store_call(store.cancel, job_id)
            return h.send_json(200, {"id": job_id,
                                     "state": store.show(job_id)["state"]})
    if len(segs) == 4 and segs[0] == "jobs" and segs[2] == "artifacts" \
            and m == "GET":
        return artifact(h, app, segs[1], segs[3])
    if segs == ["composes"] and m == "POST":
        return compose(h, app)
    if len(segs) in (2, 3) and segs[0] == "composes" and m == "GET" and \
            segs[2:] in ([], ["metadata"]):
        return compose_status(h, app, _job_id(segs[1]), len(segs) == 3)
    if segs == ["events"] and m == "GET":
        # SQLite integers end at 2**63: sequence numbers never get there.
        since = int(min(max(_query(h, "since", 0), 0), 2 ** 62))
        timeout = min(max(_query(h, "timeout", 0), 0), 600)
        return h.send_json(200, store.events(since, timeout))
    if segs == ["workers"] and m == "GET":
        return h.send_json(200, store.workers())
    raise fail(404, "no such resource")


def _label(v):
    return '"%s"' % str(v).replace("\\", "\\\\").replace('"', '\\"') \
        .replace("\n", "\\n")


def metrics(h, app):
    jobs, ready, workers, waiting = app.store.counts()
    types = sorted({"depsolve", "osbuild"} | {r[0] for r in jobs})
    by = {}
    requeued = {}
    for jtype, state, n, rq in jobs:
        by[(jtype, state)] = n
        requeued[jtype] = requeued.get(jtype, 0) + (rq or 0)
    out = []

    def family(name, kind, help_text, rows):
        out.append("# HELP %s %s" % (name, help_text))
        out.append("# TYPE %s %s" % (name, kind))
        for labels, value in rows:
            lab = ",".join("%s=%s" % (k, _label(v)) for k, v in labels)
            out.append("%s{%s} %d" % (name, lab, value) if lab
                       else "%s %d" % (name, value))

    family("composer_pending_jobs", "gauge",
           "Jobs waiting in the queue (dependencies finished or not).",
           [((("type", t),), by.get((t, "pending"), 0)) for t in types])
    family("composer_ready_jobs", "gauge",
           "Pending jobs whose dependencies have all finished.",
           [((("type", t),), ready.get(t, 0)) for t in types])
    family("composer_running_jobs", "gauge", "Jobs a worker is running.",
           [((("type", t),), by.get((t, "running"), 0)) for t in types])
    family("composer_finished_jobs_total", "counter",
           "Jobs finished, by type and status.",
           [((("type", t), ("status", s)), by.get((t, s), 0))
            for t in types for s in ibq_store.FINISHED])
    family("composer_requeued_jobs_total", "counter",
           "Requeues after a missing heartbeat.",
           [((("type", t),), requeued.get(t, 0)) for t in types])
    family("composer_registered_workers", "gauge",
           "Workers registered and not forgotten.",
           [((), sum(n for _, n in workers))] +
           [((("arch", a),), n) for a, n in workers])
    family("composer_waiting_requests", "gauge",
           "Job requests (long polls) currently held open.", [((), waiting)])
    h.send_text(200, "\n".join(out) + "\n",
                "text/plain; version=0.0.4; charset=utf-8")
