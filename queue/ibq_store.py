"""The queue's state: jobs, dependencies, tokens, heartbeats, workers and
events in one SQLite database, plus the artifact files beside it.

Every method runs under one Condition (`cv`); long polls wait on it and every
change that can make a job available or finish one notifies it. Each change
is committed before the method returns (WAL, synchronous=NORMAL: a SIGKILL of
the server loses nothing; only a power cut could lose the last commits).
"""

import json
import os
import shutil
import sqlite3
import threading
import time
import uuid

PENDING, RUNNING = "pending", "running"
SUCCESS, FAILURE, CANCELED = "success", "failure", "canceled"
FINISHED = (SUCCESS, FAILURE, CANCELED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    type TEXT NOT NULL,
    arch TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    requeues INTEGER NOT NULL DEFAULT 0,
    token TEXT,
    worker_id TEXT,
    last_seen REAL,
    result TEXT,
    partial TEXT,
    partial_ts REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, type);
CREATE TABLE IF NOT EXISTS deps (
    job_id TEXT NOT NULL, dep_id TEXT NOT NULL, idx INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS deps_dep ON deps(dep_id);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, job_id TEXT NOT NULL, worker_id TEXT,
    issued REAL NOT NULL, retired REAL, why TEXT
);
CREATE INDEX IF NOT EXISTS tokens_job ON tokens(job_id);
CREATE TABLE IF NOT EXISTS heartbeats (
    job_id TEXT NOT NULL, token TEXT NOT NULL, ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS heartbeats_job ON heartbeats(job_id);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY, arch TEXT NOT NULL,
    registered REAL NOT NULL, last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,
    job_id TEXT, event TEXT NOT NULL, detail TEXT
);
"""


def _progress(p):
    """A JobProgress as the composer decodes it: known fields only."""
    if not isinstance(p, dict):
        return None
    out = {"message": p.get("message") if isinstance(p.get("message"), str)
           else "",
           "done": p.get("done") if isinstance(p.get("done"), int) else 0,
           "total": p.get("total") if isinstance(p.get("total"), int) else 0}
    sub = _progress(p.get("sub_progress"))
    if sub is not None:
        out["sub_progress"] = sub
    return out


def read_progress(partial):
    """The progress of a partial update as the 2026 composer reads it back
    (its JobResult struct: unknown keys such as "subprogress" are lost)."""
    return _progress(partial.get("progress")) \
        if isinstance(partial, dict) else None


class StoreError(Exception):
    """A refused operation; `what` names the reason for the caller's mapping."""

    def __init__(self, what, message=""):
        super().__init__(message or what)
        self.what = what


def iso(ts):
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + \
        ".%03dZ" % int((ts % 1) * 1000)


def result_failed(result):
    """A finished job failed when its result is not an object, carries a
    job_error, or says success=false (what composer derives too)."""
    if not isinstance(result, dict):
        return True
    if result.get("job_error"):
        return True
    return result.get("success") is False


