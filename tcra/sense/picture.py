"""A service's measured round trip against its budget over time, with the alerts that fired
and what the action agent and its operators did, drawn from what Prometheus recorded and the
actions' audit trail: what an operator looks at to see when a path went bad, when the loop
noticed, what was done, and when it came back."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import Field

from tcra.act.model import ActionEvent
from tcra.errors import TcraError
from tcra.model.base import Model

TIMEOUT = 10.0  # seconds for one Prometheus query
FORMATS = (".svg", ".png")


class PrometheusError(TcraError):
    """Prometheus did not answer, or answered an error; names it and the query."""


class AlertSpan(Model):
    alert: str
    start: float
    end: float


class LatencyHistory(Model):
    """What Prometheus recorded of one probed workload between `start` and `end`."""

    service: str
    workload: str
    start: float
    end: float
    step: float = Field(gt=0, description="Seconds between two points Prometheus returned.")
    rtt: tuple[tuple[float, float], ...] = Field(description="(time, ms) of each probe"
                                                 " scraped; none while nothing came back.")
    lost: tuple[tuple[float, float], ...] = Field(default=(), description="(time, share).")
    budget_ms: float | None = None
    alerts: tuple[AlertSpan, ...] = ()
    actions: tuple[ActionEvent, ...] = Field(default=(), description="The audit trail's"
                                             " events of the workload's actions.")


def history(prometheus: str, service: str, workload: str, start: float, end: float,
            step: float = 5.0, ca_bundle: Path | None = None) -> LatencyHistory:
    """Read the workload's probes, budget and firing alerts from Prometheus' HTTP API."""
    labels = f'service="{service}",workload="{workload}"'

    def series(query: str) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({"query": query, "start": start, "end": end,
                                         "step": step})
        url = f"{prometheus.rstrip('/')}/api/v1/query_range?{params}"
        context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT,  # noqa: S310 - http(s) only
                                        context=context if url.startswith("https") else None
                                        ) as answer:
                body = json.load(answer)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise PrometheusError(f"Prometheus {prometheus}: {query}: {exc}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus {prometheus}: {query}: {body.get('error')}")
        return list(body["data"]["result"])

    def points(found: list[dict[str, Any]]) -> tuple[tuple[float, float], ...]:
        return tuple((float(t), float(v)) for s in found for t, v in s["values"])

    budgets = points(series(f"min(tcra_workload_latency_budget_ms{{{labels}}})"))
    spans = []
    for firing in series(f'ALERTS{{alertstate="firing",service="{service}"}}'):
        if firing["metric"].get("workload", workload) != workload:
            continue
        run: list[float] = []
        for t, _ in firing["values"]:
            if run and float(t) - run[-1] > step * 1.5:  # a gap: the alert had resolved
                spans.append(AlertSpan(alert=firing["metric"]["alertname"], start=run[0],
                                       end=run[-1]))
                run = []
            run.append(float(t))
        if run:
            spans.append(AlertSpan(alert=firing["metric"]["alertname"], start=run[0],
                                   end=run[-1]))
    return LatencyHistory(service=service, workload=workload, start=start, end=end, step=step,
                          rtt=points(series(f"tcra_probe_rtt_ms{{{labels}}}")),
                          lost=points(series(f"tcra_probe_loss_ratio{{{labels}}}")),
                          budget_ms=budgets[-1][1] if budgets else None,
                          alerts=tuple(sorted(spans, key=lambda s: s.start)))


def marks(store: str, seen: LatencyHistory) -> tuple[ActionEvent, ...]:
    """The audit trail's events, within the picture's time, of the actions for its workload."""
    from tcra.act.store import ActionStore

    database = ActionStore(store)
    database.migrate()
    return tuple(e for a in database.actions()
                 if (a.service, a.workload) == (seen.service, seen.workload)
                 for e in database.events(a.id) if seen.start <= e.at <= seen.end)


def render(seen: LatencyHistory, out: Path) -> None:
    """Draw it as SVG (text kept as text) or PNG, by `out`'s suffix."""
    if out.suffix not in FORMATS:
        raise ValueError(f"expected a file ending in {' or '.join(FORMATS)}, not {out.name}")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.dates import DateFormatter

    matplotlib.rcParams["svg.fonttype"] = "none"
    figure, axes = pyplot.subplots(figsize=(10, 4.5))
    try:
        days, values = _broken(seen.rtt, seen.step)
        axes.plot(days, values, marker=".", linewidth=1, label="measured round trip")
        if seen.budget_ms is not None:
            axes.axhline(seen.budget_ms, color="black", linestyle="--",
                         label=f"budget {seen.budget_ms:g} ms")
        lost = [_day(t) for t, share in seen.lost if share >= 1]
        if lost:
            axes.plot(lost, [seen.budget_ms or 1] * len(lost), "x", color="red",
                      label="every ping lost")
        colors = {"TcraLatencyBudgetExceeded": "orange", "TcraChainLosesPackets": "red"}
        for span in seen.alerts:
            axes.axvspan(_day(span.start), _day(max(span.end, span.start + 1)), alpha=0.2,
                         color=colors.get(span.alert, "grey"))
            axes.annotate(span.alert, (_day(span.start), 0.02),
                          xycoords=("data", "axes fraction"), rotation=90, va="bottom",
                          fontsize=8)
        for event in seen.actions:
            color = "green" if event.event == "applied" else "blue"
            axes.axvline(_day(event.at), color=color, linewidth=1, linestyle=":")
            axes.annotate(f"{event.event} ({event.actor})", (_day(event.at), 0.98),
                          xycoords=("data", "axes fraction"), rotation=90, va="top",
                          fontsize=8, color=color)
        axes.set_yscale("log")
        axes.set_ylabel("round trip (ms)")
        axes.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
        axes.set_title(f"{seen.service}/{seen.workload}: measured round trip and budget")
        axes.legend(loc="upper left", fontsize=8)
        figure.autofmt_xdate()
        figure.tight_layout()
        figure.savefig(out)
    finally:
        pyplot.close(figure)


def _day(seconds: float) -> float:
    """Matplotlib's date number: days since 1970-01-01 UTC."""
    return seconds / 86400


def _broken(points: tuple[tuple[float, float], ...], step: float
            ) -> tuple[list[float], list[float]]:
    """Days and values, with a gap (NaN) where no probe came back, so no line bridges it."""
    days: list[float] = []
    values: list[float] = []
    for t, value in points:
        if days and t - days[-1] * 86400 > step * 1.5:
            days.append(_day(t - step))
            values.append(float("nan"))
        days.append(_day(t))
        values.append(value)
    return days, values
