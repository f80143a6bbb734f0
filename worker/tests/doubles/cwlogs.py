# TEST DOUBLE of the CloudWatch Logs API (JSON protocol); no cloud here.
"""CloudWatch Logs as the log shipper sees it: CreateLogStream and
PutLogEvents over the JSON protocol (POST /, X-Amz-Target
Logs_20140328.<Operation>, Content-Type application/x-amz-json-1.1),
following AWS's documented behaviour:

- every request's SigV4 signature is checked (service "logs", the given
  region) with the project's verifier; failures answer 400
  InvalidSignatureException / UnrecognizedClientException as AWS does;
- CreateLogStream: ResourceNotFoundException when the group does not
  exist, ResourceAlreadyExistsException when the stream does;
- PutLogEvents: ResourceNotFoundException for a missing group or stream;
  InvalidParameterException when a batch breaks a limit: 1 to 10,000
  events, at most 1,048,576 bytes (each event's UTF-8 message size + 26),
  each event at most 256 KiB, empty messages, events not in chronological
  order, or a batch spanning more than 24 h; events older than 14 days or
  more than 2 h ahead are not stored and reported in rejectedLogEventsInfo
  (the call still succeeds); sequence tokens are ignored.

A test can make the next calls fail (fail(status, code, n)), deny access,
remove the group, and reads what was stored and how many calls came."""

import json
import threading
import time
import uuid

import loopback
import sigv4
from loopback import Refused

MAX_EVENTS = 10000
MAX_BYTES = 1048576
OVERHEAD = 26
MAX_EVENT = 256 * 1024
DAY_MS = 24 * 3600 * 1000


