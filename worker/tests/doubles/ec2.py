# TEST DOUBLE of the EC2 Query API; no cloud here.
"""EC2 as the worker uses it, on loopback. Every request's SigV4 signature
is checked (service ec2, the region of the credential scope); answers have
EC2's XML shapes. Import tasks follow EC2's state machine (active with
status messages, then completed with a snapshot, or deleted with a
StatusMessage); ImportSnapshot reads the object from the S3 server as EC2
would, and answers ResourceLimitExceeded past the concurrent-import limit.
Images are deregistered as EC2 does (a deregistered id answers
InvalidAMIID.Unavailable) and a snapshot in use by a registered image cannot
be deleted (InvalidSnapshot.InUse). Tests can ask for throttling
(RequestLimitExceeded), import failures, any action failing with a given
EC2 error (fail()) and any action's answer held back (hold()).
For the retention clean-up: DescribeImages without ids lists the account's
own images (Owner=self) through its Filter.N (tag-key, tag:KEY, name) with
creationDate and tagSet, MaxResults/NextToken pages (MaxResults 5 to 1000,
as EC2 checks); DescribeRegions answers the enabled regions; add_image()
seeds an image and its snapshot with a given creation time.
For the aws.ec2 osbuild executor: RunInstances (its parameters kept, tags
from TagSpecification), DescribeInstances by InstanceId.N or by Filter.N
(tag:KEY, instance-state-name) with instanceState first in each item, and
TerminateInstances, in EC2's states (pending, running after boot_delay
seconds, shutting-down, terminated); an instance's privateIpAddress is
instance_ip (a test's loopback agent stands in for it); kill() terminates
one as EC2 would on its own (a spot reclaim, an operator).
The instance metadata service is imds.py."""

import hashlib
import itertools
import threading
import time
import urllib.parse
import urllib.request
import uuid

import loopback
import sigv4
from loopback import Refused, esc

NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def _now_iso(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                         time.gmtime(time.time() if t is None else t))


def _id(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:17])


