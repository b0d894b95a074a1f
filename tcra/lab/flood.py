"""A background flow for a congested lab link (tcra.lab.impair): UDP datagrams to the discard
port of an address, paced at a rate in kbit/s, until it is ended (or after LONGEST_S, should
the lab's state that names it be lost).

Run: python -m tcra.lab.flood ADDRESS KBIT_PER_S (in the link's near namespace)."""

from __future__ import annotations

import contextlib
import socket
import sys
import time

DATAGRAM = 1200   # bytes: under every link's MTU
LONGEST_S = 3600
PORT = 9          # discard


def flood(address: str, kbit_per_s: int) -> None:
    interval = DATAGRAM * 8 / (kbit_per_s * 1000)
    payload = bytes(DATAGRAM)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sender:
        start = time.monotonic()
        sent = 0
        while (now := time.monotonic()) - start < LONGEST_S:
            # A full queue or an ICMP error from the far end: the flow goes on.
            with contextlib.suppress(OSError):
                sender.sendto(payload, (address, PORT))
            sent += 1
            time.sleep(max(0.0, start + sent * interval - now))


if __name__ == "__main__":
    flood(sys.argv[1], int(sys.argv[2]))
