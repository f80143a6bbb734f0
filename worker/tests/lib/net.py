"""Loopback helpers shared by the tests: a free port, and waiting for a
started server to accept connections."""

import socket
import time


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc=None, timeout=30, host="127.0.0.1"):
    """True once host:port accepts a connection; False on timeout or when
    proc (a Popen) has exited first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection((host, port), 0.2).close()
            return True
        except OSError:
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.1)
    return False


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL after timeout seconds; waits for the exit."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except Exception:
            proc.kill()
            proc.wait()
