# Test double of Azure AD's token endpoint and Azure Resource Manager
# (resource groups, resources by tag, storage accounts and their keys,
# managed images): control planes that cannot run here. Blob storage is
# the real azurite (see azureenv.py), whose accounts this double creates.
"""Checks what Azure checks: the client-credentials grant (client id,
secret, tenant, the ARM scope), bearer tokens it issued, the
subscription and resource group, and that an image's blobUri names a page
blob that exists in azurite. Long-running operations: storage account
creation answers 202 + Location, image creation 201 +
Azure-AsyncOperation, each done after a few polls. Faults set by the
test: `throttle` (429 + Retry-After), `image_error` (the image operation
fails with that message). For the retention clean-up: the subscription's
images listed in pages (nextLink), an image deleted with an
Azure-AsyncOperation, add_image() to seed one."""

import json
import re
import threading
import urllib.parse

import loopback


class AzureDouble:
    def __init__(self, azurite, tenant, client_id, secret, sub, rg,
                 location="eastus", polls=2):
        self.azurite = azurite
        self.tenant, self.client_id, self.secret = tenant, client_id, secret
        self.sub, self.rg, self.location = sub, rg, location
        self.polls = polls
        self.lock = threading.RLock()
        self.tokens = set()
        self.accounts = {}      # name -> {"tags", "location", "state"}
        self.images = {}
        self.ops = {}
        self.log = []           # (method, path, status)
        self.rejected = []
        self.throttle = 0
        self.image_error = None
        self.deleted_images = []
        self.page_size = 2
        self.seq = 0
        # The blob service's origin the accounts name: azurite's, or a
        # proxy in front of it (a slow uplink) when the test sets one.
        self.blob_origin = None
        outer = self

        class H(loopback.Handler):
            def _send(self, status, doc=None, headers=None):
                self.json(status, doc, headers)
                with outer.lock:
                    outer.log.append((self.command, self.path, status))

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                try:
                    outer.route(self, body)
                except Exception as ex:
                    self._send(500, {"error": {"code": "DoubleBug",
                                               "message": repr(ex)}})

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = loopback.start(H)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def count(self, method, pattern, status=None):
        rx = re.compile(pattern)
        with self.lock:
            return sum(1 for m, p, s in self.log if m == method and
                       rx.search(p) and (status is None or s == status))

    @staticmethod
    def err(h, status, code, message, headers=None):
        h._send(status, {"error": {"code": code, "message": message}},
                headers)

    def add_account(self, name, tags):
        self.azurite.add_account(name)
        self.accounts[name] = {"tags": tags, "location": self.location,
                               "state": "Succeeded"}

    def route(self, h, body):
        u = urllib.parse.urlsplit(h.path)
        path, q = u.path, urllib.parse.parse_qs(u.query)
        m = re.match(r"^/([^/]+)/oauth2/v2\.0/token$", path)
        if m and h.command == "POST":
            return self.token(h, m.group(1), body)
        with self.lock:
            if self.throttle > 0:
                self.throttle -= 1
                return self.err(h, 429, "TooManyRequests", "The request is "
                                "being throttled.", {"Retry-After": "1"})
        auth = h.headers.get("Authorization", "")
        if auth[7:] not in self.tokens or not auth.startswith("Bearer "):
            self.rejected.append("bearer on %s" % path)
            return self.err(h, 401, "InvalidAuthenticationToken",
                            "The access token is invalid.")
        if "api-version" not in q:
            return self.err(h, 400, "MissingApiVersionParameter",
                            "The api-version query parameter is required.")
        m = re.match(r"^/subscriptions/([^/]+)/(?i:resourcegroups)/([^/]+)"
                     r"(.*)$", path)
        if not m:
            m2 = re.match(r"^/subscriptions/[^/]+/providers/Microsoft.Compute/"
                          r"locations/[^/]+/operations/([^/]+)$", path)
            if m2:
                return self.op_status(h, m2.group(1))
            if path == "/subscriptions/%s/providers/Microsoft.Compute/" \
                    "images" % self.sub and h.command == "GET":
                return self.list_images(h, q)
            return self.err(h, 404, "DoubleNoRoute", path)
        if m.group(1) != self.sub:
            return self.err(h, 404, "SubscriptionNotFound", "The "
                            "subscription '%s' could not be found." %
                            m.group(1))
        if m.group(2) != self.rg:
            return self.err(h, 404, "ResourceGroupNotFound", "Resource group "
                            "'%s' could not be found." % m.group(2))
        rest = m.group(3)
        if rest == "" and h.command == "GET":
            return h._send(200, {"name": self.rg, "location": self.location,
                                 "properties": {"provisioningState":
                                                "Succeeded"}})
        if rest == "/resources" and h.command == "GET":
            f = q.get("$filter", [""])[0]
            fm = re.match(r"^tagName eq '([^']*)' and tagValue eq '([^']*)'$",
                          f)
            if not fm:
                return self.err(h, 400, "InvalidFilter", f)
            out = [{"id": "/subscriptions/%s/resourceGroups/%s/providers/"
                          "Microsoft.Storage/storageAccounts/%s" %
                          (self.sub, self.rg, n), "name": n,
                    "type": "Microsoft.Storage/storageAccounts",
                    "location": a["location"], "tags": a["tags"]}
                   for n, a in self.accounts.items()
                   if a["tags"].get(fm.group(1)) == fm.group(2)]
            return h._send(200, {"value": out})
        m = re.match(r"^/providers/Microsoft\.Storage/storageAccounts/"
                     r"([a-z0-9]{3,24})(/listKeys)?$", rest)
        if m:
            return self.storage(h, m.group(1), m.group(2), body)
        m = re.match(r"^/providers/Microsoft\.Compute/images/([^/]+)$", rest)
        if m and h.command == "PUT":
            return self.image(h, m.group(1), body)
        if m and h.command == "DELETE":
            return self.delete_image(h, m.group(1))
        self.err(h, 404, "DoubleNoRoute", rest)

    def image_doc(self, name, doc):
        return dict(doc, name=name, type="Microsoft.Compute/images",
                    id="/subscriptions/%s/resourceGroups/%s/providers/"
                    "Microsoft.Compute/images/%s" % (self.sub, self.rg, name),
                    properties=dict(doc.get("properties", {}),
                                    provisioningState="Succeeded"))

    def add_image(self, name, tags, blob_uri):
        """A managed image of the group, from blob_uri, with these tags."""
        with self.lock:
            self.images[name] = {"location": self.location, "tags": tags,
                                 "properties": {"storageProfile": {"osDisk": {
                                     "osType": "Linux", "blobUri": blob_uri,
                                     "osState": "Generalized"}}}}

    def list_images(self, h, q):
        """Pages of `page_size`, nextLink with a $skiptoken, as ARM."""
        start = int(q.get("$skiptoken", ["0"])[0])
        with self.lock:
            docs = [self.image_doc(n, d) for n, d in
                    sorted(self.images.items())]
        out = {"value": docs[start:start + self.page_size]}
        if start + self.page_size < len(docs):
            out["nextLink"] = "%s/subscriptions/%s/providers/Microsoft." \
                "Compute/images?api-version=2023-09-01&$skiptoken=%d" % (
                    self.url, self.sub, start + self.page_size)
        return h._send(200, out)

    def delete_image(self, h, name):
        if name not in self.images:
            return h._send(204)
        with self.lock:
            self.seq += 1
            op = "op-%d" % self.seq
            self.ops[op] = {"polls": 0, "delete": name, "error": None}
        h._send(202, headers={
            "Azure-AsyncOperation": "%s/subscriptions/%s/providers/"
            "Microsoft.Compute/locations/%s/operations/%s?api-version="
            "2023-09-01" % (self.url, self.sub, self.location, op),
            "Retry-After": "1"})

    def token(self, h, tenant, body):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(
            body.decode()).items()}
        if tenant != self.tenant:
            return h._send(400, {"error": "invalid_request",
                                 "error_description": "AADSTS90002: Tenant "
                                 "'%s' not found." % tenant})
        if form.get("grant_type") != "client_credentials" or \
                form.get("scope") != "https://management.azure.com/.default":
            return h._send(400, {"error": "invalid_request",
                                 "error_description": "bad grant or scope"})
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.secret:
            self.rejected.append("token: invalid client")
            return h._send(401, {"error": "invalid_client",
                                 "error_description": "AADSTS7000215: "
                                 "Invalid client secret provided."})
        with self.lock:
            self.seq += 1
            tok = "eyJ.double.%d" % self.seq
            self.tokens.add(tok)
        h._send(200, {"token_type": "Bearer", "expires_in": 3599,
                      "access_token": tok})

    def account_doc(self, name):
        a = self.accounts[name]
        return {"name": name, "location": a["location"], "tags": a["tags"],
                "kind": "StorageV2",
                "properties": {"provisioningState": a["state"],
                               "primaryEndpoints": {
                                   "blob": "%s/%s/" % (self.blob_url(),
                                                       name)}}}

    def blob_url(self):
        return self.blob_origin or self.azurite.url

    def storage(self, h, name, keys, body):
        if h.command == "PUT" and not keys:
            doc = json.loads(body)
            with self.lock:
                if name not in self.accounts:
                    self.accounts[name] = {"tags": doc.get("tags", {}),
                                           "location": doc["location"],
                                           "state": "Creating", "polls": 0}
            return h._send(202, headers={
                "Location": "%s/subscriptions/%s/resourceGroups/%s/providers/"
                            "Microsoft.Storage/storageAccounts/%s?api-version"
                            "=2023-01-01&op=create" % (self.url, self.sub,
                                                       self.rg, name),
                "Retry-After": "1"})
        a = self.accounts.get(name)
        if a is None:
            return self.err(h, 404, "ResourceNotFound", "The Resource "
                            "'Microsoft.Storage/storageAccounts/%s' was not "
                            "found." % name)
        if keys and h.command == "POST":
            if name not in self.azurite.accounts:
                return self.err(h, 409, "StorageAccountIsNotProvisioned",
                                "not provisioned yet")
            return h._send(200, {"keys": [
                {"keyName": "key1", "permissions": "FULL",
                 "value": self.azurite.accounts[name]}]})
        if h.command == "GET":
            if a["state"] == "Creating":
                a["polls"] += 1
                if a["polls"] < self.polls:
                    return h._send(202, headers={"Retry-After": "1",
                                                 "Location": self.url +
                                                 h.path})
                self.azurite.add_account(name)
                a["state"] = "Succeeded"
            return h._send(200, self.account_doc(name))
        self.err(h, 405, "MethodNotAllowed", h.command)

    def image(self, h, name, body):
        doc = json.loads(body)
        tags = doc.get("tags") or {}
        if len(tags) > 50 or any(
                not isinstance(v, str) or len(k) > 512 or len(v) > 256 or
                re.search(r"[<>%&\\?/]", k) for k, v in tags.items()):
            return self.err(h, 400, "InvalidTagNameCharacters",
                            "tag names or values are not valid")
        disk = doc.get("properties", {}).get("storageProfile", {}) \
            .get("osDisk", {})
        blob = disk.get("blobUri", "")
        m = re.match(r"^%s/([a-z0-9]+)/([^/]+)/(.+)$" %
                     re.escape(self.blob_url()), blob)
        if not m or m.group(1) not in self.azurite.accounts:
            return self.err(h, 400, "InvalidParameter", "blobUri %s is not "
                            "a blob of a storage account" % blob)
        st, hd, _ = self.azurite.request("HEAD", m.group(1), "/%s/%s" % (
            m.group(2), m.group(3)))
        if st != 200 or hd.get("x-ms-blob-type") != "PageBlob":
            return self.err(h, 400, "InvalidParameter", "The blob %s is not "
                            "a page blob (%d)" % (blob, st))
        if disk.get("osState") != "Generalized" or \
                doc.get("properties", {}).get("hyperVGeneration") not in \
                ("V1", "V2"):
            return self.err(h, 400, "InvalidParameter", "osState or "
                            "hyperVGeneration")
        with self.lock:
            self.seq += 1
            op = "op-%d" % self.seq
            self.ops[op] = {"polls": 0, "image": name, "doc": doc,
                            "error": self.image_error}
        res = dict(doc, name=name, properties=dict(
            doc["properties"], provisioningState="Creating"))
        h._send(201, res, headers={
            "Azure-AsyncOperation": "%s/subscriptions/%s/providers/"
            "Microsoft.Compute/locations/%s/operations/%s?api-version="
            "2023-09-01" % (self.url, self.sub, doc.get("location"), op),
            "Retry-After": "1"})

    def op_status(self, h, op):
        o = self.ops.get(op)
        if o is None:
            return self.err(h, 404, "NotFound", op)
        with self.lock:
            o["polls"] += 1
            if o["polls"] < self.polls:
                return h._send(200, {"name": op, "status": "InProgress"})
            if o["error"]:
                return h._send(200, {"name": op, "status": "Failed", "error": {
                    "code": "InvalidVhd", "message": o["error"]}})
            if "delete" in o:
                if self.images.pop(o["delete"], None) is not None:
                    self.deleted_images.append(o["delete"])
                return h._send(200, {"name": op, "status": "Succeeded"})
            self.images[o["image"]] = o["doc"]
        h._send(200, {"name": op, "status": "Succeeded"})
