"""Print a deployed blueprint's outputs for a person (whether each endpoint URL answers, asked
in its protocol), and write its picture.

    pulumi stack output --json --show-secrets | python -m tcra.blueprints.report DIR

writes DIR/deployment.dot (and DIR/deployment.svg when Graphviz's `dot` is installed).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROBE_TIMEOUT = 5.0
# MQTT 3.1.1 CONNECT: clean session, keep-alive 10 s, client id "tcra-report".
MQTT_CONNECT = bytes([0x10, 23, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 10, 0, 11]) + b"tcra-report"


def answers(url: str) -> bool | None:
    """Whether the endpoint answers in its protocol: an HTTP response below 500, or an MQTT
    broker's CONNACK accepting the connection; None for a scheme this does not speak."""
    address = urlsplit(url)
    try:
        if address.scheme in ("http", "https"):
            try:
                with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as reply:  # noqa: S310
                    return bool(reply.status < 500)
            except urllib.error.HTTPError as refused:
                return refused.code < 500
        if address.scheme == "mqtt":
            with socket.create_connection((address.hostname, address.port or 1883),
                                          timeout=PROBE_TIMEOUT) as broker:
                broker.sendall(MQTT_CONNECT)
                return broker.recv(4) == bytes([0x20, 2, 0, 0])
    except (OSError, urllib.error.URLError):
        return False
    return None


def render(outputs: dict[str, Any], probe: Callable[[str], bool | None] = answers) -> str:
    plan = outputs.get("plan") or {}
    lines = [f"placement plan for {plan.get('service', '?')} (tenant {plan.get('tenant', '?')}):"]
    for assignment in plan.get("assignments", []):
        lines.append(f"  {assignment['workload']:<32} -> {assignment['site']:<16}"
                     f" score {assignment['score']:.3f}")
    for unplaced in plan.get("unplaced", []):
        lines.append(f"  {unplaced['workload']:<32} -> not placed: {unplaced['reason']}")
    lines.append("endpoints:")
    for workload, where in sorted((outputs.get("endpoints") or {}).items()):
        detail = ", ".join(f"{k} {v}" for k, v in where.items() if k not in ("site",) and v)
        heard = probe(where["url"]) if where.get("url") else None
        answer = "" if heard is None else ": answers" if heard else ": DOES NOT ANSWER"
        lines.append(f"  {workload:<32} at {where.get('site')}: {detail}{answer}")
    for workload, why in sorted((outputs.get("not_deployed") or {}).items()):
        lines.append(f"  {workload:<32} {why}")
    if outputs.get("chain"):
        lines.append(f"chain: {outputs['chain']}")
    return "\n".join(lines)


def write_picture(diagram: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dot = folder / "deployment.dot"
    dot.write_text(diagram)
    if shutil.which("dot") is None:
        return dot
    svg = folder / "deployment.svg"
    subprocess.run(["dot", "-Tsvg", str(dot), "-o", str(svg)], check=True, timeout=60)
    return svg


def main() -> None:
    outputs = json.load(sys.stdin)
    print(render(outputs))
    if outputs.get("diagram"):
        picture = write_picture(outputs["diagram"], Path(sys.argv[1] if len(sys.argv) > 1
                                                         else "."))
        print(f"picture of what was deployed: {picture}")


if __name__ == "__main__":
    main()
