# TEST DOUBLE: a TCP proxy in front of the queue that injects the faults a real network and a struggling composer produce.
"""Fault-injecting proxy: HTTP error answers, connection resets and
slowness between the worker and the (real) queue. The test changes the
mode with set() and counts requests with count()."""

import json
import re
import socket
import threading
import time


class FaultProxy:
    """The proxy on a port of its own, forwarding to target_port."""

    def __init__(self, target_port, rate=0):
        """rate: bytes a second read of request bodies (a slow uplink;
        small socket buffers then so that the sender feels it), 0: all."""
        self.target = ("127.0.0.1", target_port)
        self.rate = rate
        self.lock = threading.Lock()
        self.status = None      # answer this many requests with a status
        self.status_left = 0
        self.resets_left = 0    # close this many connections at once
        self.delay = 0.0        # seconds before forwarding each request
        self.retry_after = None  # Retry-After of the status answers
        self.match = None       # faults only for request lines matching
        self.requests = []      # (time, first request line)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rate:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, status=None, count=0, resets=0, delay=0.0, match=None,
            retry_after=None):
        """match: a regular expression; when given, only requests whose
        first line matches it get the status or the reset. retry_after:
        seconds the status answers ask for in Retry-After."""
        with self.lock:
            self.retry_after = retry_after
            self.status, self.status_left = status, count
            self.resets_left = resets
            self.delay = delay
            self.match = re.compile(match) if match else None

    def _accept(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    @staticmethod
    def _read_request(c, rate=0):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        t0 = time.monotonic()
        while len(rest) < n:
            chunk = c.recv(16384 if rate else 65536)
            if not chunk:
                return None
            rest += chunk
            if rate:
                ahead = len(rest) / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        return head + b"\r\n\r\n" + rest

    def _conn(self, c):
        upstream = None
        try:
            while True:
                # Subclasses override _read_request(c) (t_loop's).
                req = (FaultProxy._read_request(c, self.rate) if self.rate
                       else self._read_request(c))
                if req is None:
                    return
                line = req.split(b"\r\n", 1)[0].decode(errors="replace")
                with self.lock:
                    self.requests.append((time.monotonic(), line))
                    hit = self.match is None or self.match.search(line)
                    reset = hit and self.resets_left > 0
                    if reset:
                        self.resets_left -= 1
                    status = None
                    if hit and not reset and self.status_left > 0:
                        self.status_left -= 1
                        status = self.status
                    delay = self.delay
                    retry_after = self.retry_after
                if reset:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                if status is not None:
                    body = json.dumps({
                        "href": "/api/worker/v1/errors/1000", "id": "1000",
                        "kind": "Error", "code": "IMAGE-BUILDER-WORKER-1000",
                        "reason": "injected failure", "message":
                        "injected failure", "operation_id": "x"}).encode()
                    ra = b"" if retry_after is None else \
                        b"Retry-After: %d\r\n" % retry_after
                    c.sendall(b"HTTP/1.1 %d Injected\r\nContent-Type: "
                              b"application/json; charset=UTF-8\r\n%s"
                              b"Content-Length: %d\r\n\r\n" %
                              (status, ra, len(body)) + body)
                    continue
                if delay:
                    time.sleep(delay)
                if upstream is None:
                    upstream = socket.create_connection(self.target)
                upstream.sendall(req)
                # Relay the answer: read until the upstream answer is whole.
                # An interim answer (100 Continue to the request's Expect:
                # the body is here already) is passed on and the final one
                # read after it.
                resp = b""
                while True:
                    while b"\r\n\r\n" not in resp:
                        chunk = upstream.recv(65536)
                        if not chunk:
                            return
                        resp += chunk
                    head, _, rest = resp.partition(b"\r\n\r\n")
                    if not re.match(rb"HTTP/1\.[01] 1\d\d ", head):
                        break
                    c.sendall(head + b"\r\n\r\n")
                    resp = rest
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                while len(rest) < n:
                    chunk = upstream.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                c.sendall(head + b"\r\n\r\n" + rest)
        except OSError:
            pass
        finally:
            c.close()
            if upstream:
                upstream.close()

    def count(self, pattern):
        rx = re.compile(pattern)
        with self.lock:
            return sum(1 for _, l in self.requests if rx.search(l))

    def stop(self):
        self.running = False
        self.sock.close()
