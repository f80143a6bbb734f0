"""HTTP plumbing of ib-queue: listeners (TCP, TLS with optional client
certificates, unix socket), request bodies (Content-Length or chunked, with
limits, streamed), replies with the header manners of the real composer,
JWT bearer checks, the per-request log line and the server's lifecycle.
What the routes mean lives in ibq_worker (worker API) and ibq_admin.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import urllib.parse

import ibq_admin
import ibq_cloud
import ibq_compose
import ibq_store
import ibq_worker

JSON_LIMIT = 64 << 20      # largest JSON body accepted
DRAIN_LIMIT = 1 << 20      # unread bodies up to this size are drained


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def decode_json(parse, raw):
    """parse(raw) for a request body, where anything wrong is a ValueError:
    nesting too deep for the parser, and strings with lone surrogates
    (valid JSON escapes that SQLite and UTF-8 cannot store)."""
    try:
        value = parse(raw)
        if _SURROGATE.search(raw):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValueError("JSON nested too deeply")
    except UnicodeEncodeError:
        raise ValueError("lone surrogate in a JSON string")
    return value


class HttpError(Exception):
    """An answer that ends the request: status, JSON body, extra headers."""

    def __init__(self, status, body, headers=()):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, list(headers)


def log(msg):
    t = time.time()
    sys.stderr.write("%s ib-queue: %s\n" % (ibq_store.iso(t), msg))
    sys.stderr.flush()


class App:
    """What the handlers share: the store and the configuration."""

    def __init__(self, args, store):
        self.store = store
        self.base = args.base_path.rstrip("/")
        self.generation = args.generation
        self.partial = not args.no_partial and self.generation >= 2026
        self.request_job_timeout = args.request_job_timeout
        self.jwt_secret = None
        self.s3_bucket = args.s3_bucket
        if args.jwt_secret:
            with open(args.jwt_secret, "rb") as f:
                # A trailing newline is not part of the secret.
                self.jwt_secret = f.read().rstrip(b"\r\n")


def _b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


ADMIN_CLAIM = "ib_queue_admin"   # true in tokens for the admin API


def jwt_problem(secret, header, admin=False):
    """Why an Authorization header is not acceptable, or None. admin: the
    token must also carry the ADMIN_CLAIM (workers' tokens do not)."""
    if not header.startswith("Bearer "):
        return "no bearer token in the request"
    parts = header[7:].strip().split(".")
    if len(parts) != 3:
        return "malformed bearer token"
    try:
        head = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        sig = _b64url(parts[2])
    except (ValueError, UnicodeDecodeError):
        return "malformed bearer token"
    if not isinstance(head, dict) or head.get("alg") != "HS256":
        return "bearer token not signed with HS256"
    want = hmac.new(secret, (parts[0] + "." + parts[1]).encode(),
                    hashlib.sha256).digest()
    if not hmac.compare_digest(want, sig):
        return "bad bearer token signature"
    if not isinstance(claims, dict):
        return "malformed bearer token"
    exp, nbf, now = claims.get("exp"), claims.get("nbf"), time.time()
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return "bearer token without expiry"
    if exp <= now:
        return "bearer token expired"
    if isinstance(nbf, (int, float)) and nbf > now + 60:
        return "bearer token not valid yet"
    if admin and claims.get(ADMIN_CLAIM) is not True:
        return "bearer token is not an admin token"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ib-queue"
    timeout = 300  # idle keep-alive connections and stalled bodies
    # Headers and body leave in two writes: without TCP_NODELAY the client's
    # delayed ACK would add ~40 ms to every answer.
    disable_nagle_algorithm = True

    # --- connection ------------------------------------------------------
    def setup(self):
        if not isinstance(self.client_address, tuple):
            self.disable_nagle_algorithm = False  # unix socket: no TCP
        super().setup()

    def handle(self):
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError) as e:
                log("%s TLS handshake failed: %s" % (self.address_string(), e))
                return
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass

    def address_string(self):
        if isinstance(self.client_address, tuple):
            return self.client_address[0]
        return "unix"

    def version_string(self):
        return self.server_version

    def log_request(self, code="-", size="-"):
        pass  # one line per request is written by _dispatch

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))

    def handle_expect_100(self):
        # Answer "100 Continue" only once the handler wants the body, so a
        # refused upload is refused before its bytes are sent.
        self._expect = True
        return True

    def client_gone(self):
        """Whether the client of a held request has closed its end."""
        sock = self.connection
        try:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
            if isinstance(sock, ssl.SSLSocket):
                return True  # a close_notify: nobody pipelines over TLS here
            return socket.socket.recv(
                sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (OSError, ValueError):
            return True

    # --- request bodies ----------------------------------------------------
    def _body_length(self):
        """Content length, -1 for chunked, 0 for no body."""
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise HttpError(501, {"kind": "Error",
                                      "reason": "unsupported transfer coding"})
            return -1
        cls = self.headers.get_all("Content-Length") or []
        if not cls:
            return 0
        if len(set(cls)) != 1 or not cls[0].strip().isdigit():
            self.close_connection = True
            raise HttpError(400, {"kind": "Error",
                                  "reason": "bad Content-Length"})
        return int(cls[0])

    def body_chunks(self, limit=None):
        """Yield the request body in pieces; HttpError 413 past limit."""
        n = self._body_length()
        if limit is not None and n > limit:
            raise HttpError(413, {"kind": "Error",
                                  "reason": "request body too large"})
        if self._expect and not self._continued:
            self._continued = True
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        self._reading = True  # a failure from here leaves the stream unusable
        total = 0
        if n >= 0:
            while n > 0:
                data = self.rfile.read(min(n, 1 << 20))
                if not data:
                    raise ConnectionError("client closed mid-body")
                n -= len(data)
                yield data
        else:
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise HttpError(400, {"kind": "Error",
                                          "reason": "bad chunked body"})
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    break
                total += size
                if limit is not None and total > limit:
                    raise HttpError(413, {"kind": "Error",
                                          "reason": "request body too large"})
                while size > 0:
                    data = self.rfile.read(min(size, 1 << 20))
                    if not data:
                        raise ConnectionError("client closed mid-body")
                    size -= len(data)
                    yield data
                self.rfile.readline(1024)
        self._reading = False
        self._consumed = True

    def read_body(self, limit=JSON_LIMIT):
        return b"".join(self.body_chunks(limit))

    def _settle_body(self):
        """Before answering: an unread body is drained when small, otherwise
        the connection is closed after the answer."""
        if self._consumed:
            return
        try:
            n = self._body_length()
        except HttpError:
            n = -1
        if n == 0:
            self._consumed = True
        elif 0 < n <= DRAIN_LIMIT and not self._expect:
            try:
                for _ in self.body_chunks():
                    pass
            except (ConnectionError, HttpError, OSError):
                self.close_connection = True
        else:
            self.close_connection = True

    # --- replies -------------------------------------------------------------
    def _start(self, status, headers):
        if self._reading:
            self.close_connection = True
        else:
            self._settle_body()
        self.send_response(status)
        self._status = status
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")

    def send_json(self, status, obj, headers=()):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self._start(status, [("Content-Type",
                              "application/json; charset=UTF-8"),
                             ("Content-Length", str(len(data)))] +
                    list(headers))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_no_content(self):
        """204 as composer sends it: JSON type, no length, no body."""
        self._start(204, [("Content-Type", "application/json; charset=UTF-8")])
        self.end_headers()

    def send_empty(self, status=200):
        """An empty answer without content type (worker status, artifact)."""
        self._start(status, [("Content-Length", "0")])
        self.end_headers()

    def send_file(self, path, ctype="application/octet-stream"):
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._start(200, [("Content-Type", ctype),
                              ("Content-Length", str(size))])
            self.end_headers()
            while True:
                data = f.read(1 << 20)
                if not data:
                    break
                self.wfile.write(data)

    def send_text(self, status, text, ctype):
        data = text.encode()
        self._start(status, [("Content-Type", ctype),
                             ("Content-Length", str(len(data)))])
        self.end_headers()
        self.wfile.write(data)

    # --- dispatch ------------------------------------------------------------
    def _dispatch(self):
        t0 = time.monotonic()
        self._status = None
        self._consumed = self._reading = self._continued = False
        self._expect = getattr(self, "_expect", False) and \
            self.headers.get("Expect", "").lower() == "100-continue"
        app = self.server.app
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path == "/metrics" and self.command == "GET":
                ibq_admin.metrics(self, app)
            elif path == "/api/queue/v1" or path.startswith("/api/queue/v1/"):
                ibq_admin.handle(self, app, _segments(path[13:]))
            elif path.startswith(ibq_cloud.BASE + "/"):
                ibq_cloud.handle(self, app,
                                 _segments(path[len(ibq_cloud.BASE):]))
            elif path.startswith(app.base + "/"):
                ibq_worker.handle(self, app, _segments(path[len(app.base):]))
            else:
                raise ibq_worker.error(app, 11)
        except HttpError as e:
            if self._status is None:
                self.send_json(e.status, e.body, e.headers)
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError) as e:
            self.close_connection = True
            if self._status is None:
                self._status = "dropped (%s)" % e.__class__.__name__
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            if self._status is None:
                try:
                    self.send_json(500, (
                        ibq_cloud.error(10000) if
                        path.startswith(ibq_cloud.BASE + "/") else
                        ibq_worker.error(app, 10000)).body)
                except OSError:
                    pass
        finally:
            self._expect = False
            log("%s %s %s %s %.1fms" % (self.address_string(), self.command,
                                        path, self._status or "-",
                                        (time.monotonic() - t0) * 1000))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


