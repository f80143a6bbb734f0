# Test double of a vCenter: its SOAP API (vim25, at /sdk) and the NFC
# lease's upload URLs, as far as an OVF import goes; no vCenter can run
# here. One loopback HTTP server.
"""It checks what vCenter checks: the SOAP envelope and SOAPAction, each
method's _this (the managed object type the method belongs to) and its
required parameters, the session cookie Login set on every later call,
managed object references that exist, an OVF descriptor that parses and
names its files, an import spec handed back as CreateImportSpec made it
(xsi:type included), a lease that must be ready before uploads and have
every file before HttpNfcLeaseComplete, streamVmdk uploads that are
streamOptimized VMDKs (magic KDMV, compressed flag), and devices removed
by their key. Faults are SOAP faults with vSphere's fault types. An
imported VM's files live on the datastore until Destroy_Task removes
those its devices still use. Faults set by the test: `lease_error` (the
lease ends in error with that message), `lease_polls` (polls before
ready), `device_base` (the lease's device URLs on that origin instead of
"https://*", as a vCenter naming the ESXi host answers)."""

import re
import threading
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import loopback

NS = {"soap": "http://schemas.xmlsoap.org/soap/envelope/",
      "vim": "urn:vim25",
      "xsi": "http://www.w3.org/2001/XMLSchema-instance",
      "ovf": "http://schemas.dmtf.org/ovf/envelope/1"}
XSI_TYPE = "{%s}type" % NS["xsi"]
THIS = {   # method -> the type of its _this
    "RetrieveServiceContent": "ServiceInstance",
    "Login": "SessionManager", "Logout": "SessionManager",
    "FindByInventoryPath": "SearchIndex",
    "CreateImportSpec": "OvfManager",
    "ImportVApp": "ResourcePool",
    "RetrievePropertiesEx": "PropertyCollector",
    "HttpNfcLeaseProgress": "HttpNfcLease",
    "HttpNfcLeaseComplete": "HttpNfcLease",
    "HttpNfcLeaseAbort": "HttpNfcLease",
    "ReconfigVM_Task": "VirtualMachine",
    "Destroy_Task": "VirtualMachine",
}
REQUIRED = {
    "Login": ["userName", "password"],
    "FindByInventoryPath": ["inventoryPath"],
    "CreateImportSpec": ["ovfDescriptor", "resourcePool", "datastore",
                         "cisp"],
    "ImportVApp": ["spec"],
    "RetrievePropertiesEx": ["specSet", "options"],
    "HttpNfcLeaseProgress": ["percent"],
    "ReconfigVM_Task": ["spec"],
}
ENV = ('<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope '
       'xmlns:soapenv="%s" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
       'xmlns:xsi="%s"><soapenv:Body>%%s</soapenv:Body></soapenv:Envelope>'
       % (NS["soap"], NS["xsi"]))
esc = loopback.esc


