#!/usr/bin/python3
"""One-shot loopback listener that records a client's first flight.

Usage: capture.py OUT.bin PORTFILE [--v6] [--socks5]

Binds 127.0.0.1:0 (or [::1]:0 with --v6), writes the chosen port to
PORTFILE, accepts one connection and stores every byte the client sends
until it has been quiet for IDLE seconds, closes, or CAP bytes arrived.
Nothing is sent back, so the client stops after its first flight.

With --socks5 the listener plays the server side of a SOCKS5 exchange up to
the request, so the client's whole flight is recorded: it answers the
greeting with username/password (02) when offered, else no authentication
(00), accepts any credentials (01 00), and never answers the CONNECT
request.
"""
import socket
import sys

IDLE = 1.5          # seconds of silence that end the first flight
ACCEPT_TIMEOUT = 30  # seconds to wait for the client to connect
CAP = 64 * 1024     # bytes kept at most


def socks5_answer(conn: socket.socket, data: bytes, answered: int) -> int:
    """Sends the next SOCKS5 answer once the message it answers is complete;
    returns how many answers have been sent."""
    if answered == 0 and len(data) >= 2 and len(data) >= 2 + data[1]:
        methods = data[2 : 2 + data[1]]
        conn.sendall(b"\x05\x02" if 2 in methods else b"\x05\x00")
        return 1
    greeting = 2 + data[1] if len(data) >= 2 else 0
    auth = data[greeting:]
    if answered == 1 and len(auth) >= 2 and auth[0] == 1:
        ulen = auth[1]
        if len(auth) >= 3 + ulen and len(auth) >= 3 + ulen + auth[2 + ulen]:
            conn.sendall(b"\x01\x00")
            return 2
    return answered


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
    answered = 0  # SOCKS5 answers sent so far (method selection, auth status)
    try:
        while len(data) < CAP:
            chunk = conn.recv(CAP - len(data))
            if not chunk:
                break
            data += chunk
            if "--socks5" in sys.argv[3:]:
                answered = socks5_answer(conn, data, answered)
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
