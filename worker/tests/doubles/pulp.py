# Test double of a Pulp 3 server with the pulp_ostree plugin (pulpcore is
# not packaged in Debian, so no real one can run here). One loopback server.
"""It speaks Pulp's REST shapes under /pulp/api/v3/ and checks what Pulp
checks: HTTP basic authentication (401 {"detail": ...}), chunked uploads
(multipart/form-data "file" field, Content-Range "bytes A-B/*" inside the
announced size, the chunk's "sha256" field, the whole file's SHA-256 on
commit), unique repository names and distribution base paths (400 with
the field's message), import_all's artifact and repository_name (the
archive must be a tar holding that directory with an ostree config, as
pulp_ostree's importer reads it). Asynchronous calls answer 202 with a
task that is "waiting", then "running", then ends. Faults: `unavailable`
(503s before any answer), `import_error` (the import task fails with
that description)."""

import base64
import hashlib
import io
import json
import re
import tarfile
import threading
import urllib.parse
import uuid

import loopback

API = "/pulp/api/v3/"


def parse_multipart(ctype, body):
    """The fields of a multipart/form-data body: {name: bytes}."""
    m = re.match(r'multipart/form-data;\s*boundary="?([^";]+)"?$', ctype)
    if not m:
        raise ValueError("not multipart/form-data: %r" % ctype)
    b = b"--" + m.group(1).encode()
    parts = body.split(b"\r\n" + b)
    if not body.startswith(b) or not parts[-1].startswith(b"--"):
        raise ValueError("malformed multipart body")
    first = parts[0][len(b):]
    fields = {}
    for part in [first] + parts[1:-1]:
        if not part.startswith(b"\r\n"):
            raise ValueError("malformed part")
        head, _, data = part[2:].partition(b"\r\n\r\n")
        n = re.search(rb'name="([^"]+)"', head)
        if not n:
            raise ValueError("part without a name")
        fields[n.group(1).decode()] = data
    return fields


