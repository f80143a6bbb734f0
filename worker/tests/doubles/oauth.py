# TEST DOUBLE of an OAuth2 token endpoint (SSO); no identity provider runs here.
"""OAuth2 token endpoint: it checks a refresh_token or client_credentials
grant the way a real one does and issues HS256 JWTs the queue verifies.
The grants it saw are in calls, the tokens it issued in issued."""

import json
import time
import urllib.parse

import loopback
from jwtutil import jwt_hs256


class OAuthDouble:
    """The token endpoint at self.url; down=True makes it answer 503."""

    def __init__(self, secret, client_id, refresh_token=None,
                 client_secret=None, expires_in=300):
        outer = self
        self.secret = secret
        self.expires_in = expires_in
        self.down = False
        self.calls = []
        self.issued = []

        class H(loopback.Handler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                form = {k: v[0] for k, v in form.items()}
                outer.calls.append(form)
                if outer.down:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ok = form.get("client_id") == client_id and (
                    (form.get("grant_type") == "refresh_token" and
                     refresh_token is not None and
                     form.get("refresh_token") == refresh_token) or
                    (form.get("grant_type") == "client_credentials" and
                     client_secret is not None and
                     form.get("client_secret") == client_secret))
                if not ok:
                    body = b'{"error":"invalid_grant"}'
                    self.send_response(400)
                else:
                    tok = jwt_hs256(outer.secret, {
                        "exp": int(time.time()) + outer.expires_in,
                        "sub": client_id, "n": len(outer.issued)})
                    outer.issued.append(tok)
                    body = json.dumps({"access_token": tok,
                                       "token_type": "Bearer",
                                       "expires_in": outer.expires_in
                                       }).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = loopback.start(H)
        self.url = "http://127.0.0.1:%d/token" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
