# Not a test double itself: the HTTP plumbing the loopback doubles in this folder share.
"""A threaded HTTP server on 127.0.0.1 (a port the kernel picks), a quiet
HTTP/1.1 request handler with body() and send(), the refusal the API
doubles raise, and XML escaping."""

import http.server
import json
import socketserver
import threading


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Handler(http.server.BaseHTTPRequestHandler):
    """Keeps connections alive as the clients under test do; logs nothing."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body=b"", ctype=None, headers=()):
        """One whole answer; a client that went away is not an error."""
        b = body.encode() if isinstance(body, str) else body
        try:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b)
        except OSError:
            pass

    def xml(self, status, body):
        self.send(status, body, "text/xml")

    def json(self, status, doc=None, headers=None, raw=None):
        """doc as JSON (no body when None, raw bytes as they are);
        headers: a dict."""
        if raw is None:
            raw = json.dumps(doc).encode() if doc is not None else b""
        self.send(status, raw, "application/json" if doc is not None
                  else None, (headers or {}).items())


def start(handler):
    """A Server for handler (a Handler class), serving on a thread."""
    srv = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def url(srv, suffix=""):
    return "http://127.0.0.1:%d%s" % (srv.server_address[1], suffix)


def stop(srv):
    srv.shutdown()
    srv.server_close()


class Service:
    """Base of a double that is one loopback server: serve() starts it
    with every request of the given methods going to self._handle(h);
    then self.server, self.port, self.url and stop()."""

    def serve(self, methods=("POST",), suffix=""):
        outer = self

        class H(Handler):
            pass
        for m in methods:
            setattr(H, "do_" + m, lambda h: outer._handle(h))
        self.server = start(H)
        self.port = self.server.server_address[1]
        self.url = url(self.server, suffix)

    def _handle(self, h):
        raise NotImplementedError

    def stop(self):
        stop(self.server)


class Refused(Exception):
    """An API's refusal: HTTP status, the API's error code, a message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def esc(s):
    """s as XML text."""
    return (str(s).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))
