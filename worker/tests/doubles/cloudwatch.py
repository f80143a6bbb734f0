# TEST DOUBLE of CloudWatch's PutMetricData (Query API); no cloud here.
"""CloudWatch as ib-backlog uses it, on loopback. Every request's SigV4
signature is checked (service "monitoring", the expected region) with the
project's verifier in worker/tests/doubles/sigv4.py; the form is read and
checked as CloudWatch does (namespace, up to 1000 members, names, numeric
values, units, dimensions) and each datapoint is recorded. A test can ask
for throttling answers or refuse every call."""

import calendar
import http.server
import socketserver
import threading
import time
import urllib.parse
import uuid

import sigv4

NS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
UNITS = {"Seconds", "Bytes", "Percent", "Count", "Count/Second", "None"}


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Refused(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class CloudWatch:
    def __init__(self, secrets, region="eu-test-1"):
        self.secrets = secrets          # access key -> (secret, token)
        self.region = region
        self.lock = threading.Lock()
        self.points = []                # dicts, in arrival order
        self.rejected = []
        self.calls = 0
        self.throttle = 0               # answer this many with Throttling
        self.refuse = False             # answer AccessDenied
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                outer._handle(self)

        self.server = _Server(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def _reply(self, h, status, body):
        b = body.encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/xml")
        h.send_header("Content-Length", str(len(b)))
        h.end_headers()
        h.wfile.write(b)

    def _handle(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n)
        try:
            with self.lock:
                self.calls += 1
            _, why = sigv4.verify_request(
                "POST", h.path, list(h.headers.items()), body, self.secrets,
                self.region, "monitoring")
            if why is not None:
                raise _Refused(403, why.split(":")[0], why)
            with self.lock:
                if self.refuse:
                    raise _Refused(403, "AccessDenied", "not authorized "
                                   "to perform cloudwatch:PutMetricData")
                if self.throttle > 0:
                    self.throttle -= 1
                    raise _Refused(400, "Throttling", "Rate exceeded")
            points = self._parse(body)
            with self.lock:
                self.points.extend(points)
        except _Refused as e:
            with self.lock:
                self.rejected.append("%s: %s" % (e.code, e.message))
            return self._reply(h, e.status, (
                '<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>'
                '%s</Code><Message>%s</Message></Error><RequestId>%s'
                '</RequestId></ErrorResponse>' % (NS, e.code, e.message,
                                                  uuid.uuid4())))
        self._reply(h, 200, (
            '<PutMetricDataResponse xmlns="%s"><ResponseMetadata><RequestId>'
            '%s</RequestId></ResponseMetadata></PutMetricDataResponse>' % (
                NS, uuid.uuid4())))

    @staticmethod
    def _parse(body):
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True,
                                     strict_parsing=True)
        p = {}
        for k, v in form.items():
            if len(v) != 1:
                raise _Refused(400, "InvalidParameterCombination", k)
            p[k] = v[0]
        if p.pop("Action", None) != "PutMetricData":
            raise _Refused(400, "InvalidAction", "only PutMetricData")
        if p.pop("Version", None) != "2010-08-01":
            raise _Refused(400, "MissingParameter", "Version")
        ns = p.pop("Namespace", "")
        if not 1 <= len(ns) <= 255 or ns.startswith("AWS/"):
            raise _Refused(400, "InvalidParameterValue", "Namespace")
        members = {}
        for k, v in p.items():
            parts = k.split(".")
            if parts[:2] != ["MetricData", "member"] or len(parts) < 4:
                raise _Refused(400, "InvalidParameterValue", k)
            members.setdefault(int(parts[2]), {})[".".join(parts[3:])] = v
        if not 1 <= len(members) <= 1000 or \
                sorted(members) != list(range(1, len(members) + 1)):
            raise _Refused(400, "InvalidParameterValue", "members")
        out = []
        for i in sorted(members):
            m = members[i]
            name = m.pop("MetricName", "")
            if not 1 <= len(name) <= 255:
                raise _Refused(400, "MissingParameter", "MetricName")
            try:
                value = float(m.pop("Value"))
            except (KeyError, ValueError):
                raise _Refused(400, "InvalidParameterValue", "Value")
            unit = m.pop("Unit", "None")
            if unit not in UNITS:
                raise _Refused(400, "InvalidParameterValue", "Unit")
            ts = m.pop("Timestamp", None)
            when = time.time()
            if ts is not None:
                when = calendar.timegm(time.strptime(
                    ts, "%Y-%m-%dT%H:%M:%SZ"))
            dims = {}
            j = 1
            while "Dimensions.member.%d.Name" % j in m:
                dims[m.pop("Dimensions.member.%d.Name" % j)] = \
                    m.pop("Dimensions.member.%d.Value" % j, "")
                j += 1
            if m:
                raise _Refused(400, "InvalidParameterValue", str(sorted(m)))
            out.append({"namespace": ns, "name": name, "value": value,
                        "unit": unit, "timestamp": when,
                        "dimensions": dims})
        return out