class EC2Double(loopback.Service):
    def __init__(self, secrets, s3_url, bucket_region="us-east-1"):
        self.secrets = secrets      # access key -> (secret, token)
        self.s3_url = s3_url        # where UserBucket objects are read
        self.lock = threading.Lock()
        self.calls = []             # (region, action, params)
        self.rejected = []
        self.throttle = 0           # answer this many with a throttle
        self.throttle_code = "RequestLimitExceeded"
        self.import_limit = 20
        self.limit_busy = 0         # refuse this many ImportSnapshot calls
        self.import_mode = "ok"     # ok | fail | hang
        self.fail_message = ("ClientError: Disk validation failed "
                             "[Unsupported specified file format]")
        self.steps = 2              # describes before an import ends
        self.faults = []            # see fail()
        self.holds = {}             # action -> threading.Event, see hold()
        self.tasks = {}
        self.snapshots = {}
        self.images = {}            # registered (and pending/available)
        self.deregistered = {}
        self.seq = itertools.count(1)
        self.regions = ["us-east-1", "eu-west-1"]   # enabled ones
        self.pages = {}             # NextToken -> remaining image ids
        self.page_cap = 1000        # images per DescribeImages page
        self.instances = {}         # id -> {state, since, params, tags}
        self.boot_delay = 0.5       # s from pending to running
        self.instance_ip = "127.0.0.1"
        self.serve(suffix="/")

    # -- plumbing
    def _reply(self, h, status, body):
        h.send(status, body, "text/xml;charset=UTF-8")

    def _error(self, h, e):
        self._reply(h, e.status, '<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<Response><Errors><Error><Code>%s</Code><Message>%s'
                    '</Message></Error></Errors><RequestID>%s</RequestID>'
                    '</Response>' % (e.code, esc(e.message), uuid.uuid4()))

    def _handle(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n)
        headers = list(h.headers.items())
        auth = h.headers.get("Authorization", "")
        region = ""
        try:
            region = auth.split("Credential=")[1].split("/")[2]
        except IndexError:
            pass
        ak, why = sigv4.verify_request("POST", h.path, headers, body,
                                       self.secrets, region, "ec2")
        if why is not None:
            with self.lock:
                self.rejected.append(why)
            code = why.split(":")[0]
            if code in ("InvalidAccessKeyId", "MissingAuthenticationToken"):
                code = "AuthFailure"
            return self._error(h, Refused(401, code, "AWS was not able "
                               "to validate the provided access "
                               "credentials (%s)" % why))
        params = {k: v[0] for k, v in urllib.parse.parse_qs(
            body.decode(), keep_blank_values=True).items()}
        action = params.pop("Action", "")
        if params.pop("Version", None) != "2016-11-15":
            return self._error(h, Refused(400, "MissingParameter",
                                           "The request must contain the "
                                           "parameter Version"))
        with self.lock:
            self.calls.append((region, action, params))
            throttled = self.throttle > 0
            if throttled:
                self.throttle -= 1
            fault = self._fault(action, params)
            held = self.holds.get(action)
        if held is not None:
            held.wait(60)
        if throttled:
            return self._error(h, Refused(503, self.throttle_code,
                                           "Request limit exceeded."))
        if fault is not None:
            return self._error(h, fault)
        fn = getattr(self, "a_" + action, None)
        if fn is None:
            return self._error(h, Refused(400, "InvalidAction",
                                           "The action %s is not valid for "
                                           "this web service." % action))
        try:
            with self.lock:
                inner = fn(region, params)
        except Refused as e:
            return self._error(h, e)
        self._reply(h, 200, '<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<%sResponse xmlns="%s"><requestId>%s</requestId>%s'
                    '</%sResponse>' % (action, NS, uuid.uuid4(), inner,
                                       action))

    # -- fault injection
    def fail(self, action, code, message, status=400, when=None,
             times=None):
        """Answer action with this EC2 error instead of doing it, when
        when(params) is true (always if None), times times (always if
        None)."""
        with self.lock:
            self.faults.append({"action": action, "when": when,
                                "times": times,
                                "error": Refused(status, code, message)})

    def _fault(self, action, params):
        for f in self.faults:
            if f["action"] != action or f["times"] == 0:
                continue
            if f["when"] is not None and not f["when"](params):
                continue
            if f["times"] is not None:
                f["times"] -= 1
            return f["error"]
        return None

    def hold(self, action):
        """Hold back the answers to action (at most 60 s each) until the
        returned event is set."""
        ev = threading.Event()
        with self.lock:
            self.holds[action] = ev
        return ev

    def actions(self, name):
        with self.lock:
            return [p for _, a, p in self.calls if a == name]

    @staticmethod
    def _need(p, *names):
        for n in names:
            if not p.get(n):
                raise Refused(400, "MissingParameter", "The request must "
                               "contain the parameter %s" % n)

    def _list(self, p, fmt):
        out = []
        for i in itertools.count(1):
            if fmt % i not in p:
                return out
            out.append(p[fmt % i])

    # -- actions
    def a_ImportSnapshot(self, region, p):
        self._need(p, "DiskContainer.UserBucket.S3Bucket",
                   "DiskContainer.UserBucket.S3Key", "DiskContainer.Format")
        if p["DiskContainer.Format"].upper() not in ("RAW", "VHD", "VMDK"):
            raise Refused(400, "InvalidParameter", "Invalid format")
        active = sum(1 for t in self.tasks.values()
                     if t["status"] == "active")
        if self.limit_busy > 0 or active >= self.import_limit:
            self.limit_busy = max(0, self.limit_busy - 1)
            raise Refused(400, "ResourceLimitExceeded", "You have reached "
                           "the limit for concurrent import snapshot tasks "
                           "(%d)" % self.import_limit)
        bucket = p["DiskContainer.UserBucket.S3Bucket"]
        key = p["DiskContainer.UserBucket.S3Key"]
        data = None
        try:
            url = "%s/%s/%s" % (self.s3_url, bucket, urllib.parse.quote(key))
            with urllib.request.urlopen(url, timeout=60) as r:
                data = r.read()
        except OSError:
            pass
        tid = _id("import-snap")
        self.tasks[tid] = {
            "region": region, "status": "active", "message": "pending",
            "progress": "0", "bucket": bucket, "key": key, "polls": 0,
            "format": p["DiskContainer.Format"].upper(),
            "size": len(data) if data is not None else 0,
            "sha256": hashlib.sha256(data).hexdigest() if data else None,
            "fail": None if data is not None else
            "ClientError: Unable to access the S3 object s3://%s/%s" %
            (bucket, key), "snapshot": None}
        return "<description>%s</description><importTaskId>%s" \
            "</importTaskId>" % (esc(p.get("Description", "")), tid)

    def _advance(self, t):
        if t["status"] != "active" or self.import_mode == "hang":
            return
        t["polls"] += 1
        if t["polls"] < self.steps:
            # EC2's percentage grows as the conversion goes on.
            t["message"] = "converting"
            t["progress"] = str(t["polls"] * 100 // self.steps)
            return
        if t["fail"] or self.import_mode == "fail":
            t["status"], t["message"] = "deleted", (t["fail"] or
                                                    self.fail_message)
            t["progress"] = ""
            return
        sid = _id("snap")
        self.snapshots[sid] = {"region": t["region"], "tags": {},
                               "shared": [], "sha256": t["sha256"],
                               "size": t["size"]}
        t["status"], t["message"], t["snapshot"] = "completed", "", sid
        t["progress"] = ""

    def a_DescribeImportSnapshotTasks(self, region, p):
        items = []
        for tid in self._list(p, "ImportTaskId.%d"):
            t = self.tasks.get(tid)
            if t is None or t["region"] != region:
                raise Refused(400, "InvalidConversionTaskId.Malformed",
                               "The import task %s is not valid" % tid)
            self._advance(t)
            items.append(
                "<item><importTaskId>%s</importTaskId><snapshotTaskDetail>"
                "<diskImageSize>%d</diskImageSize><format>%s</format>"
                "%s<status>%s</status>%s<userBucket><s3Bucket>%s</s3Bucket>"
                "<s3Key>%s</s3Key></userBucket>%s</snapshotTaskDetail>"
                "</item>" % (
                    tid, t["size"], t["format"],
                    "<progress>%s</progress>" % t["progress"]
                    if t["progress"] else "", t["status"],
                    "<statusMessage>%s</statusMessage>" % esc(t["message"])
                    if t["message"] else "", esc(t["bucket"]),
                    esc(t["key"]), "<snapshotId>%s</snapshotId>" %
                    t["snapshot"] if t["snapshot"] else ""))
        return "<importSnapshotTaskSet>%s</importSnapshotTaskSet>" % \
            "".join(items)

    def a_CancelImportTask(self, region, p):
        self._need(p, "ImportTaskId")
        t = self.tasks.get(p["ImportTaskId"])
        if t is None:
            raise Refused(400, "InvalidConversionTaskId",
                           "no such task")
        t["status"], t["message"] = "deleted", "canceled by the user"
        return "<importTaskId>%s</importTaskId><state>deleting</state>" % \
            p["ImportTaskId"]

    # -- instances (the aws.ec2 executor)
    CODES = {"pending": 0, "running": 16, "shutting-down": 32,
             "terminated": 48, "stopping": 64, "stopped": 80}

    def _state(self, i):
        if i["state"] == "pending" and \
                time.time() - i["since"] >= self.boot_delay:
            i["state"] = "running"
        elif i["state"] == "shutting-down" and \
                time.time() - i["since"] >= 0.5:
            i["state"] = "terminated"
        return i["state"]

    def a_RunInstances(self, region, p):
        self._need(p, "ImageId", "MinCount", "MaxCount")
        if p["MinCount"] != "1" or p["MaxCount"] != "1":
            raise Refused(400, "InvalidParameterCombination",
                          "one instance expected here")
        tags = {}
        for n in itertools.count(1):
            k = "TagSpecification.1.Tag.%d.Key" % n
            if k not in p:
                break
            tags[p[k]] = p.get("TagSpecification.1.Tag.%d.Value" % n, "")
        iid = _id("i")
        self.instances[iid] = {"state": "pending", "since": time.time(),
                               "params": dict(p), "tags": tags,
                               "region": region}
        return "<instancesSet><item>%s</item></instancesSet>" % \
            self._instance_xml(iid)

    def _instance_xml(self, iid):
        i = self.instances[iid]
        st = self._state(i)
        ip = "<privateIpAddress>%s</privateIpAddress>" % \
            esc(self.instance_ip) if st == "running" else ""
        tags = "".join("<item><key>%s</key><value>%s</value></item>" % (
            esc(k), esc(v)) for k, v in i["tags"].items())
        return ("<instanceState><code>%d</code><name>%s</name>"
                "</instanceState><instanceId>%s</instanceId>"
                "<imageId>%s</imageId>%s<tagSet>%s</tagSet>" % (
                    self.CODES[st], st, iid, esc(i["params"]["ImageId"]),
                    ip, tags))

    def a_DescribeInstances(self, region, p):
        ids = self._list(p, "InstanceId.%d")
        for iid in ids:
            if iid not in self.instances:
                raise Refused(400, "InvalidInstanceID.NotFound",
                              "The instance ID '%s' does not exist" % iid)
        filters = self._filters(p)
        out = []
        for iid, i in self.instances.items():
            if ids and iid not in ids:
                continue
            ok = True
            for name, values in filters:
                if name == "instance-state-name":
                    ok = ok and self._state(i) in values
                elif name.startswith("tag:"):
                    ok = ok and i["tags"].get(name[4:]) in values
            if ok:
                out.append("<item><instancesSet><item>%s</item>"
                           "</instancesSet></item>" % self._instance_xml(iid))
        return "<reservationSet>%s</reservationSet>" % "".join(out)

    def a_TerminateInstances(self, region, p):
        out = []
        for iid in self._list(p, "InstanceId.%d"):
            i = self.instances.get(iid)
            if i is None:
                raise Refused(400, "InvalidInstanceID.NotFound",
                              "The instance ID '%s' does not exist" % iid)
            if self._state(i) not in ("shutting-down", "terminated"):
                i["state"], i["since"] = "shutting-down", time.time()
            out.append("<item><instanceId>%s</instanceId></item>" % iid)
        return "<instancesSet>%s</instancesSet>" % "".join(out)

    def kill(self, iid):
        """Terminates an instance from outside, as EC2 would."""
        with self.lock:
            i = self.instances[iid]
            i["state"], i["since"] = "shutting-down", time.time()

    def _resource(self, rid):
        return self.snapshots.get(rid) or self.images.get(rid)

    def a_CreateTags(self, region, p):
        ids = self._list(p, "ResourceId.%d")
        for rid in ids:
            if self._resource(rid) is None:
                raise Refused(400, "InvalidID", "The ID '%s' is not "
                               "valid" % rid)
        for i in itertools.count(1):
            if "Tag.%d.Key" % i not in p:
                break
            for rid in ids:
                self._resource(rid)["tags"][p["Tag.%d.Key" % i]] = \
                    p.get("Tag.%d.Value" % i, "")
        return "<return>true</return>"

    def a_RegisterImage(self, region, p):
        self._need(p, "Name", "RootDeviceName",
                   "BlockDeviceMapping.1.Ebs.SnapshotId")
        if p.get("Architecture", "i386") not in ("i386", "x86_64", "arm64"):
            raise Refused(400, "InvalidParameterValue", "bad architecture")
        bm = p.get("BootMode")
        if bm is not None and bm not in ("legacy-bios", "uefi",
                                         "uefi-preferred"):
            raise Refused(400, "InvalidParameterValue", "bad boot mode")
        sid = p["BlockDeviceMapping.1.Ebs.SnapshotId"]
        if sid not in self.snapshots:
            raise Refused(400, "InvalidSnapshot.NotFound", "The snapshot "
                           "'%s' does not exist." % sid)
        if any(i["name"] == p["Name"] and i["region"] == region
               for i in self.images.values()):
            raise Refused(400, "InvalidAMIName.Duplicate", "AMI name %s "
                           "is already in use" % p["Name"])
        ami = _id("ami")
        self.images[ami] = {"region": region, "name": p["Name"],
                            "params": dict(p), "tags": {}, "shared": [],
                            "snapshot": sid, "state": "available",
                            "polls": 0, "created": _now_iso()}
        return "<imageId>%s</imageId>" % ami

    def a_ModifySnapshotAttribute(self, region, p):
        self._need(p, "SnapshotId")
        s = self.snapshots.get(p["SnapshotId"])
        if s is None:
            raise Refused(400, "InvalidSnapshot.NotFound", "no snapshot")
        s["shared"] += self._list(p, "CreateVolumePermission.Add.%d.UserId")
        return "<return>true</return>"

    def a_ModifyImageAttribute(self, region, p):
        self._need(p, "ImageId")
        i = self.images.get(p["ImageId"])
        if i is None:
            raise Refused(400, "InvalidAMIID.NotFound", "no image")
        i["shared"] += self._list(p, "LaunchPermission.Add.%d.UserId")
        return "<return>true</return>"

    def a_DeregisterImage(self, region, p):
        self._need(p, "ImageId")
        ami = p["ImageId"]
        if not ami.startswith("ami-"):
            raise Refused(400, "InvalidAMIID.Malformed", "Invalid id: "
                           "\"%s\" (expecting \"ami-...\")" % ami)
        gone = self.deregistered.get(ami)
        if gone is not None and gone["region"] == region:
            raise Refused(400, "InvalidAMIID.Unavailable", "The image id "
                           "'[%s]' is no longer available" % ami)
        i = self.images.get(ami)
        if i is None or i["region"] != region:
            raise Refused(400, "InvalidAMIID.NotFound", "The image id "
                           "'[%s]' does not exist" % ami)
        i["state"] = "deregistered"
        self.deregistered[ami] = self.images.pop(ami)
        return "<return>true</return>"

    def a_DeleteSnapshot(self, region, p):
        self._need(p, "SnapshotId")
        sid = p["SnapshotId"]
        s = self.snapshots.get(sid)
        if s is None or s["region"] != region:
            raise Refused(400, "InvalidSnapshot.NotFound", "The snapshot "
                           "'%s' does not exist." % sid)
        users = sorted(a for a, i in self.images.items()
                       if i["snapshot"] == sid)
        if users:
            raise Refused(400, "InvalidSnapshot.InUse", "The snapshot %s "
                           "is currently in use by %s" % (sid, users[0]))
        del self.snapshots[sid]
        return "<return>true</return>"

    def a_CopyImage(self, region, p):
        self._need(p, "SourceRegion", "SourceImageId", "Name")
        src = self.images.get(p["SourceImageId"])
        if src is None or src["region"] != p["SourceRegion"]:
            raise Refused(400, "InvalidAMIID.NotFound", "The image id "
                           "'[%s]' does not exist" % p["SourceImageId"])
        ami = _id("ami")
        self.images[ami] = {"region": region, "name": p["Name"],
                            "params": dict(src["params"]), "tags": {},
                            "shared": [], "snapshot": src["snapshot"],
                            "state": "pending", "polls": 0,
                            "copied_from": p["SourceImageId"]}
        return "<imageId>%s</imageId>" % ami

    def add_image(self, region, name, created, tags=None):
        """An available image of this account and its snapshot, created at
        the epoch time created; returns (ami, snapshot)."""
        with self.lock:
            sid = _id("snap")
            self.snapshots[sid] = {"region": region, "tags": dict(tags or {}),
                                   "shared": [], "sha256": "", "size": 0}
            ami = _id("ami")
            self.images[ami] = {"region": region, "name": name, "params": {},
                                "tags": dict(tags or {}), "shared": [],
                                "snapshot": sid, "state": "available",
                                "polls": 0, "created": _now_iso(created)}
        return ami, sid

    def _image_xml(self, ami, i):
        tags = "".join("<item><key>%s</key><value>%s</value></item>" %
                       (esc(k), esc(v)) for k, v in sorted(i["tags"].items()))
        return ("<item><imageId>%s</imageId><imageState>%s</imageState>"
                "<name>%s</name><creationDate>%s</creationDate>"
                "<imageOwnerId>123456789012</imageOwnerId>"
                "<blockDeviceMapping><item><deviceName>"
                "/dev/sda1</deviceName><ebs><snapshotId>%s</snapshotId>"
                "</ebs></item></blockDeviceMapping>%s</item>" % (
                    ami, i["state"], esc(i["name"]), i.get("created", ""),
                    i["snapshot"], "<tagSet>%s</tagSet>" % tags if tags
                    else ""))

    def _filters(self, p):
        out = []
        for n in itertools.count(1):
            name = p.get("Filter.%d.Name" % n)
            if name is None:
                return out
            out.append((name, self._list(p, "Filter.%d.Value.%%d" % n)))

    @staticmethod
    def _match(i, name, values):
        if name == "tag-key":
            return any(k in values for k in i["tags"])
        if name.startswith("tag:"):
            return i["tags"].get(name[4:]) in values
        if name == "name":
            return i["name"] in values
        raise Refused(400, "InvalidParameterValue", "The filter '%s' is "
                      "invalid" % name)

    def _list_images(self, region, p):
        if p.get("Owner.1") != "self":
            raise Refused(400, "InvalidParameterCombination", "double: "
                          "lists only Owner=self")
        token = p.get("NextToken")
        if token is not None:
            ids = self.pages.pop(token, None)
            if ids is None:
                raise Refused(400, "InvalidPaginationToken", "The "
                              "pagination token is invalid")
        else:
            flt = self._filters(p)
            ids = [a for a, i in self.images.items()
                   if i["region"] == region and
                   all(self._match(i, n, v) for n, v in flt)]
        size = int(p.get("MaxResults") or 1000)
        if not 5 <= size <= 1000:
            raise Refused(400, "InvalidParameterValue", "MaxResults must "
                          "be between 5 and 1000")
        # EC2 may answer fewer than MaxResults with a nextToken.
        size = min(size, self.page_cap)
        page, rest = ids[:size], ids[size:]
        nxt = ""
        if rest:
            nxt = uuid.uuid4().hex
            self.pages[nxt] = rest
        return "<imagesSet>%s</imagesSet>%s" % (
            "".join(self._image_xml(a, self.images[a]) for a in page
                    if a in self.images),
            "<nextToken>%s</nextToken>" % nxt if nxt else "")

    def a_DescribeRegions(self, region, p):
        return "<regionInfo>%s</regionInfo>" % "".join(
            "<item><regionName>%s</regionName><regionEndpoint>ec2.%s."
            "amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required"
            "</optInStatus></item>" % (r, r) for r in self.regions)

    def a_DescribeImages(self, region, p):
        if not self._list(p, "ImageId.%d"):
            return self._list_images(region, p)
        items = []
        for ami in self._list(p, "ImageId.%d"):
            i = self.images.get(ami)
            if i is None or i["region"] != region:
                raise Refused(400, "InvalidAMIID.NotFound", "The image id "
                               "'[%s]' does not exist" % ami)
            if i["state"] == "pending":
                i["polls"] += 1
                if i["polls"] >= self.steps:
                    i["state"] = "available"
            items.append(
                "<item><imageId>%s</imageId><imageState>%s</imageState>"
                "<name>%s</name><blockDeviceMapping><item><deviceName>"
                "/dev/sda1</deviceName><ebs><snapshotId>%s</snapshotId>"
                "</ebs></item></blockDeviceMapping></item>" % (
                    ami, i["state"], esc(i["name"]), i["snapshot"]))
        return "<imagesSet>%s</imagesSet>" % "".join(items)
