#!/usr/bin/python3
"""Writes the synthetic corpus items (hand-made bytes, some built from the
real captures beside them). Run from anywhere: python3 sniff/corpus/synthetic.py"""
import ipaddress
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def read(name: str) -> bytes:
    with open(os.path.join(HERE, name + ".bin"), "rb") as f:
        return f.read()


def write(name: str, data: bytes) -> None:
    with open(os.path.join(HERE, name + ".bin"), "wb") as f:
        f.write(data)
    print(f"{name}.bin: {len(data)} bytes")


def records(hello: bytes, sizes: list) -> bytes:
    """Re-frames the handshake payload of a one-record ClientHello into
    records of the given payload sizes (the rest in a last record)."""
    assert hello[0] == 22
    version = hello[1:3]
    body = hello[5:]
    out = b""
    for size in sizes:
        chunk, body = body[:size], body[size:]
        out += bytes([22]) + version + struct.pack(">H", len(chunk)) + chunk
    if body:
        out += bytes([22]) + version + struct.pack(">H", len(body)) + body
    return out


def proxy_v2(src: str, sport: int, dst: str, dport: int) -> bytes:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if s.version == 4 else 0x21
    addrs = s.packed + d.packed + struct.pack(">HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, fam]) + struct.pack(">H", len(addrs)) + addrs


ssh = read("ssh_banner")
write("dial_host", b"DIAL a.test\n" + ssh)
write("dial_v6_port", b"DIAL [2001:db8::1]:22\r\n" + ssh)
write("dial_then_tls", b"DIAL B.Test:443\r\n" + read("curl_tls_h2"))
write("h2_preface_bare", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
write("http_two_hosts", b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: evil.test\r\nContent-Length: 0\r\n\r\n")
write("http_missing_host", b"GET / HTTP/1.1\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n")
write("http_host_mismatch", b"GET http://a.test/p HTTP/1.1\r\nHost: b.test\r\n\r\n")
write("http_oversized_header",
      b"GET / HTTP/1.1\r\nHost: a.test\r\nCookie: " + b"a" * 20000 + b"\r\n\r\n")
write("xmpp_s2s_decl",
      b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
      b"xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
      b"version='1.0' from='other.test' to='XMPP.test' xml:lang='en'>")
write("xmpp_wrong_ns",
      b"<stream:stream to='xmpp.test' xmlns:stream='http://etherx.jabber.org/streams' "
      b"xmlns='jabber:nope' version='1.0'>")
tls = read("curl_tls_h2")
assert tls.count(b"\x00\x06a.test") == 1
write("tls_sni_underscore", tls.replace(b"\x00\x06a.test", b"\x00\x06a_test"))
write("chromium_pq_two_records", records(read("chromium_pq"), [1400]))
write("tls_many_records", records(read("openssl_tls13"), [100, 80, 80]))
write("garbage", bytes([0xFF, 0x00, 0x13, 0x37]) + bytes(range(256)) * 2)
write("proxy_v2_tcp6_tls",
      proxy_v2("2001:db8::7", 50000, "2001:db8::443", 443) + read("openssl_tls13"))
write("proxy_v1_tcp6_xmpp",
      b"PROXY TCP6 2001:db8::7 2001:db8::5222 40000 5222\r\n" + read("slixmpp_c2s"))
write("ssh_v15", b"SSH-1.5-OpenSSH_9.2p1\r\n")
write("connect_no_port", b"CONNECT nas.test HTTP/1.1\r\nHost: nas.test\r\n\r\n")
write("connect_v6_basic_bad", b"CONNECT [2001:db8::1]:22 HTTP/1.1\r\nHost: [2001:db8::1]:22\r\n"
      b"Proxy-Authorization: Basic bm8tY29sb24=\r\n\r\n")
write("socks5_no_methods", bytes([0x05, 0x00]))
