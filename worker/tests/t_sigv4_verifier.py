#!/usr/bin/python3
"""The SigV4 verifier the doubles use (doubles/sigv4.py) against AWS's
published test-suite vectors and S3's documented examples, so that the
doubles' verdicts on the worker's requests can be trusted."""

import datetime
import hashlib
import json
import os
import sys
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import testpath  # noqa: F401,E402  (shared helpers and doubles on the path)
import sigv4  # noqa: E402

with open(os.path.join(HERE, "doubles", "sigv4_vectors.json")) as f:
    V = json.load(f)


def when(amz):
    return datetime.datetime.strptime(amz, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc)


def authz(ak, amz, region, service, signed, sig):
    return ("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
            "SignedHeaders=%s, Signature=%s" % (ak, amz[:8], region, service,
                                                signed, sig))


class Vectors(unittest.TestCase):

    def test_suite_vectors(self):
        s = V["suite"]
        secrets = {s["access_key"]: (s["secret"], None)}
        for c in s["cases"]:
            with self.subTest(c["name"]):
                hdrs = c["headers"] + [("Authorization", authz(
                    s["access_key"], s["now"], s["region"], s["service"],
                    c["signed"], c["signature"]))]
                ak, why = sigv4.verify_request(
                    c["method"], c["target"], hdrs, c["body"].encode(),
                    secrets, s["region"], s["service"], now=when(s["now"]))
                self.assertIsNone(why)
                self.assertEqual(ak, s["access_key"])
                # One flipped signature digit, or a changed body, fails.
                bad = c["signature"][:-1] + ("0" if c["signature"][-1] != "0"
                                             else "1")
                hdrs[-1] = ("Authorization", authz(
                    s["access_key"], s["now"], s["region"], s["service"],
                    c["signed"], bad))
                self.assertEqual(sigv4.verify_request(
                    c["method"], c["target"], hdrs, c["body"].encode(),
                    secrets, s["region"], s["service"],
                    now=when(s["now"]))[1], "SignatureDoesNotMatch")

    def test_post_form_body_is_signed(self):
        s = V["suite"]
        c = [x for x in s["cases"] if x["name"] ==
             "post-x-www-form-urlencoded"][0]
        hdrs = c["headers"] + [("Authorization", authz(
            s["access_key"], s["now"], s["region"], s["service"],
            c["signed"], c["signature"]))]
        self.assertEqual(sigv4.verify_request(
            "POST", "/", hdrs, b"Param1=value2", {s["access_key"]:
                                                  (s["secret"], None)},
            s["region"], s["service"], now=when(s["now"]))[1],
            "SignatureDoesNotMatch")

    def test_s3_header_example(self):
        x = V["s3_header"]
        hdrs = x["headers"] + [("Authorization", authz(
            x["access_key"], x["now"], x["region"], "s3", x["signed"],
            x["signature"]))]
        secrets = {x["access_key"]: (x["secret"], None)}
        self.assertEqual(sigv4.verify_request(
            x["method"], x["target"], hdrs, b"", secrets, x["region"], "s3",
            s3=True, now=when(x["now"])), (x["access_key"], None))
        # The wrong secret, the wrong time, a body that does not match.
        self.assertEqual(sigv4.verify_request(
            x["method"], x["target"], hdrs, b"", {x["access_key"]: (
                "other", None)}, x["region"], "s3", s3=True,
            now=when(x["now"]))[1], "SignatureDoesNotMatch")
        self.assertEqual(sigv4.verify_request(
            x["method"], x["target"], hdrs, b"", secrets, x["region"], "s3",
            s3=True, now=when(x["now"]) + datetime.timedelta(hours=1))[1],
            "RequestTimeTooSkewed")
        self.assertEqual(sigv4.verify_request(
            x["method"], x["target"], hdrs, b"x", secrets, x["region"], "s3",
            s3=True, now=when(x["now"]))[1], "XAmzContentSHA256Mismatch")

    def test_s3_presigned_example(self):
        p = V["s3_presigned"]
        u = urllib.parse.urlsplit(p["url"])
        secrets = {p["access_key"]: (p["secret"], None)}
        t = when(p["now"]) + datetime.timedelta(hours=1)
        self.assertEqual(sigv4.verify_presigned(
            "GET", u.path + "?" + u.query, [("Host", p["host"])], secrets,
            p["region"], "s3", now=t), (p["access_key"], None))
        self.assertEqual(sigv4.verify_presigned(
            "GET", "/other.txt?" + u.query, [("Host", p["host"])], secrets,
            p["region"], "s3", now=t)[1], "SignatureDoesNotMatch")
        self.assertTrue(sigv4.verify_presigned(
            "GET", u.path + "?" + u.query, [("Host", p["host"])], secrets,
            p["region"], "s3", now=t + datetime.timedelta(days=2))[1]
            .startswith("AccessDenied"))

    def test_unsigned_payload_hash_constant(self):
        self.assertEqual(sigv4.EMPTY_SHA256, hashlib.sha256(b"").hexdigest())


if __name__ == "__main__":
    unittest.main(verbosity=2)
