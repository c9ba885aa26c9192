#!/usr/bin/env python3
# The first flight of an aioquic QUIC client, without sending it: one line per
# datagram, "<length of its first QUIC packet> <datagram in hex>" (a real
# Initial packet carrying a ClientHello for NAME; aioquic pads the datagram to
# 1,200 bytes with zeros after the packet when the packet is shorter).
# Usage: quic_initial.py NAME [--version 1|2] [--big-hello]
import argparse
import time

from aioquic.h3.connection import H3_ALPN
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.buffer import Buffer
from aioquic.quic.packet import QuicProtocolVersion, pull_quic_header

parser = argparse.ArgumentParser()
parser.add_argument("name")
parser.add_argument("--version", choices=["1", "2"], default="1")
parser.add_argument("--big-hello", action="store_true")
args = parser.parse_args()

version = QuicProtocolVersion.VERSION_1 if args.version == "1" else QuicProtocolVersion.VERSION_2
alpn = list(H3_ALPN) + ([("x%02d" % i) + "-" * 197 for i in range(8)] if args.big_hello else [])
configuration = QuicConfiguration(
    is_client=True,
    alpn_protocols=alpn,
    server_name=args.name,
    original_version=version,
    supported_versions=[version],
)
connection = QuicConnection(configuration=configuration)
now = time.time()
connection.connect(("127.0.0.1", 443), now=now)
for datagram, _ in connection.datagrams_to_send(now=now):
    header = pull_quic_header(Buffer(data=datagram), host_cid_length=8)
    print(header.packet_length, datagram.hex())
