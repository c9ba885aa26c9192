#!/usr/bin/env python3
# One HTTP/3 GET with aioquic, to HOST:PORT with the TLS server name NAME.
# Usage: h3_get.py HOST PORT NAME CA_FILE [--version 1|2|1to2] [--big-hello] [--timeout S]
#   --version 1     QUIC v1 only; 2: QUIC v2 only; 1to2: starts in v1 and offers
#                   v2 (the server may switch to v2, RFC 9368)
#   --big-hello     offers many long ALPN values, so the ClientHello spans two
#                   Initial packets (two datagrams)
# Prints "STATUS=<code>", "VERSION=0x<QUIC version>" and "BODY=<body>"; exits 0 on
# a response, 1 on a timeout or error (with "FAILED <reason>").
import argparse
import asyncio
import sys

from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion

VERSIONS = {
    "1": (QuicProtocolVersion.VERSION_1, [QuicProtocolVersion.VERSION_1]),
    "2": (QuicProtocolVersion.VERSION_2, [QuicProtocolVersion.VERSION_2]),
    "1to2": (
        QuicProtocolVersion.VERSION_1,
        [QuicProtocolVersion.VERSION_2, QuicProtocolVersion.VERSION_1],
    ),
}

# Filler ALPN values (never chosen by the server): 8 x 200 bytes push the
# ClientHello past what one 1,200-byte Initial packet carries.
FILLER_ALPN = [("x%02d" % i) + "-" * 197 for i in range(8)]


class Getter(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.done = asyncio.get_running_loop().create_future()
        self.status = None
        self.body = b""

    def quic_event_received(self, event):
        for h3_event in self.http.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                self.status = dict(h3_event.headers).get(b":status", b"?").decode()
            elif isinstance(h3_event, DataReceived):
                self.body += h3_event.data
            if getattr(h3_event, "stream_ended", False) and not self.done.done():
                self.done.set_result(None)

    async def get(self, authority, path):
        stream_id = self._quic.get_next_available_stream_id()
        self.http.send_headers(
            stream_id=stream_id,
            headers=[
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
            ],
            end_stream=True,
        )
        self.transmit()
        await self.done


async def main(args):
    original, supported = VERSIONS[args.version]
    alpn = list(H3_ALPN) + (FILLER_ALPN if args.big_hello else [])
    configuration = QuicConfiguration(
        is_client=True,
        alpn_protocols=alpn,
        server_name=args.name,
        original_version=original,
        supported_versions=supported,
        idle_timeout=args.timeout,
    )
    configuration.load_verify_locations(args.ca)
    async with connect(
        args.host, args.port, configuration=configuration, create_protocol=Getter
    ) as client:
        await client.get(args.name, "/")
        print(f"STATUS={client.status}")
        print(f"VERSION={client._quic._version:#010x}")
        print(f"BODY={client.body.decode(errors='replace')}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("name")
    parser.add_argument("ca")
    parser.add_argument("--version", choices=sorted(VERSIONS), default="1")
    parser.add_argument("--big-hello", action="store_true")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    try:
        asyncio.run(asyncio.wait_for(main(args), args.timeout))
    except (asyncio.TimeoutError, ConnectionError, OSError) as e:
        print(f"FAILED {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
