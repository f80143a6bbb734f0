#!/usr/bin/python3
"""ib-loadtest run judges and exits by its thresholds: against the real
queue with no worker at all, every compose stays pending, so the composes
are lost and the run must exit 1 with `lost` failing in report.json; with
workers absent but thresholds that allow it, exit 0. Bad usage exits 2.
Also: an admin bearer token is signed from --jwt-secret (the queue refuses
requests without), and nothing of the token reaches the report."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.environ.get("IB_TOP") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.realpath(__file__))))
sys.path.insert(0, os.path.join(TOP, "queue", "tests"))
from qtestlib import Server  # noqa: E402

LT = os.path.join(TOP, "loadtest", "ib-loadtest")


def main():
    d = tempfile.mkdtemp(prefix="lt-judge-")
    secret = os.path.join(d, "secret")
    with open(secret, "w") as f:
        f.write("judge-secret\n")
    s = Server("--jwt-secret", secret)
    url = "http://127.0.0.1:%d" % s.port
    strict = os.path.join(d, "strict.json")
    with open(strict, "w") as f:
        json.dump({"lost": 0, "min_composes": 2}, f)
    lax = os.path.join(d, "lax.json")
    with open(lax, "w") as f:
        json.dump({"lost": 1000, "min_composes": 2}, f)
    fails = []

    def run(th, out, *extra):
        return subprocess.run(
            [LT, "run", "--url", url, "--jwt-secret", secret, "--rate", "4",
             "--duration", "2", "--compose-timeout", "2", "--poll", "0.2",
             "--thresholds", th, "--out", out] + list(extra),
            capture_output=True, text=True, timeout=120)
    p = run(strict, os.path.join(d, "a"))
    print(p.stdout, p.stderr[-2000:])
    rep = json.load(open(os.path.join(d, "a", "report.json")))
    lost = [r for r in rep["thresholds"] if r["name"] == "lost"][0]
    if p.returncode != 1 or rep["pass"] or lost["pass"] or lost["value"] < 1:
        fails.append("a lost compose must fail the run: rc %d %s" %
                     (p.returncode, lost))
    if "FAIL" not in p.stdout:
        fails.append("the SLI table shows no FAIL")
    if any(r["submit_status"] not in (201, 400) for r in rep["records"]):
        fails.append("submissions refused: %s" % [
            r["error"] for r in rep["records"] if r["submit_status"] != 201])
    if "judge-secret" in open(os.path.join(d, "a", "report.json")).read():
        fails.append("the secret is in the report")
    p = run(lax, os.path.join(d, "b"))
    if p.returncode != 0:
        fails.append("lax thresholds must pass: rc %d %s" % (p.returncode,
                                                             p.stdout))
    p = subprocess.run([LT, "run", "--url", "ftp://x"], capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 2:
        fails.append("bad URL: rc %d" % p.returncode)
    # No token: the queue refuses each compose; the run says so as API
    # errors, not as lost composes.
    p = subprocess.run([LT, "run", "--url", url, "--rate", "4", "--duration",
                        "1", "--submit-retry", "0", "--thresholds", lax,
                        "--out", os.path.join(d, "c")],
                       capture_output=True, text=True, timeout=60)
    rep = json.load(open(os.path.join(d, "c", "report.json")))
    st = {r["submit_status"] for r in rep["records"]}
    if st != {401} or rep["sli"]["error_rate"]["api"] != 1.0:
        fails.append("without a token: %s %s" % (st, rep["sli"]))
    # OAuth2 client credentials, as against a real deployment: the grant
    # goes to the token endpoint (the worker tests' SSO double) and its
    # token to the API. That SSO's tokens carry no admin claim, so this
    # queue refuses them: 401s, recorded as API errors, no secret logged.
    sys.path.insert(0, os.path.join(TOP, "worker", "tests"))
    import harness
    sso = harness.OAuthDouble(b"judge-secret", "lt-client",
                              client_secret="lt-client-secret-123")
    cs = os.path.join(d, "client.secret")
    with open(cs, "w") as f:
        f.write("lt-client-secret-123\n")
    p = subprocess.run([LT, "run", "--url", url, "--rate", "4", "--duration",
                        "1", "--submit-retry", "0", "--thresholds", lax,
                        "--token-url", sso.url, "--client-id", "lt-client",
                        "--client-secret-file", cs, "--no-metrics",
                        "--out", os.path.join(d, "e")],
                       capture_output=True, text=True, timeout=60)
    sso.stop()
    grants = [c for c in sso.calls if c.get("grant_type") ==
              "client_credentials" and c.get("client_id") == "lt-client" and
              c.get("client_secret") == "lt-client-secret-123"]
    rep = json.load(open(os.path.join(d, "e", "report.json")))
    if not grants or len(sso.issued) != len(sso.calls):
        fails.append("no client_credentials grant: %s" % sso.calls)
    if {r["submit_status"] for r in rep["records"]} != {401}:
        fails.append("an SSO token without the admin claim was taken")
    text = p.stdout + p.stderr + open(os.path.join(d, "e",
                                                    "report.json")).read()
    for secretish in ["lt-client-secret-123"] + sso.issued:
        if secretish in text:
            fails.append("a secret or token reached the output")
    for f in fails:
        print("FAIL:", f)
    if not fails:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
