#!/usr/bin/python3
# Part of test-vm's doubles: qemu's user network runs this once per guest
# connection to 169.254.169.254:80 (a guestfwd "cmd:"), with the connection
# on its standard input, output and error; it relays the bytes to the IMDS
# double (test-vm/doubles/cloud.py) on 127.0.0.1:PORT. With LOG, it appends
# a line per connection there (never to its standard error, which is the
# guest's connection): when it started, how long the connect took, the
# bytes each way and how it ended, so that a guest that "never reached the
# metadata service" can be told from a relay that never ran or failed.
"""usage: relay.py PORT [LOG]"""

import os
import select
import socket
import sys
import time


def relay(port, note):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    note("connected in %.0f ms" % ((time.monotonic() - t0) * 1000))
    s.settimeout(None)
    fds = {0: s.fileno(), s.fileno(): 1}
    sent = {0: 0, s.fileno(): 0}
    first = b""
    open_in = True
    try:
        while True:
            r, _, _ = select.select([0, s.fileno()] if open_in else
                                    [s.fileno()], [], [], 120)
            if not r:
                return "idle for 120 s"
            for fd in r:
                data = os.read(fd, 65536)
                if not data:
                    if fd == 0:
                        s.shutdown(socket.SHUT_WR)
                        open_in = False
                        continue
                    return "the IMDS double closed"
                if fd == 0 and not first:
                    first = data.split(b"\r\n", 1)[0][:80]
                sent[fd] += len(data)
                out = fds[fd]
                while data:
                    n = os.write(out, data) if out == 1 else s.send(data)
                    data = data[n:]
    finally:
        note("%r: %d bytes from the guest, %d to it" % (
            first, sent[0], sent[s.fileno()]))
        s.close()


def main():
    # An error must never reach the guest's connection.
    sys.stderr = open(os.devnull, "w")
    port = int(sys.argv[1])
    log = None
    if len(sys.argv) > 2:
        try:
            log = open(sys.argv[2], "a", buffering=1)
        except OSError:
            pass
    if log is not None:
        sys.stderr = log
    pid = os.getpid()

    def note(what):
        if log is not None:
            log.write("%.3f relay[%d]: %s\n" % (time.time(), pid, what))

    note("started")
    try:
        why = relay(port, note)
    except OSError as e:
        note("failed: %s" % e)
        return 1
    note("ended: %s" % why)
    return 0


if __name__ == "__main__":
    sys.exit(main())
