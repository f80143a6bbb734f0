#!/usr/bin/python3
"""Mutual TLS: with --tls-cert/--tls-key/--client-ca a client must show a
certificate signed by the CA; without one, or with one from another CA, the
handshake fails. The CLI speaks to it with --cacert/--cert/--key."""

import http.client
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from qtestlib import (IB_QUEUE, Server, make_pki, run, tls_context,  # noqa
                      tmpdir)

if shutil.which("openssl") is None:
    print("openssl is not installed")
    sys.exit(77)

D = tmpdir()
P = make_pki(D, "ca")
OTHER = make_pki(D, "rogue")
S = Server("--request-job-timeout", "1", "--tls-cert", P("ca-server-crt.pem"),
           "--tls-key", P("ca-server-key.pem"), "--client-ca", P("ca-crt.pem"))


def refused(ctx):
    try:
        S.w("GET", "/status", tls=ctx)
    except (OSError, http.client.HTTPException):  # ssl.SSLError included
        return True
    return False


def test_client_with_certificate():
    ctx = tls_context(P("ca-crt.pem"), P("ca-client-crt.pem"),
                      P("ca-client-key.pem"))
    st, body, _ = S.w("GET", "/status", tls=ctx)
    assert st == 200 and body["status"] == "OK"
    st, body, _ = S.w("POST", "/workers", {"arch": "x86_64"}, tls=ctx)
    assert st == 201 and body["worker_id"]


def test_client_without_certificate_is_refused():
    assert refused(tls_context(P("ca-crt.pem")))


def test_client_with_foreign_certificate_is_refused():
    assert refused(tls_context(P("ca-crt.pem"), OTHER("rogue-client-crt.pem"),
                               OTHER("rogue-client-key.pem")))


def test_plain_http_is_refused():
    try:
        st, _, _ = S.w("GET", "/status")
    except (OSError, http.client.HTTPException):
        return
    raise AssertionError("plain HTTP answered %d" % st)


def test_cli_over_mutual_tls():
    url = "https://127.0.0.1:%d" % S.port
    base = ["--url", url, "--cacert", P("ca-crt.pem")]
    p = subprocess.run([IB_QUEUE] + base + ["--cert", P("ca-client-crt.pem"),
                                            "--key", P("ca-client-key.pem"),
                                            "enqueue", "--type", "t-tls",
                                            "--args", "{}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and len(p.stdout.strip()) == 36, p
    p = subprocess.run([IB_QUEUE] + base + ["list"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 3, p


def test_long_poll_over_tls():
    ctx = tls_context(P("ca-crt.pem"), P("ca-client-crt.pem"),
                      P("ca-client-key.pem"))
    got = {}
    th = threading.Thread(target=lambda: got.update(r=S.w(
        "POST", "/jobs", {"types": ["t-tls-wait"], "arch": "x86_64"},
        tls=ctx)))
    # The server holds requests for 1 s: enqueue while it is held.
    th.start()
    time.sleep(0.4)
    j = S.admin("POST", "/jobs", {"type": "t-tls-wait", "args": {}},
                expect=201, tls=ctx)["id"]
    th.join(10)
    st, job, _ = got["r"]
    assert st == 201 and job["id"] == j, (st, job)


def test_server_survives_bad_handshakes():
    ctx = tls_context(P("ca-crt.pem"), P("ca-client-crt.pem"),
                      P("ca-client-key.pem"))
    st, _, _ = S.w("GET", "/status", tls=ctx)
    assert st == 200


if __name__ == "__main__":
    run([test_client_with_certificate,
         test_client_without_certificate_is_refused,
         test_client_with_foreign_certificate_is_refused,
         test_plain_http_is_refused, test_cli_over_mutual_tls,
         test_long_poll_over_tls,
         test_server_survives_bad_handshakes])
