#!/usr/bin/python3
"""org.osbuild.vmware end to end: the worker binary takes an osbuild job
from the project's queue (osbuild is the test double, exporting a real
streamOptimized VMDK or an OVA that qemu-img and tarfile make here) and
imports it into the vCenter double (doubles/vsphere.py: the SOAP calls
checked for their object types, parameters and session, the NFC lease and
its uploads). Checked: a VMDK ends as [DATASTORE] NAME/NAME.vmdk with its
import VM gone, an OVA as the VM NAME, the result's null options, and the
failures a user meets: a wrong password, a missing datacenter, a VMDK that
is not streamOptimized, an export that is neither, a name taken, a lease
in error (aborted), a device URL on another host in clear text, a job
canceled while the lease initializes (aborted, logged out); no
password or session cookie in logs."""

import io
import json
import os
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import harness  # noqa: E402
import jobs  # noqa: E402
from vsphere import VsphereDouble  # noqa: E402

DOUBLES = harness.DOUBLES
VMDK = ("vmdk", "disk.vmdk")
OVA = ("ova", "image.ova")
OVF = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
          xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References><File ovf:href="image.vmdk" ovf:id="file1"
    ovf:size="%d"/></References>
  <VirtualSystem ovf:id="image"><Info>A VM</Info></VirtualSystem>