class CloudWatchLogs(loopback.Service):
    """One account's log groups; secrets: access key -> (secret, token)."""

    def __init__(self, secrets, region="eu-test-1", groups=("/ib-worker/t",)):
        self.secrets = dict(secrets)
        self.region = region
        self.lock = threading.Lock()
        self.groups = {g: {} for g in groups}   # group -> stream -> events
        self.calls = []          # (operation, ok, code)
        self.faults = []         # [status, code, op] for the next calls
        self.denied = False
        self.bodies_seen = 0
        self.serve(suffix="/")

    # -- what a test does
    def fail(self, status, code, n=1, op="PutLogEvents"):
        """The next n calls of op (None: any) fail with status, code."""
        with self.lock:
            self.faults.extend([[status, code, op]] * n)

    def events(self, group=None, stream=None):
        """[(timestamp, message)] of one stream (the only one by default)."""
        with self.lock:
            streams = self.groups[group or next(iter(self.groups))]
            if stream is None:
                out = []
                for evs in streams.values():
                    out.extend(evs)
                return list(out)
            return list(streams.get(stream, []))

    def streams(self, group=None):
        with self.lock:
            return sorted(self.groups[group or next(iter(self.groups))])

    def count(self, op=None, ok=None):
        with self.lock:
            return len([c for c in self.calls
                        if (op is None or c[0] == op) and
                        (ok is None or c[1] == ok)])

    # -- the API
    def _reply(self, h, status, obj, code=None):
        headers = [("x-amzn-RequestId", str(uuid.uuid4()))]
        if code:
            headers.append(("x-amzn-ErrorType", code + ":"))
        h.send(status, json.dumps(obj), "application/x-amz-json-1.1",
               headers)

    def _handle(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n)
        target = h.headers.get("X-Amz-Target", "")
        op = target.split(".", 1)[1] if target.startswith(
            "Logs_20140328.") else ""
        try:
            _, why = sigv4.verify_request(
                "POST", h.path, list(h.headers.items()), body,
                self.secrets, self.region, "logs")
            if why is not None:
                code = why.split(":")[0]
                if code == "InvalidAccessKeyId":
                    raise Refused(400, "UnrecognizedClientException",
                               "The security token included in the "
                               "request is invalid.")
                raise Refused(400, "InvalidSignatureException", why)
            if h.headers.get("Content-Type") != \
                    "application/x-amz-json-1.1":
                raise Refused(400, "SerializationException",
                           "not application/x-amz-json-1.1")
            fn = getattr(self, "_op_" + op, None)
            if fn is None:
                raise Refused(400, "UnknownOperationException", target)
            try:
                req = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise Refused(400, "SerializationException", "not JSON")
            with self.lock:
                for i, (status, code, fop) in enumerate(self.faults):
                    if fop is None or fop == op:
                        del self.faults[i]
                        raise Refused(status, code, "injected by the test")
                if self.denied:
                    raise Refused(400, "AccessDeniedException",
                               "User is not authorized to perform: "
                               "logs:%s" % op)
                out = fn(req)
                self.calls.append((op, True, None))
            self._reply(h, 200, out)
        except Refused as e:
            with self.lock:
                self.calls.append((op, False, e.code))
            self._reply(h, e.status, {"__type": e.code,
                                      "message": e.message}, e.code)

    def _stream(self, req, create=False):
        g = req.get("logGroupName")
        s = req.get("logStreamName")
        if not isinstance(g, str) or not isinstance(s, str) or not s or \
                len(s) > 512 or ":" in s or "*" in s:
            raise Refused(400, "InvalidParameterException",
                       "1 validation error detected: logStreamName")
        if g not in self.groups:
            raise Refused(400, "ResourceNotFoundException",
                       "The specified log group does not exist.")
        streams = self.groups[g]
        if create:
            if s in streams:
                raise Refused(400, "ResourceAlreadyExistsException",
                           "The specified log stream already exists")
            streams[s] = []
            return None
        if s not in streams:
            raise Refused(400, "ResourceNotFoundException",
                       "The specified log stream does not exist.")
        return streams[s]

    def _op_CreateLogStream(self, req):
        self._stream(req, create=True)
        return {}

    def _op_PutLogEvents(self, req):
        events = req.get("logEvents")
        if not isinstance(events, list) or not 1 <= len(events) <= \
                MAX_EVENTS:
            raise Refused(400, "InvalidParameterException",
                       "logEvents must hold 1 to 10000 events")
        size, last = 0, None
        for e in events:
            m, t = e.get("message"), e.get("timestamp")
            if not isinstance(m, str) or not m or not isinstance(t, int):
                raise Refused(400, "InvalidParameterException",
                           "each event needs a message and a timestamp")
            es = len(m.encode("utf-8")) + OVERHEAD
            if es > MAX_EVENT:
                raise Refused(400, "InvalidParameterException",
                           "Log event too large: %d bytes exceeds limit "
                           "of 262144" % es)
            size += es
            if last is not None and t < last:
                raise Refused(400, "InvalidParameterException",
                           "Log events in a single PutLogEvents request "
                           "must be in chronological order.")
            last = t
        if size > MAX_BYTES:
            raise Refused(400, "InvalidParameterException",
                       "Upload too large: %d bytes exceeds limit of "
                       "1048576" % size)
        if events[-1]["timestamp"] - events[0]["timestamp"] > DAY_MS:
            raise Refused(400, "InvalidParameterException",
                       "The batch of log events in a single PutLogEvents "
                       "request cannot span more than 24 hours.")
        stream = self._stream(req)
        now = int(time.time() * 1000)
        out, too_old, too_new = {}, None, None
        for i, e in enumerate(events):
            if e["timestamp"] < now - 14 * DAY_MS:
                too_old = i
            elif e["timestamp"] > now + 2 * 3600 * 1000:
                too_new = i if too_new is None else too_new
            else:
                stream.append((e["timestamp"], e["message"]))
        if too_old is not None or too_new is not None:
            info = {}
            if too_old is not None:
                info["tooOldLogEventEndIndex"] = too_old
            if too_new is not None:
                info["tooNewLogEventStartIndex"] = too_new
            out["rejectedLogEventsInfo"] = info
        out["nextSequenceToken"] = uuid.uuid4().hex
        return out
