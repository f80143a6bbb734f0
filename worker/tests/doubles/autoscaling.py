# TEST DOUBLE of the EC2 Auto Scaling Query API and of one instance's metadata; no cloud here.
"""One instance in one Auto Scaling group, as the worker sees it.

The instance's IMDS is the shared IMDSv2 double (imds.py); it serves the
instance id, the region, the instance role's credentials, the group's name
tag (only when instance metadata tags are enabled) and
autoscaling/target-lifecycle-state.

The Auto Scaling API checks every request's SigV4 signature (service
"autoscaling", the instance's region) with the project's verifier, records
the calls, and follows AWS's rules for this instance: protection only while
it is InService, heartbeats and CompleteLifecycleAction only while a
lifecycle action is waiting (Terminating:Wait), for the group's hook.
A test moves the instance with terminate() or warm()."""

import threading
import time
import urllib.parse
import uuid

import loopback
import sigv4
from imds import ImdsDouble, role_paths
from loopback import Refused, esc

NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"


class Fleet(loopback.Service):
    """The instance, its group, the IMDS and the Auto Scaling API."""

    def __init__(self, group="ib-fleet", hook="ib-fleet-drain",
                 region="eu-test-1", tags_in_metadata=True):
        self.group, self.hook, self.region = group, hook, region
        self.instance_id = "i-0123456789abcdef0"
        self.tags_in_metadata = tags_in_metadata
        self.role = "ib-fleet-instance"
        self.access_key = "ASIAFLEETDOUBLE00001"
        self.secret = "fleet/double/secret/" + uuid.uuid4().hex
        self.session_token = "session-" + uuid.uuid4().hex
        self.lock = threading.Lock()
        self.state = "InService"            # the group's view
        self.target = "InService"           # target-lifecycle-state
        self.protected = False
        self.health = "Healthy"             # SetInstanceHealth's last word
        self.calls = []                     # (monotonic, action, params)
        self.rejected = []                  # (action, why)
        self.imds = ImdsDouble(self._metadata)
        self.imds_url = self.imds.url
        self.serve(suffix="/")
        self.api_url = self.url

    # -- what a test does
    def terminate(self):
        """Scale-in picked this instance: the termination hook waits."""
        with self.lock:
            self.state = "Terminating:Wait"
            self.target = "Terminated"

    def warm(self):
        """Scale-in sends this instance back to the warm pool."""
        with self.lock:
            self.state = "Warmed:Terminating:Wait"
            self.target = "Warmed:Stopped"

    def actions(self, name=None):
        with self.lock:
            return [(t, a, p) for t, a, p in self.calls
                    if name is None or a == name]

    @property
    def v1_attempts(self):
        return self.imds.v1_attempts

    @property
    def imds_gets(self):
        return self.imds.gets

    def stop(self):
        self.imds.stop()
        super().stop()

    # -- IMDS
    def _metadata(self, path):
        with self.lock:
            table = {
                "/latest/meta-data/instance-id": self.instance_id,
                "/latest/meta-data/placement/region": self.region,
                "/latest/meta-data/autoscaling/target-lifecycle-state":
                    self.target,
            }
            table.update(role_paths(self.role, self.access_key, self.secret,
                                    self.session_token))
            if self.tags_in_metadata:
                table["/latest/meta-data/tags/instance/"
                      "aws:autoscaling:groupName"] = self.group
        return table.get(path)

    # -- Auto Scaling
    def _handle(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n)
        params = {k: v[0] for k, v in urllib.parse.parse_qs(
            body.decode(errors="replace"), keep_blank_values=True).items()}
        action = params.pop("Action", "")
        try:
            _, why = sigv4.verify_request(
                "POST", h.path, list(h.headers.items()), body,
                {self.access_key: (self.secret, self.session_token)},
                self.region, "autoscaling")
            if why is not None:
                raise Refused(403, why.split(":")[0], why)
            ctype = h.headers.get("Content-Type", "")
            if not ctype.startswith("application/x-www-form-urlencoded"):
                raise Refused(400, "InvalidParameterValue",
                               "not a form: %s" % ctype)
            if params.pop("Version", None) != "2011-01-01":
                raise Refused(400, "MissingParameter", "Version")
            fn = getattr(self, "_a_" + action, None)
            if fn is None:
                raise Refused(400, "InvalidAction", action)
            with self.lock:
                self.calls.append((time.monotonic(), action, params))
                fn(params)
        except Refused as e:
            with self.lock:
                self.rejected.append((action, "%s: %s" % (e.code,
                                                          e.message)))
            return h.xml(e.status, (
                '<ErrorResponse xmlns="%s"><Error><Type>Sender</Type>'
                '<Code>%s</Code><Message>%s</Message></Error><RequestId>'
                '%s</RequestId></ErrorResponse>' % (
                    NS, e.code, esc(e.message), uuid.uuid4())))
        h.xml(200, (
            '<%sResponse xmlns="%s"><%sResult/><ResponseMetadata>'
            '<RequestId>%s</RequestId></ResponseMetadata></%sResponse>' % (
                action, NS, action, uuid.uuid4(), action)))

    def _own(self, p, instance_key):
        if p.get("AutoScalingGroupName") != self.group:
            raise Refused(400, "ValidationError", "AutoScalingGroup name "
                           "not found - %s" % p.get("AutoScalingGroupName"))
        if p.get(instance_key) != self.instance_id:
            raise Refused(400, "ValidationError", "The instance %s is not "
                           "part of Auto Scaling group %s." % (
                               p.get(instance_key), self.group))

    def _waiting(self, p):
        self._own(p, "InstanceId")
        if p.get("LifecycleHookName") != self.hook:
            raise Refused(400, "ValidationError", "No Lifecycle Hook "
                           "found with name %s" % p.get("LifecycleHookName"))
        if not self.state.endswith("Terminating:Wait"):
            raise Refused(400, "ValidationError", "No active Lifecycle "
                           "Action found with instance ID %s" %
                           self.instance_id)

    def _a_SetInstanceProtection(self, p):
        self._own(p, "InstanceIds.member.1")
        if "InstanceIds.member.2" in p:
            raise Refused(400, "ValidationError", "only this instance")
        v = p.get("ProtectedFromScaleIn")
        if v not in ("true", "false"):
            raise Refused(400, "ValidationError", "ProtectedFromScaleIn")
        if self.state != "InService":
            raise Refused(400, "ValidationError", "The instance %s is not "
                           "in InService or EnteringStandby or Standby." %
                           self.instance_id)
        self.protected = v == "true"

    def _a_SetInstanceHealth(self, p):
        # AWS takes any instance id of the account; this one only knows its
        # own, and answers as AWS does for others.
        if p.get("InstanceId") != self.instance_id:
            raise Refused(400, "ValidationError", "Instance Id not found "
                           "- No managed instance found for instance ID: "
                           "%s" % p.get("InstanceId"))
        if p.get("HealthStatus") not in ("Healthy", "Unhealthy"):
            raise Refused(400, "ValidationError", "HealthStatus")
        if p.get("ShouldRespectGracePeriod", "true") not in ("true",
                                                             "false"):
            raise Refused(400, "ValidationError", "ShouldRespectGracePeriod")
        self.health = p["HealthStatus"]

    def _a_RecordLifecycleActionHeartbeat(self, p):
        self._waiting(p)

    def _a_CompleteLifecycleAction(self, p):
        self._waiting(p)
        if p.get("LifecycleActionResult") not in ("CONTINUE", "ABANDON"):
            raise Refused(400, "ValidationError", "LifecycleActionResult")
        self.state = self.state.replace("Wait", "Proceed")
