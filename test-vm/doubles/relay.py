#!/usr/bin/python3
# Part of test-vm's doubles: qemu's user network runs this once per guest
# connection to 169.254.169.254:80 (a guestfwd "cmd:"), with the connection
# on its standard input and output; it relays the bytes to the IMDS double
# (test-vm/doubles/cloud.py) on 127.0.0.1:PORT.
"""usage: relay.py PORT"""

import os
import select
import socket
import sys


def main():
    port = int(sys.argv[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(None)
    fds = {0: s.fileno(), s.fileno(): 1}
    open_in = True
    while True:
        r, _, _ = select.select([0, s.fileno()] if open_in else
                                [s.fileno()], [], [], 120)
        if not r:
            return 0
        for fd in r:
            data = os.read(fd, 65536)
            if not data:
                if fd == 0:
                    s.shutdown(socket.SHUT_WR)
                    open_in = False
                    continue
                return 0
            out = fds[fd]
            while data:
                n = os.write(out, data) if out == 1 else s.send(data)
                data = data[n:]


if __name__ == "__main__":
    sys.exit(main())
