"""The blueprints' Helm charts in the lab's registry, as OCI artifacts (`helm push`), where
releases install them from as they would from an operator's private registry.

helm's configuration, cache and credentials live in the folder the lab gives it, never in the
user's home; TLS to the registry is verified against the lab's CA.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml
from pydantic import Field

from tcra.lab.kube import registry
from tcra.lab.processes import LabError
from tcra.model.base import Model

REPOSITORY = "charts"  # charts go to oci://127.0.0.1:5443/charts/NAME
COMMAND_TIMEOUT = 120.0
Report = Callable[[str], None]


class PushedChart(Model):
    """What `push_charts` did for one chart."""

    name: str
    version: str
    reference: str = Field(description="oci://127.0.0.1:5443/charts/NAME, as helm installs it.")
    pushed: bool = Field(description="False when the registry already had this version.")
    seconds: float = Field(description="Wall time to package and push it (0 when skipped).")


def _silent(_: str) -> None:
    pass


def push_charts(charts: Sequence[Path], *, ca: Path, helm_bin: Path, folder: Path,
                report: Report = _silent) -> tuple[PushedChart, ...]:
    """Package and push each chart folder to oci://127.0.0.1:5443/charts, unless the registry
    has its version already (a version, once pushed, is not pushed over). helm runs from
    `helm_bin` with its homes in `folder`."""
    env = _environment(folder)
    done = []
    for chart in charts:
        name, version = _identity(chart)
        reference = f"oci://{registry.ADDRESS}/{REPOSITORY}/{name}"
        if _tag(version) in registry.tags(f"{REPOSITORY}/{name}", ca):
            report(f"charts: {reference}:{version} is in the registry")
            done.append(PushedChart(name=name, version=version, reference=reference,
                                    pushed=False, seconds=0.0))
            continue
        report(f"charts: pushing {reference}:{version}")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=folder) as staging:
            _helm(helm_bin, env, "package", str(chart), "--destination", staging)
            _helm(helm_bin, env, "push", str(Path(staging) / f"{name}-{version}.tgz"),
                  f"oci://{registry.ADDRESS}/{REPOSITORY}", "--ca-file", str(ca))
        done.append(PushedChart(name=name, version=version, reference=reference, pushed=True,
                                seconds=round(time.monotonic() - started, 2)))
    return tuple(done)


def _identity(chart: Path) -> tuple[str, str]:
    try:
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        return str(meta["name"]), str(meta["version"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise LabError(f"{chart}: not a chart with a name and a version: {error}") from error


def _tag(version: str) -> str:
    """The OCI tag helm gives a chart version (`+` is not allowed in a tag)."""
    return version.replace("+", "_")


def _environment(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "HELM_CONFIG_HOME": str(folder / "config"),
            "HELM_CACHE_HOME": str(folder / "cache"), "HELM_DATA_HOME": str(folder / "data"),
            "HELM_REGISTRY_CONFIG": str(folder / "registry.json")}


def _helm(helm_bin: Path, env: dict[str, str], *args: str) -> None:
    try:
        done = subprocess.run([str(helm_bin / "helm"), *args], capture_output=True, text=True,
                              check=False, env=env, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LabError(f"helm {args[0]}: {error}") from error
    if done.returncode != 0:
        raise LabError(f"helm {args[0]}: {done.stderr.strip()[-2000:] or done.returncode}")
