"""Real Azure blob storage for the upload tests: azurite (npm, see
node.py), started on loopback with telemetry off. It verifies SharedKey signatures.
Accounts come from AZURITE_ACCOUNTS at start, so adding one restarts it
on the same port and data folder. A small SharedKey client of our own
reads blobs back, a second implementation to cross-check the worker's."""

import base64
import hashlib
import hmac
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from email.utils import formatdate

import node
from net import free_port, stop_process, wait_listening
from node import skip  # noqa: F401  (the tests' skip)

AZURITE = os.path.join(node.NODE_DIR, "node_modules", "azurite", "dist",
                       "src", "blob", "main.js")
VERSION = "2021-08-06"


def new_key():
    return base64.b64encode(os.urandom(64)).decode()


class Azurite:
    def __init__(self, tmp, accounts=None):
        self.node = node.ensure(AZURITE, "azurite")
        self.tmp = tmp
        self.dir = os.path.join(tmp, "azurite-data")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.accounts = dict(accounts or {})
        self.proc = None
        self.url = "http://127.0.0.1:%d" % self.port
        self.start()

    def start(self):
        env = dict(os.environ)
        if self.accounts:
            env["AZURITE_ACCOUNTS"] = ";".join(
                "%s:%s" % kv for kv in self.accounts.items())
        self.log = open(os.path.join(self.tmp, "azurite.log"), "ab")
        self.proc = subprocess.Popen(
            [self.node, AZURITE, "--blobHost", "127.0.0.1", "--blobPort",
             str(self.port), "--location", self.dir, "--disableTelemetry",
             "--silent"], stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if not wait_listening(self.port, self.proc, timeout=60):
            self.stop()
            raise AssertionError("azurite did not start")

    def add_account(self, name):
        """A new storage account: azurite learns it by restarting."""
        self.accounts[name] = new_key()
        self.stop()
        self.start()
        return self.accounts[name]

    def stop(self):
        stop_process(self.proc)

    def request(self, method, account, path, query="", headers=None,
                body=b""):
        """A SharedKey-signed request; returns (status, headers, body)."""
        h = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": VERSION}
        h.update(headers or {})
        length = str(len(body)) if body else ""
        std = [h.get(k, "") for k in (
            "Content-Encoding", "Content-Language")] + [length] + [
            h.get(k, "") for k in ("Content-MD5", "Content-Type", "Date",
                                   "If-Modified-Since", "If-Match",
                                   "If-None-Match", "If-Unmodified-Since",
                                   "Range")]
        xms = sorted((k.lower(), v.strip()) for k, v in h.items()
                     if k.lower().startswith("x-ms-"))
        res = "/%s/%s%s" % (account, account, path)
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        for k in sorted(params):
            res += "\n%s:%s" % (k.lower(), ",".join(sorted(params[k])))
        sts = "\n".join([method] + std) + "\n" + "".join(
            "%s:%s\n" % kv for kv in xms) + res
        key = base64.b64decode(self.accounts[account])
        sig = base64.b64encode(hmac.new(key, sts.encode(),
                                        hashlib.sha256).digest()).decode()
        h["Authorization"] = "SharedKey %s:%s" % (account, sig)
        url = "%s/%s%s%s" % (self.url, account, path,
                             "?" + query if query else "")
        req = urllib.request.Request(url, data=body or None, method=method,
                                     headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def blob_sha256(self, account, container, blob):
        st, hd, body = self.request("GET", account,
                                    "/%s/%s" % (container, blob))
        if st != 200:
            raise AssertionError("GET blob: %d %s" % (st, body[:300]))
        return hd.get("x-ms-blob-type"), len(body), \
            hashlib.sha256(body).hexdigest()


class OneAzurite:
    """Mixin for a harness.TestCase: one real azurite for the whole class
    (cls.azurite), started once. Tests keep apart by using accounts of
    their own; an account added by one test stays for the next."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._aztmp = tempfile.mkdtemp(prefix="ibt-az-")
        cls.azurite = Azurite(cls._aztmp)

    @classmethod
    def tearDownClass(cls):
        cls.azurite.stop()
        shutil.rmtree(cls._aztmp, ignore_errors=True)
        super().tearDownClass()
