#!/usr/bin/python3
"""One-shot loopback listener that records a client's first flight.

Usage: capture.py OUT.bin PORTFILE [--v6]

Binds 127.0.0.1:0 (or [::1]:0 with --v6), writes the chosen port to
PORTFILE, accepts one connection and stores every byte the client sends
until it has been quiet for IDLE seconds, closes, or CAP bytes arrived.
Nothing is sent back, so the client stops after its first flight.
"""
import socket
import sys

IDLE = 1.5          # seconds of silence that end the first flight
ACCEPT_TIMEOUT = 30  # seconds to wait for the client to connect
CAP = 64 * 1024     # bytes kept at most


def main() -> int:
    out, portfile = sys.argv[1], sys.argv[2]
    v6 = "--v6" in sys.argv[3:]
    family = socket.AF_INET6 if v6 else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind(("::1" if v6 else "127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(ACCEPT_TIMEOUT)
    with open(portfile, "w") as f:
        f.write(str(srv.getsockname()[1]))
    conn, _ = srv.accept()
    conn.settimeout(IDLE)
    data = b""
    try:
        while len(data) < CAP:
            chunk = conn.recv(CAP - len(data))
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    conn.close()
    srv.close()
    with open(out, "wb") as f:
        f.write(data)
    print(f"{out}: {len(data)} bytes")
    return 0 if data else 1


if __name__ == "__main__":
    sys.exit(main())