class Fault(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind, self.message = kind, message


def mo(name, typ, value):
    return '<%s type="%s">%s</%s>' % (name, typ, esc(value), name)


def local(tag):
    return tag.rsplit("}", 1)[-1]


class VsphereDouble:
    def __init__(self, user="composer@vsphere.local", password="s3cret!",
                 datacenter="DC1", cluster="Cluster1",
                 datastore="datastore1", folders=("", "images")):
        self.user, self.password = user, password
        self.inventory = {datacenter: ("Datacenter", "datacenter-1"),
                          "%s/datastore/%s" % (datacenter, datastore):
                          ("Datastore", "datastore-11"),
                          "%s/host/%s/Resources" % (datacenter, cluster):
                          ("ResourcePool", "resgroup-8")}
        for i, f in enumerate(folders):
            self.inventory["%s/vm%s" % (datacenter, "/" + f if f else "")] \
                = ("Folder", "group-v%d" % (4 + i))
        self.ds_name = datastore
        self.objects = {v: k for k, v in self.inventory.values()}
        self.sessions = set()
        self.files = {}          # "[ds] path" -> bytes
        self.vms = {}            # moid -> {"name", "folder", "devices"}
        self.leases = {}
        self.tasks = {}
        self.calls = []          # method names in order
        self.faults = []
        self.lease_error = None
        self.lease_polls = 1
        self.device_base = "https://*"
        self.seq = 0
        self.lock = threading.RLock()
        outer = self

        class H(loopback.Handler):
            def _handle(self):
                body = self.body()
                with outer.lock:
                    outer.route(self, body)

            do_POST = do_PUT = _handle

        self.server = loopback.start(H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        loopback.stop(self.server)

    def _id(self, prefix):
        self.seq += 1
        return "%s-%d" % (prefix, self.seq)

    # -- transport -----------------------------------------------------
    def _cookie(self, h):
        m = re.search(r'vmware_soap_session="?([^";]+)',
                      h.headers.get("Cookie", ""))
        return m.group(1) if m else None

    def route(self, h, body):
        path = urllib.parse.urlsplit(h.path).path
        if path.startswith("/nfc/"):
            return self.upload(h, path, body)
        if path != "/sdk" or h.command != "POST":
            return h.send(404, "not found")
        headers = []
        try:
            if not h.headers.get("SOAPAction", "").startswith('"urn:vim25/'):
                raise Fault("InvalidRequest", "SOAPAction missing")
            env = ET.fromstring(body)
            bodyel = env.find("soap:Body", NS)
            call = list(bodyel)[0] if bodyel is not None and len(bodyel) \
                else None
            if call is None or not call.tag.startswith("{urn:vim25}"):
                raise Fault("InvalidRequest", "no vim25 call in the body")
            method = local(call.tag)
            self.calls.append(method)
            this = call.find("vim:_this", NS)
            if method not in THIS:
                raise Fault("MethodNotFound", "method %s not found" % method)
            if this is None or this.get("type") != THIS[method]:
                raise Fault("InvalidArgument", "_this of %s must be a %s" %
                            (method, THIS[method]))
            for p in REQUIRED.get(method, []):
                if call.find("vim:" + p, NS) is None:
                    raise Fault("InvalidRequest", "Required parameter %s "
                                "is missing" % p)
            if method not in ("RetrieveServiceContent", "Login") and \
                    self._cookie(h) not in self.sessions:
                raise Fault("NotAuthenticated", "The session is not "
                            "authenticated.")
            out = getattr(self, "m_" + method)(call, this.text, headers)
        except Fault as f:
            self.faults.append("%s: %s" % (f.kind, f.message))
            doc = ENV % ('<soapenv:Fault><faultcode>ServerFaultCode'
                         '</faultcode><faultstring>%s</faultstring><detail>'
                         '<%sFault xmlns="urn:vim25" xsi:type="%s"/>'
                         '</detail></soapenv:Fault>'
                         % (esc(f.message), f.kind, f.kind))
            return h.send(500, doc, "text/xml; charset=utf-8")
        except ET.ParseError as e:
            return h.send(400, "not XML: %s" % e)
        doc = ENV % ('<%sResponse xmlns="urn:vim25">%s</%sResponse>'
                     % (method, out, method))
        h.send(200, doc, "text/xml; charset=utf-8", headers)

    def _ref(self, el, typ):
        if el is None or el.get("type") != typ or \
                self.objects.get(el.text) != typ:
            raise Fault("ManagedObjectNotFound", "The object '%s:%s' has "
                        "already been deleted or has not been completely "
                        "created" % (typ, el.text if el is not None else ""))
        return el.text

    # -- methods -------------------------------------------------------
    def m_RetrieveServiceContent(self, call, this, headers):
        return ("<returnval>" + mo("rootFolder", "Folder", "group-d1") +
                mo("propertyCollector", "PropertyCollector",
                   "propertyCollector") +
                "<about><apiVersion>8.0.2.0</apiVersion></about>" +
                mo("searchIndex", "SearchIndex", "SearchIndex") +
                mo("sessionManager", "SessionManager", "SessionManager") +
                mo("ovfManager", "OvfManager", "OvfManager") +
                "</returnval>")

    def m_Login(self, call, this, headers):
        if call.findtext("vim:userName", None, NS) != self.user or \
                call.findtext("vim:password", None, NS) != self.password:
            raise Fault("InvalidLogin", "Cannot complete login due to an "
                        "incorrect user name or password.")
        key = str(uuid.uuid4())
        self.sessions.add(key)
        headers.append(("Set-Cookie", 'vmware_soap_session="%s"; Path=/; '
                        "HttpOnly; Secure;" % key))
        return "<returnval><userName>%s</userName></returnval>" % \
            esc(self.user)

    def m_Logout(self, call, this, headers):
        return ""

    def m_FindByInventoryPath(self, call, this, headers):
        path = call.findtext("vim:inventoryPath", None, NS)
        if path not in self.inventory:
            return ""
        typ, moid = self.inventory[path]
        return mo("returnval", typ, moid)

    def m_CreateImportSpec(self, call, this, headers):
        self._ref(call.find("vim:resourcePool", NS), "ResourcePool")
        self._ref(call.find("vim:datastore", NS), "Datastore")
        name = call.findtext("vim:cisp/vim:entityName", "", NS)
        try:
            ovf = ET.fromstring(call.findtext("vim:ovfDescriptor", "", NS))
        except ET.ParseError as e:
            return ("<returnval><error><localizedMessage>Failed to parse the "
                    "OVF descriptor: %s</localizedMessage></error>"
                    "</returnval>" % esc(e))
        files = ovf.findall("ovf:References/ovf:File", NS)
        if ovf.tag != "{%s}Envelope" % NS["ovf"] or not files or not name:
            return ("<returnval><error><localizedMessage>The OVF descriptor "
                    "names no file or no entity</localizedMessage></error>"
                    "</returnval>")
        items = "".join(
            "<fileItem><deviceId>/%s/VirtualLsiLogicController0:%d/"
            "VirtualDisk%d</deviceId><path>%s</path><size>%s</size>"
            "<create>false</create></fileItem>"
            % (esc(name), i, i, esc(f.get("{%s}href" % NS["ovf"])),
               esc(f.get("{%s}size" % NS["ovf"], "0")))
            for i, f in enumerate(files))
        return ('<returnval><importSpec xsi:type="VirtualMachineImportSpec">'
                "<configSpec><name>%s</name><guestId>other26xLinux64Guest"
                "</guestId><files><vmPathName>[%s]</vmPathName></files>"
                "</configSpec>%s</importSpec>%s</returnval>"
                % (esc(name), esc(self.ds_name),
                   mo("resPoolEntity", "ResourcePool", "resgroup-8"), items))

    def m_ImportVApp(self, call, this, headers):
        self._ref(call.find("vim:_this", NS), "ResourcePool")
        folder = self._ref(call.find("vim:folder", NS), "Folder")
        spec = call.find("vim:spec", NS)
        if spec.get(XSI_TYPE) != "VirtualMachineImportSpec":
            raise Fault("InvalidArgument", "spec is not a "
                        "VirtualMachineImportSpec")
        name = spec.findtext("vim:configSpec/vim:name", None, NS)
        if not name:
            raise Fault("InvalidArgument", "spec.configSpec.name")
        if any(v["name"] == name and v["folder"] == folder
               for v in self.vms.values()):
            raise Fault("DuplicateName", "The name '%s' already exists." %
                        name)
        lease = self._id("session[lease]")
        self.objects[lease] = "HttpNfcLease"
        self.leases[lease] = {"name": name, "folder": folder, "polls": 0,
                              "state": "initializing", "uploads": {},
                              "progress": [], "vm": None}
        return mo("returnval", "HttpNfcLease", lease)

    def _lease(self, this):
        if this not in self.leases:
            raise Fault("ManagedObjectNotFound", "no lease %s" % this)
        return self.leases[this]

    def m_RetrievePropertiesEx(self, call, this, headers):
        spec = call.find("vim:specSet", NS)
        typ = spec.findtext("vim:propSet/vim:type", None, NS)
        paths = [p.text for p in spec.findall("vim:propSet/vim:pathSet", NS)]
        obj = spec.find("vim:objectSet/vim:obj", NS)
        moid = self._ref(obj, typ)
        props = []
        if typ == "HttpNfcLease":
            lease = self.leases[moid]
            lease["polls"] += 1
            if lease["state"] == "initializing" and \
                    lease["polls"] > self.lease_polls:
                if self.lease_error:
                    lease["state"] = "error"
                else:
                    lease["state"] = "ready"
                    lease["vm"] = self._id("vm")
                    self.objects[lease["vm"]] = "VirtualMachine"
            for p in paths:
                if p == "state":
                    props.append((p, "HttpNfcLeaseState", lease["state"]))
                elif p == "info" and lease["state"] == "ready":
                    props.append((p, "HttpNfcLeaseInfo", mo(
                        "entity", "VirtualMachine", lease["vm"]) +
                        "<deviceUrl><key>/vm-disk/0</key><importKey>/%s/"
                        "VirtualLsiLogicController0:0/VirtualDisk0"
                        "</importKey><url>%s/nfc/%s/disk-0.vmdk</url>"
                        "<sslThumbprint>AA:BB</sslThumbprint><disk>true"
                        "</disk><targetId>disk-0.vmdk</targetId></deviceUrl>"
                        "<leaseTimeout>300</leaseTimeout>"
                        % (esc(lease["name"]), esc(self.device_base),
                           esc(moid))))
                elif p == "error" and lease["state"] == "error":
                    props.append((p, "LocalizedMethodFault",
                                  "<fault xsi:type=\"SystemError\"/>"
                                  "<localizedMessage>%s</localizedMessage>"
                                  % esc(self.lease_error)))
        elif typ == "Task":
            t = self.tasks[moid]
            for p in paths:
                if p == "info.state":
                    props.append((p, "TaskInfoState", t["state"]))
                elif p == "info.error" and t["state"] == "error":
                    props.append((p, "LocalizedMethodFault",
                                  "<localizedMessage>%s</localizedMessage>"
                                  % esc(t["error"])))
        elif typ == "VirtualMachine":
            vm = self.vms[moid]
            for p in paths:
                if p == "config.hardware.device":
                    props.append((p, "ArrayOfVirtualDevice", "".join(
                        '<VirtualDevice xsi:type="%s"><key>%d</key>'
                        "<deviceInfo><label>%s</label></deviceInfo>%s"
                        "</VirtualDevice>" % (d["type"], d["key"],
                                              d["label"], d.get("xml", ""))
                        for d in vm["devices"])))
        else:
            raise Fault("InvalidType", "double: no properties of %s" % typ)
        sets = "".join('<propSet><name>%s</name><val xsi:type="%s">%s</val>'
                       "</propSet>" % (n, t, v) for n, t, v in props)
        return ("<returnval><objects>%s%s</objects></returnval>"
                % (mo("obj", typ, moid), sets))

    def upload(self, h, path, body):
        m = re.match(r"^/nfc/([^/]+)/([^/]+)$", path)
        lease = self.leases.get(urllib.parse.unquote(m.group(1))) if m \
            else None
        if lease is None or self._cookie(h) not in self.sessions:
            return h.send(403 if lease else 404, "refused")
        if lease["state"] != "ready":
            return h.send(409, "lease not ready")
        if h.command != "POST" or h.headers.get("Content-Type") != \
                "application/x-vnd.vmware-streamVmdk":
            return h.send(400, "disks are POSTed as streamVmdk")
        if body[:4] != b"KDMV" or not int.from_bytes(body[8:12],
                                                     "little") & (1 << 16):
            return h.send(400, "not a streamOptimized VMDK")
        lease["uploads"][m.group(2)] = bytes(body)
        h.send(200, "")

    def m_HttpNfcLeaseProgress(self, call, this, headers):
        self._lease(this)["progress"].append(
            int(call.findtext("vim:percent", "0", NS)))
        return ""

    def m_HttpNfcLeaseComplete(self, call, this, headers):
        lease = self._lease(this)
        if lease["state"] != "ready" or not lease["uploads"]:
            raise Fault("InvalidState", "The operation is not allowed in "
                        "the current state.")
        name = lease["name"]
        disk = "[%s] %s/%s.vmdk" % (self.ds_name, name, name)
        self.files[disk] = lease["uploads"]["disk-0.vmdk"]
        self.files["[%s] %s/%s.vmx" % (self.ds_name, name, name)] = b"vmx"
        self.vms[lease["vm"]] = {
            "name": name, "folder": lease["folder"], "devices": [
                {"type": "VirtualLsiLogicController", "key": 1000,
                 "label": "SCSI controller 0"},
                {"type": "VirtualDisk", "key": 2000, "label": "Hard disk 1",
                 "file": disk,
                 "xml": "<backing xsi:type=\"VirtualDiskFlatVer2Backing"
                        "Info\"><fileName>%s</fileName></backing>"
                        "<capacityInKB>8192</capacityInKB>" % esc(disk)}]}
        lease["state"] = "done"
        return ""

    def m_HttpNfcLeaseAbort(self, call, this, headers):
        self._lease(this)["state"] = "error"
        return ""

    def _task(self, error=None):
        t = self._id("task")
        self.objects[t] = "Task"
        self.tasks[t] = {"state": "error" if error else "success",
                         "error": error}
        return mo("returnval", "Task", t)

    def m_ReconfigVM_Task(self, call, this, headers):
        vm = self.vms[self._ref(call.find("vim:_this", NS),
                                "VirtualMachine")]
        for dc in call.findall("vim:spec/vim:deviceChange", NS):
            dev = dc.find("vim:device", NS)
            op = dc.findtext("vim:operation", None, NS)
            if op != "remove" or dev is None or dev.get(XSI_TYPE) is None:
                raise Fault("InvalidArgument", "double: device removal "
                            "with a typed device only")
            key = int(dev.findtext("vim:key", "-1", NS))
            if dc.findtext("vim:fileOperation", None, NS) is not None:
                raise Fault("InvalidArgument", "double: removal keeps files")
            before = len(vm["devices"])
            vm["devices"] = [d for d in vm["devices"] if d["key"] != key]
            if len(vm["devices"]) == before:
                raise Fault("InvalidDeviceSpec", "Invalid configuration for "
                            "device '%d'." % key)
        return self._task()

    def m_Destroy_Task(self, call, this, headers):
        moid = self._ref(call.find("vim:_this", NS), "VirtualMachine")
        vm = self.vms.pop(moid)
        del self.objects[moid]
        keep = {d.get("file") for d in vm["devices"]}
        prefix = "[%s] %s/" % (self.ds_name, vm["name"])
        for f in [f for f in self.files if f.startswith(prefix)]:
            if f.endswith(".vmx") or f in keep:
                del self.files[f]
        return self._task()
