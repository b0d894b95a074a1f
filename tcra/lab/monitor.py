"""The lab's monitoring and alert system: Prometheus (Debian's 2.42) scraping tcra's metrics
and evaluating the rules `tcra sense rules` writes, and Alertmanager (0.25) sending what fires
to tcra's action agent (`tcra actions serve --lab`) with a bearer token only root can read.
Both listen on 127.0.0.1 only, keep their data in the lab's state folder, and are stopped by
`lab down`; Alertmanager's cluster port, which would listen on every address, is off."""

from __future__ import annotations

import secrets
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tcra.lab.processes import LabError, alive, free_port, start_ready, stop
from tcra.lab.spec import LabMonitor, LabSpec

PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"  # Debian's name for alertmanager
INTERVAL = "5s"       # scrape and rule evaluation: an alert fires within two of them
START_TIMEOUT = 60.0  # seconds
HTTP_TIMEOUT = 5.0


def ensure(spec: LabSpec, current: LabMonitor | None) -> LabMonitor:
    """Keep both running if they are; otherwise (re)start them on the ports they had."""
    if current and current.act_port and alive(current.prometheus) and \
            alive(current.alertmanager):
        return current
    if current:
        stop_all(current)
    missing = [p for p in (PROMETHEUS, ALERTMANAGER) if shutil.which(p) is None]
    if missing:
        raise LabError(f"{', '.join(missing)} not installed: apt-get install prometheus"
                       " prometheus-alertmanager (scripts/setup-host does this)")
    folder = spec.state_dir / "monitor"
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    ports = ((current.prometheus_port, current.alertmanager_port, current.sense_port,
              current.act_port or free_port())
             if current else (free_port(), free_port(), free_port(), free_port()))
    prometheus_port, alertmanager_port, sense_port, act_port = ports
    token = folder / "act.token"
    if not token.exists():
        token.touch(mode=0o600)
        token.write_text(secrets.token_urlsafe(32))
    token.chmod(0o600)
    _write(folder / "alertmanager.yml", {
        "route": {"receiver": "tcra", "group_by": ["alertname", "service"],
                  "group_wait": "1s", "group_interval": "10s", "repeat_interval": "1h"},
        "receivers": [{"name": "tcra", "webhook_configs": [{
            # Resolved too (the agent ignores them): without them, Alertmanager sends the
            # same alert's next firing only after repeat_interval (alertmanager#1063), and a
            # fault repaired and back within the hour would go unanswered.
            "url": f"http://127.0.0.1:{act_port}/alerts", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer",
                                              "credentials_file": str(token)}}}]}]})
    _write(folder / "prometheus.yml", {
        "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
        "rule_files": [str(folder / "rules" / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [{"job_name": "tcra", "static_configs": [
            {"targets": [f"127.0.0.1:{sense_port}"]}]}]})
    alertmanager = start_ready(
        "Alertmanager", [ALERTMANAGER, f"--config.file={folder / 'alertmanager.yml'}",
                         f"--storage.path={folder / 'alertmanager'}",
                         f"--web.listen-address=127.0.0.1:{alertmanager_port}",
                         "--cluster.listen-address="],
        folder / "alertmanager.log", lambda: ready(f"http://127.0.0.1:{alertmanager_port}"),
        START_TIMEOUT, f"127.0.0.1:{alertmanager_port}")
    try:
        prometheus = start_ready(
            "Prometheus", [PROMETHEUS, f"--config.file={folder / 'prometheus.yml'}",
                           f"--storage.tsdb.path={folder / 'prometheus'}",
                           "--storage.tsdb.retention.time=2d",
                           f"--web.listen-address=127.0.0.1:{prometheus_port}",
                           "--web.enable-lifecycle"],  # POST /-/reload reads new rules
            folder / "prometheus.log", lambda: ready(f"http://127.0.0.1:{prometheus_port}"),
            START_TIMEOUT, f"127.0.0.1:{prometheus_port}")
    except LabError:
        stop(alertmanager)
        raise
    return LabMonitor(folder=folder, prometheus=prometheus, prometheus_port=prometheus_port,
                      alertmanager=alertmanager, alertmanager_port=alertmanager_port,
                      sense_port=sense_port, act_port=act_port)


def stop_all(monitor: LabMonitor) -> None:
    stop(monitor.prometheus)
    stop(monitor.alertmanager)


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=HTTP_TIMEOUT) as answer:  # noqa: S310 - http://127.0.0.1 only
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def reload(monitor: LabMonitor) -> None:
    """Make Prometheus read its rule files again."""
    request = urllib.request.Request(f"{monitor.prometheus_url}/-/reload", method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT):  # noqa: S310 - loopback
            pass
    except (OSError, urllib.error.URLError) as exc:
        raise LabError(f"Prometheus at {monitor.prometheus_url} did not reload: {exc}"
                       ) from None


def _write(path: Path, config: dict[str, object]) -> None:
    path.write_text("# written by tcra lab up\n" + yaml.safe_dump(config, sort_keys=False))