class PulpDouble(loopback.Service):
    def __init__(self, username, password, task_polls=2):
        self.username = username
        self.password = password
        self.task_polls = task_polls
        self.lock = threading.RLock()
        self.repos = {}          # href -> {"name", "imports": [artifact]}
        self.distributions = {}  # href -> record
        self.uploads = {}        # href -> {"size", "chunks": {off: bytes}}
        self.artifacts = {}      # href -> bytes
        self.tasks = {}          # href -> {"polls", "final"}
        self.log = []            # (method, path, status)
        self.chunk_puts = 0
        self.unavailable = 0
        self.import_error = None
        self.serve(("GET", "POST", "PUT", "DELETE"))

    # ---- plumbing ----

    def _handle(self, h):
        body = h.body()
        try:
            status, doc = self.route(h, body)
        except loopback.Refused as r:
            status, doc = r.status, r.message
        except Exception as ex:  # a bug in the double: say so
            status, doc = 500, {"detail": "double: %r" % ex}
        with self.lock:
            self.log.append((h.command, h.path, status))
        h.json(status, doc)

    def count(self, method, pattern, status=None):
        with self.lock:
            return sum(1 for m, p, s in self.log if m == method and
                       re.search(pattern, p) and
                       (status is None or s == status))

    def _href(self, kind):
        return "%s%s/%s/" % (API, kind, uuid.uuid4())

    def _task(self, final):
        href = self._href("tasks")
        self.tasks[href] = {"polls": 0, "final": final}
        return 202, {"task": href}

    @staticmethod
    def _bad(field, msg):
        return loopback.Refused(400, None, {field: [msg]})

    # ---- routes ----

    def route(self, h, body):
        if self.unavailable > 0:
            with self.lock:
                self.unavailable -= 1
            return 503, {"detail": "Service Unavailable"}
        auth = h.headers.get("Authorization") or ""
        want = base64.b64encode(("%s:%s" % (self.username, self.password))
                                .encode()).decode()
        if auth != "Basic " + want:
            return 401, {"detail": "Invalid username/password."}
        u = urllib.parse.urlsplit(h.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        path, m = u.path, h.command
        with self.lock:
            if path.startswith(API + "tasks/") and m == "GET":
                return self.task(path)
            if path == API + "repositories/ostree/ostree/":
                if m == "GET":
                    return 200, self.page([
                        dict(name=r["name"], pulp_href=k)
                        for k, r in self.repos.items()
                        if "name" not in q or r["name"] == q["name"]])
                if m == "POST":
                    return self.repo_create(h, body)
            if path == API + "distributions/ostree/ostree/":
                if m == "GET":
                    return 200, self.page([
                        d for d in self.distributions.values()
                        if "repository" not in q or
                        d["repository"] == q["repository"]])
                if m == "POST":
                    return self.distribute(h, body)
            if path == API + "uploads/" and m == "POST":
                size = self.jbody(h, body).get("size")
                if not isinstance(size, int) or size <= 0:
                    raise self._bad("size", "A valid integer is required.")
                href = self._href("uploads")
                self.uploads[href] = {"size": size, "chunks": {}}
                return 201, {"pulp_href": href, "size": size}
            if path in self.uploads and m == "PUT":
                return self.chunk(h, path, body)
            if path.endswith("/commit/") and m == "POST" and \
                    path[:-len("commit/")] in self.uploads:
                return self.commit(h, path[:-len("commit/")], body)
            if path.endswith("/import_all/") and m == "POST" and \
                    path[:-len("import_all/")] in self.repos:
                return self.import_all(h, path[:-len("import_all/")], body)
        return 404, {"detail": "Not found."}

    @staticmethod
    def page(results):
        return {"count": len(results), "next": None, "previous": None,
                "results": results}

    @staticmethod
    def jbody(h, body):
        if (h.headers.get("Content-Type") or "").split(";")[0] != \
                "application/json":
            raise loopback.Refused(415, None, {
                "detail": "Unsupported media type in request."})
        return json.loads(body)

    def task(self, href):
        t = self.tasks.get(href)
        if t is None:
            return 404, {"detail": "Not found."}
        t["polls"] += 1
        doc = {"pulp_href": href, "state": "waiting", "error": None,
               "created_resources": []}
        if t["polls"] > self.task_polls:
            state, extra = t["final"]()
            doc.update(extra)
            doc["state"] = state
            t["final"] = lambda: (state, extra)
        elif t["polls"] > 1:
            doc["state"] = "running"
        return 200, doc

    def repo_create(self, h, body):
        d = self.jbody(h, body)
        name = d.get("name")
        if not name:
            raise self._bad("name", "This field is required.")
        if any(r["name"] == name for r in self.repos.values()):
            raise self._bad("name", "This field must be unique.")
        href = self._href("repositories/ostree/ostree")
        self.repos[href] = {"name": name, "imports": []}
        return 201, {"pulp_href": href, "name": name}

    def distribute(self, h, body):
        d = self.jbody(h, body)
        for f in ("name", "base_path"):
            if not d.get(f):
                raise self._bad(f, "This field is required.")
        if d.get("repository") not in self.repos:
            raise self._bad("repository", "Invalid hyperlink - Object "
                            "does not exist.")
        for o in self.distributions.values():
            if o["base_path"] == d["base_path"]:
                raise self._bad("base_path", "Overlaps with existing "
                                "distribution '%s'" % o["name"])
        href = self._href("distributions/ostree/ostree")
        rec = {"pulp_href": href, "name": d["name"],
               "base_path": d["base_path"], "repository": d["repository"],
               "base_url": "%s/pulp/content/%s/" % (self.url,
                                                    d["base_path"])}

        def final():
            self.distributions[href] = rec
            return "completed", {"created_resources": [href]}
        return self._task(final)

    def chunk(self, h, href, body):
        up = self.uploads[href]
        m = re.match(r"bytes (\d+)-(\d+)/\*$",
                     h.headers.get("Content-Range") or "")
        if not m:
            raise loopback.Refused(400, None, {
                "detail": "Content-Range header is missing or malformed"})
        a, b = int(m.group(1)), int(m.group(2))
        fields = parse_multipart(h.headers.get("Content-Type") or "", body)
        data = fields.get("file")
        if data is None:
            raise self._bad("file", "No file was submitted.")
        if b < a or b >= up["size"] or len(data) != b - a + 1:
            raise self._bad("file", "The chunk does not fit the upload's "
                            "size or its Content-Range.")
        if "sha256" in fields and \
                fields["sha256"].decode() != hashlib.sha256(data).hexdigest():
            raise self._bad("sha256", "The uploaded chunk's checksum "
                            "does not match.")
        up["chunks"][a] = data
        self.chunk_puts += 1
        return 200, {"pulp_href": href, "size": up["size"]}

    def commit(self, h, href, body):
        up = self.uploads[href]
        want = self.jbody(h, body).get("sha256")
        data = b"".join(up["chunks"][k] for k in sorted(up["chunks"]))
        offs, at = sorted(up["chunks"]), 0
        for o in offs:
            if o != at:
                break
            at += len(up["chunks"][o])

        def final():
            if at != up["size"] or len(data) != up["size"]:
                return "failed", {"error": {"description":
                                            "The upload is incomplete."}}
            if hashlib.sha256(data).hexdigest() != want:
                return "failed", {"error": {"description":
                                            "The provided sha256 does not "
                                            "match the file's."}}
            art = self._href("artifacts")
            self.artifacts[art] = data
            del self.uploads[href]
            return "completed", {"created_resources": [art]}
        return self._task(final)

    def import_all(self, h, repo, body):
        d = self.jbody(h, body)
        art = d.get("artifact")
        if art not in self.artifacts:
            raise self._bad("artifact", "Invalid hyperlink - Object does "
                            "not exist.")
        name = d.get("repository_name")
        if not name:
            raise self._bad("repository_name", "This field is required.")

        def final():
            if self.import_error:
                return "failed", {"error": {"description":
                                            self.import_error}}
            try:
                with tarfile.open(fileobj=io.BytesIO(self.artifacts[art])) \
                        as tf:
                    names = tf.getnames()
            except tarfile.TarError:
                return "failed", {"error": {"description":
                                            "not a tar archive"}}
            if name + "/config" not in names:
                return "failed", {"error": {"description":
                                            "the archive holds no ostree "
                                            "repository named %s" % name}}
            self.repos[repo]["imports"].append(art)
            return "completed", {"created_resources": [repo + "versions/%d/"
                                 % len(self.repos[repo]["imports"])]}
        return self._task(final)