</Envelope>
"""


def make_vmdk(tmp):
    raw, vmdk = os.path.join(tmp, "d.raw"), os.path.join(tmp, "d.vmdk")
    with open(raw, "wb") as f:
        f.write(b"\x55\xaa" * 4096 + os.urandom(65536))
        f.truncate(8 << 20)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o",
                    "subformat=streamOptimized", raw, vmdk], check=True)
    return vmdk


def make_ova(tmp, vmdk):
    path = os.path.join(tmp, "image.ova")
    with open(vmdk, "rb") as f:
        disk = f.read()
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in (("image.ovf", (OVF % len(disk)).encode()),
                           ("image.vmdk", disk)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return path


class VmwareTarget(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.vc = self.keep(VsphereDouble())
        self.vmdk = make_vmdk(self.tmp)
        self.q = self.queue()

    def opts(self, **kw):
        o = {"host": "vcenter.example.test", "username":
             "composer@vsphere.local", "password": "s3cret!",
             "datacenter": "DC1", "cluster": "Cluster1",
             "datastore": "datastore1", "folder": "images"}
        o.update(kw)
        return o

    def start(self):
        return self.worker("http://" + self.q.address,
                           '[worker]\nosbuild = "%s/osbuild"\nbackoff_max = 1'
                           '\nheartbeat_interval = 1\n' % DOUBLES,
                           env={"IB_VSPHERE_URL": self.vc.url,
                                "IB_VSPHERE_POLL_MS": "50"})

    def run_job(self, targets, export, content):
        jid = self.q.enqueue("osbuild", jobs.osbuild_args(
            {"content": content}, export, targets))
        self.q.wait(jid, 120)
        return self.q.result(jid)

    def target(self, export, name="img-vm", n=1, **kw):
        return jobs.target("org.osbuild.vmware", self.opts(**kw), name,
                           export, "0c1a2b3c-0000-4000-8000-%012d" % n)

    def test_vmdk_import(self):
        self.vc.lease_polls = 2
        w = self.start()
        res = self.run_job([self.target(VMDK)], VMDK, self.vmdk)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        tr = res["target_results"][0]
        self.assertIn("options", tr)
        self.assertIsNone(tr["options"])
        with open(self.vmdk, "rb") as f:
            self.assertEqual(self.vc.files, {
                "[datastore1] img-vm/img-vm.vmdk": f.read()})
        self.assertEqual(self.vc.vms, {})          # the import VM is gone
        self.assertEqual(self.vc.faults, [])
        calls = self.vc.calls
        self.assertEqual(calls[:2], ["RetrieveServiceContent", "Login"])
        for a, b in (("CreateImportSpec", "ImportVApp"),
                     ("ImportVApp", "HttpNfcLeaseComplete"),
                     ("HttpNfcLeaseComplete", "ReconfigVM_Task"),
                     ("ReconfigVM_Task", "Destroy_Task"),
                     ("Destroy_Task", "Logout")):
            self.assertLess(calls.index(a), calls.index(b))
        lease = list(self.vc.leases.values())[0]
        self.assertEqual((lease["folder"], lease["progress"]),
                         ("group-v5", [100]))
        self.assertNotIn("s3cret!", w.log())
        self.assertNotIn("vmware_soap_session", w.log())

    def test_ova_import(self):
        self.start()
        ova = make_ova(self.tmp, self.vmdk)
        res = self.run_job([self.target(OVA, "img-ova", folder="")], OVA,
                           ova)
        self.assertTrue(res.get("success"), json.dumps(res)[:3000])
        (vm,) = self.vc.vms.values()
        self.assertEqual((vm["name"], vm["folder"]), ("img-ova", "group-v4"))
        with open(self.vmdk, "rb") as f:
            self.assertEqual(self.vc.files["[datastore1] img-ova/"
                                           "img-ova.vmdk"], f.read())
        self.assertNotIn("ReconfigVM_Task", self.vc.calls)

    def test_failures_a_user_meets(self):
        self.vc.vms["vm-99"] = {"name": "taken", "folder": "group-v5",
                                "devices": []}
        w = self.start()
        raw = os.path.join(self.tmp, "plain.vmdk")
        with open(raw, "wb") as f:
            f.write(b"\0" * 4096)
        res = self.run_job([
            self.target(VMDK, n=1, password="wrong"),
            self.target(VMDK, n=2, datacenter="DC2"),
            self.target(VMDK, "taken", n=3),
            self.target(VMDK, n=4, datastore="a/b"),
        ], VMDK, self.vmdk)
        errs = [t["target_error"] for t in res["target_results"]]
        self.assertEqual([e["id"] for e in errs], [11, 11, 11, 2])
        self.assertIn("incorrect user name or password", errs[0]["reason"])
        self.assertIn("datacenter DC2 not found", errs[1]["reason"])
        self.assertIn("already exists", errs[2]["reason"])
        self.assertIn("DuplicateNameFault", errs[2]["reason"])
        res = self.run_job([self.target(VMDK, n=5)], VMDK, raw)
        self.assertIn("not streamOptimized",
                      res["target_results"][0]["target_error"]["reason"])
        res = self.run_job([self.target(("qcow2", "disk.qcow2"), n=6)],
                           ("qcow2", "disk.qcow2"), self.vmdk)
        self.assertEqual(res["target_results"][0]["target_error"],
                         {"id": 11, "reason": "No vmdk or ova provided"})
        self.assertEqual(self.vc.files, {})
        self.assertNotIn("wrong", w.log())
        self.assertTrue(w.alive())

    def test_device_url_elsewhere_must_be_https(self):
        # The session cookie never goes to another host, and never in
        # clear text.
        self.vc.device_base = "http://127.0.0.2:%d" % self.vc.port
        self.start()
        res = self.run_job([self.target(VMDK)], VMDK, self.vmdk)
        terr = res["target_results"][0]["target_error"]
        self.assertIn("device URL that is not https", terr["reason"])
        self.assertIn("HttpNfcLeaseAbort", self.vc.calls)
        self.assertEqual(self.vc.files, {})

    def test_cancel_while_the_lease_initializes(self):
        self.vc.lease_polls = 100000
        w = self.start()
        jid = self.q.enqueue("osbuild", jobs.osbuild_args(
            {"content": self.vmdk}, VMDK, [self.target(VMDK)]))
        harness.wait_until(lambda: "RetrievePropertiesEx" in self.vc.calls,
                           60, "the lease to be polled")
        self.q.cancel(jid)
        harness.wait_until(lambda: "HttpNfcLeaseAbort" in self.vc.calls,
                           30, "the lease to be aborted")
        harness.wait_until(lambda: "Logout" in self.vc.calls, 30,
                           "the session to end")
        self.assertEqual(self.vc.files, {})
        self.assertTrue(w.alive())

    def test_lease_error(self):
        self.vc.lease_error = "Insufficient disk space on datastore"
        self.start()
        res = self.run_job([self.target(VMDK)], VMDK, self.vmdk)
        terr = res["target_results"][0]["target_error"]
        self.assertEqual(terr["id"], 11)
        self.assertIn("the import lease is error: Insufficient disk space",
                      terr["reason"])
        self.assertIn("HttpNfcLeaseAbort", self.vc.calls)
        self.assertEqual(self.vc.files, {})


if __name__ == "__main__":
    harness.main()
