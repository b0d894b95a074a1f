"""A Helm chart pinned to one exact version, and every check on it: plain data shared by
K8sCluster's add-ons and Workload, released by components/workload_chart.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from tcra import yamlsafe
from tcra.capi._meta import DNS_LABEL_EXPECTED, is_dns_label
from tcra.errors import Problem
from tcra.model.base import Model

PINNED = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
PINNED_EXPECTED = 'expected a pinned chart version like "1.2.3" (not a range, not "latest")'
MAX_RELEASE_NAME = 53  # Helm keeps release names to 53 characters


class Chart(Model):
    """A Helm chart at one exact version, with its values, released into one namespace."""

    chart: str = Field(min_length=1, description="A chart name in `repository`, an oci://"
                       " reference, or a local path (./charts/app).")
    version: str | None = Field(default=None, description="The exact chart version; required.")
    repository: str | None = Field(default=None, description="The chart repository's URL.")
    values: dict[str, Any] = Field(default_factory=dict)
    namespace: str = "default"
    release_name: str | None = None

    @property
    def release(self) -> str:
        """The Helm release name: `release_name`, else the chart's own name."""
        return self.release_name or self.chart.rstrip("/").rsplit("/", 1)[-1]

    @property
    def source(self) -> Literal["oci", "path", "repository"]:
        if self.chart.startswith("oci://"):
            return "oci"
        if self.chart.startswith(("/", "./", "../", "~")):
            return "path"
        return "repository"


def chart_problems(chart: Chart, where: str, field: str = "") -> list[Problem]:
    """Everything wrong with a chart reference, each naming its field, value and expectation."""
    at = f"{field}." if field else ""
    problems: list[Problem] = []
    if chart.version is None or not PINNED.match(chart.version):
        problems.append(Problem(where, f"{at}version", PINNED_EXPECTED, chart.version))
    if chart.source == "repository":
        parts = urlsplit(chart.repository or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(Problem(where, f"{at}repository", f"expected the http(s) URL of the"
                                    f" repository that serves chart {chart.chart!r} (or give"
                                    " an oci:// reference or a local path as chart)",
                                    chart.repository))
    elif chart.repository is not None:
        problems.append(Problem(where, f"{at}repository", f"expected none: a chart given as"
                                f" {chart.source} reference names its own source",
                                chart.repository))
    if chart.source == "path" and chart.version is not None:
        problems.extend(_local_version_problems(chart, where, at))
    if not is_dns_label(chart.namespace):
        problems.append(Problem(where, f"{at}namespace", f"expected {DNS_LABEL_EXPECTED}",
                                chart.namespace))
    problems.extend(release_name_problems(chart.release, where, f"{at}release_name"))
    return problems


def release_name_problems(name: str, where: str, field: str) -> list[Problem]:
    if len(name) > MAX_RELEASE_NAME or not is_dns_label(name):
        return [Problem(where, field, f"expected a Helm release name: {DNS_LABEL_EXPECTED},"
                        f" and at most {MAX_RELEASE_NAME} characters", name)]
    return []


def _local_version_problems(chart: Chart, where: str, at: str) -> list[Problem]:
    manifest = Path(chart.chart).expanduser() / "Chart.yaml"
    try:
        declared = yamlsafe.load(manifest, max_bytes=2**20).get("version")
    except (AttributeError, yamlsafe.UnsafeInputError):
        return [Problem(where, f"{at}chart", f"expected a chart folder with a readable"
                        f" Chart.yaml ({manifest})", chart.chart)]
    if str(declared) != chart.version:
        return [Problem(where, f"{at}version", f"expected the version {manifest} declares"
                        f" ({declared})", chart.version)]
    return []
