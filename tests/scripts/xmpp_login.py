#!/usr/bin/python3
# Logs one XMPP account in with STARTTLS, sends itself a message and waits for it.
# Usage: xmpp_login.py HOST PORT JID PASSWORD CA_FILE    (prints "LOGIN OK" and exits 0 on success)
# Debian's python3-slixmpp lives in /usr/lib/python3/dist-packages: run it with /usr/bin/python3.
import asyncio
import sys

import slixmpp

WAIT = 8  # seconds for each step; the caller kills the script after its own bound


async def main(host, port, jid, password, ca):
    client = slixmpp.ClientXMPP(jid + "/e2e", password)
    client.ca_certs = ca
    loop = asyncio.get_running_loop()
    started, received = loop.create_future(), loop.create_future()

    def on_start(_):
        client.send_presence()
        if not started.done():
            started.set_result(True)

    def on_failed_auth(_):
        if not started.done():
            started.set_exception(RuntimeError("AUTH FAILED"))

    def on_message(msg):
        if not received.done():
            received.set_result(msg["body"])

    client.add_event_handler("session_start", on_start)
    client.add_event_handler("failed_auth", on_failed_auth)
    client.add_event_handler("message", on_message)
    client.connect((host, port))
    # Connecting to an IP leaves default_domain empty: no SNI, no name check.
    client.default_domain = client.boundjid.domain
    await asyncio.wait_for(started, WAIT)
    client.send_message(mto=client.boundjid.bare, mbody="through the gateway", mtype="chat")
    body = await asyncio.wait_for(received, WAIT)
    tls = client.socket.version() if hasattr(client.socket, "version") else "none"
    print(f"LOGIN OK body={body!r} tls={tls}")
    client.disconnect()
    await asyncio.sleep(0.2)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__ or "usage: xmpp_login.py HOST PORT JID PASSWORD CA_FILE")
    host, port, jid, password, ca = sys.argv[1:]
    asyncio.run(main(host, int(port), jid, password, ca))
