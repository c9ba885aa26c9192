#!/usr/bin/python3
"""Connects slixmpp (plain TCP, STARTTLS allowed) to 127.0.0.1:PORT as
user@xmpp.test, so the capture listener records its stream header."""
import asyncio
import sys

import slixmpp


def main() -> None:
    port = int(sys.argv[1])
    client = slixmpp.ClientXMPP("user@xmpp.test", "secret")
    client.connect(address=("127.0.0.1", port), use_ssl=False)
    loop = asyncio.get_event_loop()
    loop.run_until_complete(asyncio.sleep(3))
    client.disconnect()


if __name__ == "__main__":
    main()
