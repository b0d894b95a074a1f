"""A Helm chart pinned to one exact version, and every check on it: plain data shared by
K8sCluster's add-ons, Workload and a blueprint's catalog, released by
components/workload_chart.py.

`source_problem` asks the chart's registry or repository whether it serves that version, so a
chart that does not exist fails in seconds, before Helm is started."""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field

from tcra import yamlsafe
from tcra.capi._meta import DNS_LABEL_EXPECTED, is_dns_label
from tcra.errors import Problem, TcraError
from tcra.model.base import Model

PINNED = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
PINNED_EXPECTED = 'expected a pinned chart version like "1.2.3" (not a range, not "latest")'
MAX_RELEASE_NAME = 53  # Helm keeps release names to 53 characters
OCI_MANIFEST = ("application/vnd.oci.image.manifest.v1+json,"
                "application/vnd.docker.distribution.manifest.v2+json")


class ChartSourceError(TcraError):
    """The chart's registry or repository cannot be asked: it does not answer, or its TLS
    certificate is not trusted."""


class UntrustedSourceError(ChartSourceError):
    """The chart's registry or repository has a TLS certificate no trusted CA signed."""


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


def trust_env(folder: Path) -> dict[str, str]:
    """The environment under which Go programs (Helm, the engine's Kubernetes provider) trust
    the CAs in `folder` beside the system's: Go reads every file in SSL_CERT_DIR's folders,
    and the provider takes no CA for oci:// charts."""
    return {"SSL_CERT_DIR": f"/etc/ssl/certs:{folder}"}


def source_problem(chart: Chart, *, ca: Path | None = None, timeout: float = 10.0) -> str | None:
    """Why the chart's source does not serve `chart.version`, in a few words; None when it does,
    or when it cannot tell (a registry that wants credentials: Helm logs in, this does not).

    oci://: the registry's manifest for name:version (Helm's tag: "+" becomes "_"); a
    repository: its index.yaml lists the version; a local path: chart_problems reads it.
    TLS is verified against the environment's trust (SSL_CERT_FILE, SSL_CERT_DIR) and `ca`;
    an oci:// registry only `ca` vouches for is a problem, since the engine's provider
    cannot be given `ca` for those (it trusts the environment only)."""
    if chart.version is None or chart.source == "path":
        return None
    context = ssl.create_default_context()
    if ca is not None:
        context.load_verify_locations(cafile=str(ca))
    if chart.source == "oci":
        host, _, repository = chart.chart.removeprefix("oci://").partition("/")
        tag = chart.version.replace("+", "_")
        url = f"https://{host}/v2/{repository}/manifests/{quote(tag, safe='')}"
        try:  # as the engine's Kubernetes provider will: with the environment's trust only
            status, _ = _fetch(url, "HEAD", {"Accept": OCI_MANIFEST},
                               ssl.create_default_context(), timeout)
        except UntrustedSourceError:
            if ca is None:
                raise
            status, _ = _fetch(url, "HEAD", {"Accept": OCI_MANIFEST}, context, timeout)
            return (f"the registry {host} is trusted through {ca} only, and the engine's"
                    " Kubernetes provider pulls oci:// charts trusting the system's CAs and"
                    " SSL_CERT_DIR or SSL_CERT_FILE alone: run pulumi with"
                    f" SSL_CERT_DIR={trust_env(ca.parent)['SSL_CERT_DIR']}")
        if status == 404:
            return f"the registry {host} has no chart {repository}:{tag} (no such manifest)"
        if status in (200, 401, 403):
            return None
        return f"the registry {host} answered HTTP {status} for {url}"
    index = f"{(chart.repository or '').rstrip('/')}/index.yaml"
    status, body = _fetch(index, "GET", {}, context, timeout)
    if status != 200:
        return None if status in (401, 403) else f"{index} answered HTTP {status}"
    try:
        entries = yamlsafe.parse(body.decode(), index).get("entries") or {}
        versions = [str(entry.get("version")) for entry in entries.get(chart.chart) or ()]
    except (AttributeError, UnicodeDecodeError, yamlsafe.UnsafeInputError):
        return f"{index} is not a Helm repository index"
    if not versions:
        return f"the repository {chart.repository} has no chart {chart.chart}"
    if chart.version not in versions:
        return (f"the repository {chart.repository} has no version {chart.version} of chart"
                f" {chart.chart} (it has {', '.join(versions[:5])}"
                f"{', ...' if len(versions) > 5 else ''})")
    return None


def _fetch(url: str, method: str, headers: dict[str, str], context: ssl.SSLContext,
           timeout: float) -> tuple[int, bytes]:
    """The status and body (at most yamlsafe.MAX_BYTES) of one request; HTTP errors are
    statuses, not exceptions."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ChartSourceError(f"{url}: expected an http(s) URL")
    request = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310 - above
    try:
        with urllib.request.urlopen(request, timeout=timeout,  # noqa: S310 - checked above
                                    context=context) as answer:
            body = answer.read(yamlsafe.MAX_BYTES + 1)
            if len(body) > yamlsafe.MAX_BYTES:
                raise ChartSourceError(f"{url}: larger than {yamlsafe.MAX_BYTES:,} bytes")
            return answer.status, body
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise UntrustedSourceError(f"{url}: its TLS certificate is not trusted"
                                   f" ({reason.verify_message}; give the registry's CA)"
                                   ) from None
        raise ChartSourceError(f"{url} does not answer ({reason})") from None
    except (TimeoutError, OSError) as exc:
        raise ChartSourceError(f"{url} does not answer ({exc or type(exc).__name__})") from None
