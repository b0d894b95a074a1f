"""Print a deployed blueprint's outputs for a person, and write its picture.

    pulumi stack output --json --show-secrets | python -m tcra.blueprints.report DIR

writes DIR/deployment.dot (and DIR/deployment.svg when Graphviz's `dot` is installed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def render(outputs: dict[str, Any]) -> str:
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
        lines.append(f"  {workload:<32} at {where.get('site')}: {detail}")
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
