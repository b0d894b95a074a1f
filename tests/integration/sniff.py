"""Print, one JSON line each, the IPv6 packets an interface receives for a few seconds: the
outer destination and, when an SRv6 header follows, its segments-left. Run inside a namespace."""

import json
import socket
import sys
import time
from ipaddress import IPv6Address

ETH_P_IPV6 = 0x86DD
ICMPV6, ROUTING = 58, 43
NEIGHBOUR_DISCOVERY = range(133, 138)


def main(interface: str, seconds: float) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IPV6))
    sock.bind((interface, ETH_P_IPV6))
    sock.settimeout(0.1)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            packet, address = sock.recvfrom(65535)
        except TimeoutError:
            continue
        if address[2] == socket.PACKET_OUTGOING or len(packet) < 40:
            continue
        next_header = packet[6]
        seen = {"dst": str(IPv6Address(packet[24:40])), "srh": None}
        if next_header == ROUTING and packet[42] == 4:
            seen["srh"] = {"segments_left": packet[43]}
        elif next_header != ICMPV6 or packet[40] in NEIGHBOUR_DISCOVERY:
            continue
        print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