class Store:
    def __init__(self, state_dir, max_requeues=2, heartbeat_timeout=120.0,
                 worker_timeout=3600.0):
        self.dir = state_dir
        self.max_requeues = max_requeues
        self.heartbeat_timeout = heartbeat_timeout
        self.worker_timeout = worker_timeout
        self.cv = threading.Condition()
        self.waiting = 0  # long polls currently held, for the metrics
        os.makedirs(os.path.join(state_dir, "artifacts", "tmp"), exist_ok=True)
        self.db = sqlite3.connect(os.path.join(state_dir, "queue.sqlite"),
                                  check_same_thread=False,
                                  isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        # Like composer after a restart: running jobs keep their token and
        # their heartbeat clock starts again now.
        with self.tx():
            self.db.execute("UPDATE jobs SET last_seen=? WHERE state=? AND "
                            "token IS NOT NULL", (time.time(), RUNNING))
            # The queue's own jobs (manifests) were cut short: run again.
            self.db.execute("UPDATE jobs SET state=?, started=NULL WHERE "
                            "state=? AND token IS NULL", (PENDING, RUNNING))

    # --- plumbing -------------------------------------------------------
    class _Tx:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type, exc, tb):
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def tx(self):
        return Store._Tx(self.db)

    def _event(self, job_id, event, detail=None):
        self.db.execute(
            "INSERT INTO events(ts, job_id, event, detail) VALUES (?,?,?,?)",
            (time.time(), job_id, event,
             None if detail is None else json.dumps(detail)))

    def _job(self, job_id):
        return self.db.execute("SELECT * FROM jobs WHERE id=?",
                               (job_id,)).fetchone()

    def artifact_tmp_dir(self, token):
        return os.path.join(self.dir, "artifacts", "tmp", token)

    def artifact_dir(self, job_id):
        return os.path.join(self.dir, "artifacts", job_id)

    def _retire(self, token, why):
        self.db.execute("UPDATE tokens SET retired=?, why=? WHERE token=?",
                        (time.time(), why, token))

    # --- admin side -----------------------------------------------------
    def enqueue(self, jtype, args, arch, depends):
        job_id = str(uuid.uuid4())
        with self.cv:
            with self.tx():
                for d in depends:
                    if self._job(d) is None:
                        raise StoreError("no-dep", "no such job: %s" % d)
                self.db.execute(
                    "INSERT INTO jobs(id, type, arch, args, state, created) "
                    "VALUES (?,?,?,?,?,?)",
                    (job_id, jtype, arch, json.dumps(args), PENDING,
                     time.time()))
                for i, d in enumerate(depends):
                    self.db.execute("INSERT INTO deps VALUES (?,?,?)",
                                    (job_id, d, i))
                self._event(job_id, "enqueued",
                            {"type": jtype, "arch": arch, "depends": depends})
            self.cv.notify_all()
        return job_id

    def cancel(self, job_id):
        """Cancel a pending or running job; pending jobs that depend on a
        canceled job can never run, so they are canceled with it."""
        with self.cv:
            with self.tx():
                j = self._job(job_id)
                if j is None:
                    raise StoreError("no-job")
                if j["state"] in FINISHED:
                    raise StoreError("finished",
                                     "job already %s" % j["state"])
                todo = [job_id]
                while todo:
                    jid = todo.pop()
                    cur = self._job(jid)
                    if cur["state"] not in (PENDING, RUNNING):
                        continue
                    # A running job keeps its token: its next GET answers
                    # canceled:true and a PATCH is refused.
                    self.db.execute(
                        "UPDATE jobs SET state=?, finished=? WHERE id=?",
                        (CANCELED, time.time(), jid))
                    self._event(jid, "canceled",
                                None if jid == job_id else {"cause": job_id})
                    todo += [r[0] for r in self.db.execute(
                        "SELECT job_id FROM deps WHERE dep_id=?", (jid,))]
            self.cv.notify_all()

    def list_jobs(self):
        with self.cv:
            return [dict(id=r["id"], type=r["type"], arch=r["arch"],
                         state=r["state"], created=iso(r["created"]),
                         requeues=r["requeues"])
                    for r in self.db.execute(
                        "SELECT * FROM jobs ORDER BY seq")]

    def show(self, job_id):
        with self.cv:
            j = self._job(job_id)
            if j is None:
                raise StoreError("no-job")
            q = self.db.execute
            deps = [r[0] for r in q(
                "SELECT dep_id FROM deps WHERE job_id=? ORDER BY idx",
                (job_id,))]
            dependents = [r[0] for r in q(
                "SELECT job_id FROM deps WHERE dep_id=?", (job_id,))]
            tokens = [dict(token=r["token"], worker_id=r["worker_id"],
                           issued=iso(r["issued"]), retired=iso(r["retired"]),
                           why=r["why"])
                      for r in q("SELECT * FROM tokens WHERE job_id=? "
                                 "ORDER BY issued", (job_id,))]
            beats = [dict(token=r["token"], ts=iso(r["ts"]))
                     for r in q("SELECT * FROM heartbeats WHERE job_id=? "
                                "ORDER BY ts", (job_id,))]
        adir = self.artifact_dir(job_id)
        arts = []
        if os.path.isdir(adir):
            arts = [dict(name=n, size=os.path.getsize(os.path.join(adir, n)))
                    for n in sorted(os.listdir(adir))]
        return dict(
            id=j["id"], type=j["type"], arch=j["arch"], state=j["state"],
            canceled=j["state"] == CANCELED, created=iso(j["created"]),
            started=iso(j["started"]), finished=iso(j["finished"]),
            requeues=j["requeues"], worker_id=j["worker_id"],
            token=j["token"], args=json.loads(j["args"]),
            dependencies=deps, dependents=dependents, tokens=tokens,
            heartbeats=beats, last_heartbeat=iso(j["last_seen"]),
            partial=None if j["partial"] is None else json.loads(j["partial"]),
            progress=None if j["partial"] is None else
            read_progress(json.loads(j["partial"])),
            partial_at=iso(j["partial_ts"]),
            result=None if j["result"] is None else json.loads(j["result"]),
            artifacts=arts)

    def wait_finished(self, job_id, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                j = self._job(job_id)
                if j is None:
                    raise StoreError("no-job")
                left = deadline - time.monotonic()
                if j["state"] in FINISHED or left <= 0:
                    break
                self.cv.wait(left)
        return self.show(job_id)

    def events(self, since, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                rows = self.db.execute(
                    "SELECT * FROM events WHERE seq>? ORDER BY seq LIMIT 1000",
                    (since,)).fetchall()
                left = deadline - time.monotonic()
                if rows or left <= 0:
                    break
                self.cv.wait(left)
        return [dict(seq=r["seq"], ts=iso(r["ts"]), job_id=r["job_id"],
                     event=r["event"],
                     detail=None if r["detail"] is None
                     else json.loads(r["detail"]))
                for r in rows]

    def workers(self):
        with self.cv:
            return [dict(id=r["id"], arch=r["arch"],
                         registered=iso(r["registered"]),
                         last_seen=iso(r["last_seen"]))
                    for r in self.db.execute(
                        "SELECT * FROM workers ORDER BY registered")]

    def counts(self):
        """Rows of (type, state, count, requeues) and workers per arch, for
        the metrics."""
        with self.cv:
            jobs = self.db.execute(
                "SELECT type, state, COUNT(*), SUM(requeues) FROM jobs "
                "GROUP BY type, state").fetchall()
            ready = dict(self.db.execute(
                "SELECT type, COUNT(*) FROM jobs j WHERE state=? AND "
                "NOT EXISTS (SELECT 1 FROM deps d JOIN jobs p ON "
                "p.id=d.dep_id WHERE d.job_id=j.id AND p.state NOT IN (?,?))"
                " GROUP BY type", (PENDING, SUCCESS, FAILURE)).fetchall())
            workers = self.db.execute(
                "SELECT arch, COUNT(*) FROM workers GROUP BY arch").fetchall()
            return ([tuple(r) for r in jobs], ready,
                    [tuple(r) for r in workers], self.waiting)

    # --- worker side ----------------------------------------------------
    def register_worker(self, arch):
        wid = str(uuid.uuid4())
        now = time.time()
        with self.cv:
            with self.tx():
                self.db.execute("INSERT INTO workers VALUES (?,?,?,?)",
                                (wid, arch, now, now))
                self._event(None, "worker-registered",
                            {"worker_id": wid, "arch": arch})
        return wid

    def worker_status(self, wid):
        """Refresh a worker; False when it is unknown or was forgotten."""
        now = time.time()
        with self.cv:
            with self.tx():
                self._forget_workers(now)
                cur = self.db.execute("UPDATE workers SET last_seen=? "
                                      "WHERE id=?", (now, wid))
                return cur.rowcount == 1

    def _forget_workers(self, now):
        # Like composer: a worker that still holds a running job is kept.
        old = self.db.execute(
            "SELECT id FROM workers w WHERE last_seen < ? AND NOT EXISTS "
            "(SELECT 1 FROM jobs WHERE worker_id=w.id AND state=?)",
            (now - self.worker_timeout, RUNNING)).fetchall()
        for (wid,) in old:
            self.db.execute("DELETE FROM workers WHERE id=?", (wid,))
            self._event(None, "worker-forgotten", {"worker_id": wid})

    def try_dequeue(self, types, arch, worker_id, still_wanted):
        """Take the oldest ready job matching types/arch, or None. Caller
        holds `cv`. still_wanted() is asked once a job is found, so a job is
        never handed to a request whose client has gone away."""
        if not types:
            return None
        marks = ",".join("?" * len(types))
        row = self.db.execute(
            "SELECT * FROM jobs j WHERE state=? AND type IN (%s) "
            "AND (type != 'osbuild' OR arch = ?) AND NOT EXISTS "
            "(SELECT 1 FROM deps d JOIN jobs p ON p.id=d.dep_id "
            " WHERE d.job_id=j.id AND p.state NOT IN (?,?)) "
            "ORDER BY seq LIMIT 1" % marks,
            [PENDING] + list(types) + [arch, SUCCESS, FAILURE]).fetchone()
        if row is None or not still_wanted():
            return None
        token = str(uuid.uuid4())
        now = time.time()
        with self.tx():
            self.db.execute(
                "UPDATE jobs SET state=?, started=?, token=?, worker_id=?, "
                "last_seen=? WHERE id=?",
                (RUNNING, now, token, worker_id, now, row["id"]))
            self.db.execute("INSERT INTO tokens(token, job_id, worker_id, "
                            "issued) VALUES (?,?,?,?)",
                            (token, row["id"], worker_id, now))
            self._event(row["id"], "dequeued",
                        {"token": token, "worker_id": worker_id})
        os.makedirs(self.artifact_tmp_dir(token), exist_ok=True)
        dyn = [json.loads(r[0]) if r[0] is not None else None
               for r in self.db.execute(
                   "SELECT p.result FROM deps d JOIN jobs p ON p.id=d.dep_id "
                   "WHERE d.job_id=? ORDER BY d.idx", (row["id"],))]
        return dict(id=row["id"], type=row["type"], token=token,
                    args=json.loads(row["args"]), dynamic_args=dyn)

    def take_internal(self, jtype):
        """The oldest ready job of a kind the queue runs itself (no worker,
        no token), marked running: (id, args, dynamic_args) or None."""
        with self.cv:
            row = self.db.execute(
                "SELECT * FROM jobs j WHERE state=? AND type=? AND NOT EXISTS "
                "(SELECT 1 FROM deps d JOIN jobs p ON p.id=d.dep_id "
                " WHERE d.job_id=j.id AND p.state NOT IN (?,?)) "
                "ORDER BY seq LIMIT 1",
                (PENDING, jtype, SUCCESS, FAILURE)).fetchone()
            if row is None:
                return None
            with self.tx():
                self.db.execute("UPDATE jobs SET state=?, started=? WHERE "
                                "id=?", (RUNNING, time.time(), row["id"]))
                self._event(row["id"], "started", {"by": "queue"})
            dyn = [json.loads(r[0]) if r[0] is not None else None
                   for r in self.db.execute(
                       "SELECT p.result FROM deps d JOIN jobs p ON "
                       "p.id=d.dep_id WHERE d.job_id=? ORDER BY d.idx",
                       (row["id"],))]
            return row["id"], json.loads(row["args"]), dyn

    def finish_internal(self, job_id, result):
        with self.cv:
            j = self._job(job_id)
            if j is None or j["state"] != RUNNING:
                return      # canceled meanwhile
            state = FAILURE if result_failed(result) else SUCCESS
            with self.tx():
                self.db.execute(
                    "UPDATE jobs SET state=?, finished=?, result=? WHERE id=?",
                    (state, time.time(), json.dumps(result), job_id))
                self._event(job_id, "finished", {"state": state,
                                                 "by": "queue"})
            self.cv.notify_all()

    def requeue_unclaimed(self, token):
        """The client of a long poll vanished right after a job was taken
        for it: give the job back as if never dequeued."""
        with self.cv:
            j = self.db.execute("SELECT * FROM jobs WHERE token=? AND state=?",
                                (token, RUNNING)).fetchone()
            if j is not None:
                self._to_pending(j, "undelivered", 0)

    def _to_pending(self, j, why, count):
        """Back to the queue; the token dies, the next dequeue makes one."""
        with self.tx():
            self._retire(j["token"], why)
            self.db.execute(
                "UPDATE jobs SET state=?, started=NULL, token=NULL, "
                "worker_id=NULL, last_seen=NULL, requeues=requeues+? "
                "WHERE id=?", (PENDING, count, j["id"]))
            self._event(j["id"], why, {"old_token": j["token"],
                                       "requeues": j["requeues"] + count})
        shutil.rmtree(self.artifact_tmp_dir(j["token"]), ignore_errors=True)
        self.cv.notify_all()

    def live_token(self, token):
        """(job row) for a token that still maps to its job, else None."""
        row = self.db.execute("SELECT job_id FROM tokens WHERE token=? AND "
                              "retired IS NULL", (token,)).fetchone()
        return None if row is None else self._job(row[0])

    def heartbeat(self, token):
        """GET /jobs/{token}: None for an unknown token, else canceled."""
        now = time.time()
        with self.cv:
            j = self.live_token(token)
            if j is None:
                return None
            with self.tx():
                self.db.execute("INSERT INTO heartbeats VALUES (?,?,?)",
                                (j["id"], token, now))
                if j["state"] == RUNNING:
                    self.db.execute("UPDATE jobs SET last_seen=? WHERE id=?",
                                    (now, j["id"]))
            return j["state"] == CANCELED

    def update(self, token, body, partial_ok):
        """PATCH /jobs/{token}; returns the job's type. Raises
        StoreError('no-token'|'canceled'|'not-running')."""
        with self.cv:
            j = self.live_token(token)
            if j is None:
                raise StoreError("no-token")
            # As composer's job queues (fs and db): canceled is checked
            # first and is not "not running" to its API, but a failure.
            if j["state"] == CANCELED:
                raise StoreError("canceled")
            if j["state"] != RUNNING:
                raise StoreError("not-running")
            if partial_ok and "result" not in body and "partial" in body:
                with self.tx():
                    self.db.execute("UPDATE jobs SET partial=?, partial_ts=? "
                                    "WHERE id=?",
                                    (json.dumps(body["partial"]), time.time(),
                                     j["id"]))
                    self._event(j["id"], "partial")
                self.cv.notify_all()
                return j["type"]
            # An old server decodes only "result": anything else is a null
            # final result.
            self._finish(j, token, body.get("result"), "finished")
            self.cv.notify_all()
            return j["type"]

    def _finish(self, j, token, result, why):
        state = FAILURE if result_failed(result) else SUCCESS
        with self.tx():
            self._retire(token, why)
            self.db.execute(
                "UPDATE jobs SET state=?, finished=?, result=? WHERE id=?",
                (state, time.time(), json.dumps(result), j["id"]))
            self._event(j["id"], "finished", {"state": state, "by": why})
        # Like composer: what was uploaded under the final token becomes the
        # job's artifacts.
        src, dst = self.artifact_tmp_dir(token), self.artifact_dir(j["id"])
        if os.path.isdir(src):
            shutil.rmtree(dst, ignore_errors=True)
            os.rename(src, dst)

    def check_heartbeats(self):
        """Requeue (new token next time) or fail jobs whose worker went
        silent; forget silent workers. Returns the ids acted on."""
        now = time.time()
        acted = []
        with self.cv:
            stale = self.db.execute(
                "SELECT * FROM jobs WHERE state=? AND last_seen < ?",
                (RUNNING, now - self.heartbeat_timeout)).fetchall()
            for j in stale:
                token = j["token"]
                if j["requeues"] >= self.max_requeues:
                    reason = ("no heartbeat from the worker for %gs; the job "
                              "was requeued %d times already" %
                              (self.heartbeat_timeout, j["requeues"]))
                    self._finish(j, token,
                                 {"job_error": {"id": 27, "reason": reason}},
                                 "heartbeat")
                else:
                    self._to_pending(j, "requeued", 1)
                acted.append(j["id"])
            with self.tx():
                self._forget_workers(now)
            if acted:
                self.cv.notify_all()
        return acted

    def close(self):
        with self.cv:
            self.db.close()