def _segments(rest):
    """'/jobs/x%2Fy' -> ['jobs', 'x/y']: each segment decoded on its own."""
    if not rest.startswith("/"):
        return [None]
    try:
        return [urllib.parse.unquote(s, errors="strict") if "%" in s else s
                for s in rest[1:].split("/")]
    except UnicodeDecodeError:
        return [None]  # matches no route


class TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    ssl_ctx = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_ctx is not None:
            # The handshake happens in the request's thread (Handler.handle)
            # so a slow or bad client cannot hold up accept().
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, addr


class TCP6Server(TCPServer):
    address_family = socket.AF_INET6


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 128


def _write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def _checker(store, every, stop):
    while not stop.wait(every):
        try:
            for job_id in store.check_heartbeats():
                log("job %s: missing heartbeat, requeued or failed" % job_id)
        except Exception:
            traceback.print_exc()


def serve(args):
    os.makedirs(args.state_dir, exist_ok=True)
    store = ibq_store.Store(args.state_dir, max_requeues=args.max_requeues,
                            heartbeat_timeout=args.heartbeat_timeout,
                            worker_timeout=args.worker_timeout)
    app = App(args, store)
    if args.unix:
        try:
            os.unlink(args.unix)
        except FileNotFoundError:
            pass
        server = UnixServer(args.unix, Handler)
        where = "unix:" + args.unix
    else:
        host, _, port = args.listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        cls = TCP6Server if ":" in host else TCPServer
        server = cls((host, int(port)), Handler)
        if args.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
            if args.client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(args.client_ca)
            server.ssl_ctx = ctx
        port = server.server_address[1]
        where = "%s://%s:%d" % ("https" if args.tls_cert else "http",
                                host, port)
        if args.port_file:
            _write_atomic(args.port_file, "%d\n" % port)
    server.app = app
    if args.pid_file:
        _write_atomic(args.pid_file, "%d\n" % os.getpid())

    stop = threading.Event()
    threading.Thread(target=_checker, daemon=True,
                     args=(store, args.heartbeat_check, stop)).start()
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    generator = (args.manifest_generator.split() if args.manifest_generator
                 else ibq_compose.find_generator(top))
    app.mirror = args.debian_mirror
    ibq_compose.start(store, generator, stop, log)

    def on_signal(signum, frame):
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    log("serving the worker API on %s%s (generation %d, partial updates "
        "%s), state in %s" % (where, app.base, app.generation,
                              "on" if app.partial else "off", args.state_dir))
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        if args.unix:
            try:
                os.unlink(args.unix)
            except OSError:
                pass
    log("stopped")
    return 0
