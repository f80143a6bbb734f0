# TEST DOUBLE of CloudWatch's PutMetricData (Query API); no cloud here.
"""CloudWatch as ib-backlog uses it, on loopback. Every request's SigV4
signature is checked (service "monitoring", the expected region) with the
project's verifier in worker/tests/doubles/sigv4.py; the form is read and
checked as CloudWatch does (namespace, up to 1000 members, names, numeric
values, units, dimensions) and each datapoint is recorded. A test can ask
for throttling answers or refuse every call."""

import calendar
import threading
import time
import urllib.parse
import uuid

import loopback
import sigv4
from loopback import Refused

NS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
UNITS = {"Seconds", "Bytes", "Percent", "Count", "Count/Second", "None"}


class CloudWatch(loopback.Service):
    def __init__(self, secrets, region="eu-test-1"):
        self.secrets = secrets          # access key -> (secret, token)
        self.region = region
        self.lock = threading.Lock()
        self.points = []                # dicts, in arrival order
        self.rejected = []
        self.calls = 0
        self.throttle = 0               # answer this many with Throttling
        self.refuse = False             # answer AccessDenied
        self.serve(suffix="/")

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
                raise Refused(403, why.split(":")[0], why)
            with self.lock:
                if self.refuse:
                    raise Refused(403, "AccessDenied", "not authorized "
                                   "to perform cloudwatch:PutMetricData")
                if self.throttle > 0:
                    self.throttle -= 1
                    raise Refused(400, "Throttling", "Rate exceeded")
            points = self._parse(body)
            with self.lock:
                self.points.extend(points)
        except Refused as e:
            with self.lock:
                self.rejected.append("%s: %s" % (e.code, e.message))
            return h.xml(e.status, (
                '<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>'
                '%s</Code><Message>%s</Message></Error><RequestId>%s'
                '</RequestId></ErrorResponse>' % (NS, e.code, e.message,
                                                  uuid.uuid4())))
        h.xml(200, (
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
                raise Refused(400, "InvalidParameterCombination", k)
            p[k] = v[0]
        if p.pop("Action", None) != "PutMetricData":
            raise Refused(400, "InvalidAction", "only PutMetricData")
        if p.pop("Version", None) != "2010-08-01":
            raise Refused(400, "MissingParameter", "Version")
        ns = p.pop("Namespace", "")
        if not 1 <= len(ns) <= 255 or ns.startswith("AWS/"):
            raise Refused(400, "InvalidParameterValue", "Namespace")
        members = {}
        for k, v in p.items():
            parts = k.split(".")
            if parts[:2] != ["MetricData", "member"] or len(parts) < 4:
                raise Refused(400, "InvalidParameterValue", k)
            members.setdefault(int(parts[2]), {})[".".join(parts[3:])] = v
        if not 1 <= len(members) <= 1000 or \
                sorted(members) != list(range(1, len(members) + 1)):
            raise Refused(400, "InvalidParameterValue", "members")
        out = []
        for i in sorted(members):
            m = members[i]
            name = m.pop("MetricName", "")
            if not 1 <= len(name) <= 255:
                raise Refused(400, "MissingParameter", "MetricName")
            try:
                value = float(m.pop("Value"))
            except (KeyError, ValueError):
                raise Refused(400, "InvalidParameterValue", "Value")
            unit = m.pop("Unit", "None")
            if unit not in UNITS:
                raise Refused(400, "InvalidParameterValue", "Unit")
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
                raise Refused(400, "InvalidParameterValue", str(sorted(m)))
            out.append({"namespace": ns, "name": name, "value": value,
                        "unit": unit, "timestamp": when,
                        "dimensions": dims})
        return out
