"""Round trips measured the way users get them: pings from where the users attach, through the
service's SRv6 chain, to the workload that answers (the chain's egress), a few at a time in a
loop, so a congested or broken path shows as it happens."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable

from pydantic import Field

from tcra.model.base import Model
from tcra.model.types import Name

PINGS = 5          # per probe
INTERVAL = 0.2     # seconds between its pings
WAIT = 1.0         # seconds a ping waits for its reply
RTT = re.compile(r"= [\d.]+/([\d.]+)/")
SENT = re.compile(r"(\d+) packets transmitted, (\d+) received")


class ProbeTarget(Model):
    """Where a probe goes: from `namespace` (the network namespace where the users attach) to
    `address` (the workload answering through the chain)."""

    service: Name
    workload: Name
    namespace: str = Field(min_length=1, max_length=255)
    address: str = Field(min_length=1, max_length=255)


class ProbeResult(Model):
    rtt_ms: float | None = Field(description="Average round trip; none when nothing came back.")
    loss: float = Field(ge=0, le=1, description="Share of the pings lost.")
    at: float = Field(description="When it ended, seconds since the epoch.")


class ProbeError(RuntimeError):
    """The probe could not run (no such namespace, no ping): the path is not measured."""


def probe(target: ProbeTarget, pings: int = PINGS) -> ProbeResult:
    """One measurement of the target's path."""
    command = ["ip", "netns", "exec", target.namespace, "ping", "-n", "-q", "-c", str(pings),
               "-i", str(INTERVAL), "-W", str(WAIT), target.address]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=pings * INTERVAL + WAIT + 10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProbeError(f"probe {target.service}/{target.workload}: {exc}") from exc
    sent = SENT.search(done.stdout)
    if sent is None:  # ping did not run: its error is on stderr
        raise ProbeError(f"probe {target.service}/{target.workload}:"
                         f" {done.stderr.strip()[-300:] or f'exit {done.returncode}'}")
    transmitted, received = int(sent[1]), int(sent[2])
    rtt = RTT.search(done.stdout)
    return ProbeResult(rtt_ms=float(rtt[1]) if rtt and received else None,
                       loss=1 - received / transmitted if transmitted else 1.0, at=time.time())


class Prober:
    """Probes each target in turn, over and over, in a thread of its own; `results` holds the
    latest measurement of each (or the error that kept it from being measured)."""

    def __init__(self, targets: tuple[ProbeTarget, ...], every: float = 2.0,
                 measure: Callable[[ProbeTarget], ProbeResult] = probe) -> None:
        self.targets = targets
        self._every = every
        self._measure = measure
        self._lock = threading.Lock()
        self._results: dict[ProbeTarget, ProbeResult | ProbeError] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tcra-prober", daemon=True)

    def start(self) -> Prober:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=PINGS * INTERVAL + WAIT + 15)

    def results(self) -> dict[ProbeTarget, ProbeResult | ProbeError]:
        with self._lock:
            return dict(self._results)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for target in self.targets:
                try:
                    result: ProbeResult | ProbeError = self._measure(target)
                except ProbeError as exc:
                    result = exc
                with self._lock:
                    self._results[target] = result
                if self._stop.is_set():
                    return
            self._stop.wait(max(0.0, self._every - (time.monotonic() - started)))
