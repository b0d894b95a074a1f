"""The lab's far-edge users pinging the service through the chain without pause: what a move
or a repair costs them, counted in packets lost, rather than guessed from timings."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tcra.lab.fabric_state import FabricState

INTERVAL = 0.02  # seconds between pings: a switch costing 100 ms loses 5 packets
LONGEST = 3600   # seconds a ping runs at most, should its caller never stop it


@dataclass
class Losses:
    """Filled in when pinging stops."""
    sent: int = 0
    lost: int = 0
    longest_gap: float = 0.0  # seconds without a reply, the longest run


@contextmanager
def pinging(fabric: FabricState) -> Iterator[Losses]:
    """Pings from the users' namespace to the service address while the block runs."""
    losses = Losses()
    ping = subprocess.Popen(["ip", "netns", "exec", fabric.user_namespace, "ping", "-n", "-i",
                             str(INTERVAL), "-W", "1", "-w", str(LONGEST),
                             fabric.service_address], stdout=subprocess.PIPE, text=True)
    try:
        yield losses
    finally:
        ping.send_signal(signal.SIGINT)  # ping prints its summary on SIGINT
        out, _ = ping.communicate(timeout=30)
    losses.sent, losses.lost, losses.longest_gap = _count(out)


def _count(output: str) -> tuple[int, int, float]:
    summary = re.search(r"(\d+) packets transmitted", output)
    if summary is None:
        raise RuntimeError(f"ping printed no summary: {output[-2000:]!r}")
    answered = sorted({int(m) for m in re.findall(r"icmp_seq=(\d+)", output)})
    transmitted = int(summary.group(1))
    # The last packet may still be on its way when ping stops: not lost, not counted.
    sent = transmitted - (transmitted > 0 and transmitted not in answered)
    gaps = [b - a - 1 for a, b in zip([0, *answered], [*answered, sent + 1], strict=True)]
    return sent, sent - len(answered), max(gaps, default=0) * INTERVAL
