#!/usr/bin/env python3
# An HTTP/3 server (aioquic) that answers every request with a fixed body.
# Usage: h3_server.py HOST PORT CERT KEY BODY
# Prints "LISTENING" once the UDP socket is bound, then one line per request
# ("REQUEST <path> version=0x<QUIC version>"); runs until killed. QUIC v1 and v2.
import asyncio
import sys

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated


class FixedBody(QuicConnectionProtocol):
    """Answers each request stream with status 200 and the configured body."""

    body = b""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._http = None

    def quic_event_received(self, event):
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self._http = H3Connection(self._quic)
        if self._http is None:
            return
        for h3_event in self._http.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                path = dict(h3_event.headers).get(b":path", b"?").decode()
                print(f"REQUEST {path} version={self._quic._version:#010x}", flush=True)
                self._http.send_headers(
                    stream_id=h3_event.stream_id,
                    headers=[
                        (b":status", b"200"),
                        (b"content-type", b"text/plain"),
                        (b"content-length", str(len(self.body)).encode()),
                    ],
                )
                self._http.send_data(stream_id=h3_event.stream_id, data=self.body, end_stream=True)
                self.transmit()


async def main(host, port, cert, key, body):
    configuration = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    configuration.load_cert_chain(cert, key)
    FixedBody.body = body.encode()
    await serve(host, port, configuration=configuration, create_protocol=FixedBody)
    print("LISTENING", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit("usage: h3_server.py HOST PORT CERT KEY BODY")
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))
