"""tcra sense's metrics from a real store (SQLite) and the example inventory, read through
the Prometheus client's own text format and parser; its rules through promtool, which
checks them and runs them on series that cross the budgets."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tcra.cli import app
from tcra.inventory import load
from tcra.mco.model import (
    DeployedWorkload,
    LatencyBudget,
    Placement,
    Resources,
    ServiceRecord,
)
from tcra.mco.store import Store
from tcra.model import Quantity
from tcra.sense.metrics import Sensor
from tcra.sense.rules import RuleSettings, rule_file

EXAMPLE = Path(__file__).parents[2] / "inventories" / "example"
HOUR = 3600.0


def record(service: str, tenant: str, *placements: Placement, deployed: tuple[str, ...] = ()
           ) -> ServiceRecord:
    return ServiceRecord(service=service, tenant=tenant, owner="test", placements=placements,
                         deployed=tuple(DeployedWorkload(workload=w) for w in deployed))


PLANT = record(
    "plant", "acme",
    Placement(service="plant", workload="app", site="factory_munich", cluster="muc",
              resources=Resources(cpu=2, memory=Quantity("4Gi")),
              latency=(LatencyBudget(area="line", max_ms=20),
                       LatencyBudget(area="office", max_ms=50)),
              cost_per_hour=0.5, carbon_per_hour=120.0),
    Placement(service="plant", workload="historian", site="factory_munich", kind="vaf",
              resources=Resources(cpu=1, memory=Quantity("1Gi"), hugepages=Quantity("1Gi")),
              cost_per_hour=0.25, carbon_per_hour=30.0),
    deployed=("app",))
CAMPUS = record(
    "campus", "globex",
    Placement(service="campus", workload="upf", site="faredge_munich", cluster="cell",
              resources=Resources(cpu=4, memory=Quantity("2Gi")), cost_per_hour=1.0,
              carbon_per_hour=10.0))


@pytest.fixture
def store(tmp_path):
    made = Store(f"sqlite:///{tmp_path / 'mco.db'}")
    made.migrate()
    return made


def scrape(sensor: Sensor) -> dict[str, dict[tuple, float]]:
    """name -> {sorted labels: value}, parsed from the text a scrape returns."""
    registry = CollectorRegistry()
    registry.register(sensor)
    parsed: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            parsed.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = \
                sample.value
    return parsed


def value(metrics, name: str, **labels: str) -> float:
    return metrics[name][tuple(sorted(labels.items()))]


def test_sites_workloads_and_tenants_are_what_the_store_and_inventory_say(store):
    store.record(PLANT)
    store.record(CAMPUS)
    since = {(r.placement.service, r.placement.workload): r.since for r in store.running()}
    now = max(since.values()) + 2 * HOUR
    sensor = Sensor(load(EXAMPLE), store, clock=lambda: now)
    sensor.read_store()
    metrics = scrape(sensor)

    # factory_munich has 64 cores and 128Gi of hugepages; plant takes 3 cores and 1Gi there
    assert value(metrics, "tcra_site_capacity", site="factory_munich", resource="cpu_cores") == 64
    assert value(metrics, "tcra_site_used", site="factory_munich", resource="cpu_cores") == 3
    assert value(metrics, "tcra_site_free", site="factory_munich", resource="cpu_cores") == 61
    assert value(metrics, "tcra_site_free", site="factory_munich",
                 resource="hugepages_bytes") == 127 * 2**30
    assert value(metrics, "tcra_site_used", site="core_stockholm", resource="cpu_cores") == 0

    assert value(metrics, "tcra_workload_info", service="plant", workload="app", tenant="acme",
                 site="factory_munich", kind="caf", cluster="muc", state="deployed") == 1
    assert value(metrics, "tcra_workload_info", service="plant", workload="historian",
                 tenant="acme", site="factory_munich", kind="vaf", cluster="",
                 state="placed") == 1
    assert value(metrics, "tcra_workload_latency_budget_ms", service="plant", workload="app",
                 area="line") == 20
    assert ("tcra_workload_latency_budget_ms" not in metrics or not any(
        dict(k)["workload"] == "historian" for k in metrics["tcra_workload_latency_budget_ms"]))

    # accounting: each estimate times the hours it has run, per tenant
    def accrued(service, workload, per_hour):
        return per_hour * (now - since[(service, workload)]) / HOUR
    assert value(metrics, "tcra_tenant_cost_eur_total", tenant="acme") == pytest.approx(
        accrued("plant", "app", 0.5) + accrued("plant", "historian", 0.25))
    assert value(metrics, "tcra_tenant_carbon_grams_total", tenant="globex") == pytest.approx(
        accrued("campus", "upf", 10.0))
    assert value(metrics, "tcra_sense_peer_up", peer="store") == 1


def test_what_a_destroyed_service_used_stays_in_its_tenant_s_total(store):
    store.record(PLANT)
    sensor = Sensor(load(EXAMPLE), store)
    sensor.read_store()
    running = value(scrape(sensor), "tcra_tenant_cost_eur_total", tenant="acme")
    store.forget("plant", "test")
    sensor.read_store()
    metrics = scrape(sensor)
    [(cost, _carbon)] = store.ended().values()
    assert value(metrics, "tcra_tenant_cost_eur_total", tenant="acme") == pytest.approx(cost)
    assert cost >= running > 0  # its runs ended later than the first scrape: never less
    assert not any(dict(k)["service"] == "plant" for k in metrics.get("tcra_workload_info", {}))


def test_a_store_that_stops_answering_keeps_its_figures_marked_stale(store, tmp_path):
    store.record(PLANT)
    clock = [1000.0]
    sensor = Sensor(load(EXAMPLE), store, clock=lambda: clock[0])
    sensor.read_store()
    (tmp_path / "mco.db").unlink()  # the database is gone: SQLite has no schema to read
    clock[0] += 30
    sensor.read_store()
    clock[0] += 15
    metrics = scrape(sensor)
    assert value(metrics, "tcra_sense_peer_up", peer="store") == 0
    assert value(metrics, "tcra_sense_peer_age_seconds", peer="store") == 45
    assert value(metrics, "tcra_workload_info", service="plant", workload="app", tenant="acme",
                 site="factory_munich", kind="caf", cluster="muc", state="deployed") == 1


def test_the_rules_take_each_workload_s_tightest_budget_and_promtool_accepts_them(store,
                                                                                 tmp_path):
    store.record(PLANT)
    store.record(CAMPUS)
    text = rule_file(store.running(), RuleSettings(max_loss=0.1, horizon_s=3600))
    assert text.startswith("# Generated by `tcra sense rules`")
    groups = {g["name"]: g["rules"] for g in yaml.safe_load(text)["groups"]}
    assert list(groups) == ["tcra-service-campus", "tcra-service-plant", "tcra-sites"]
    [latency] = [r for r in groups["tcra-service-plant"]
                 if r["alert"] == "TcraLatencyBudgetExceeded"]
    assert latency["expr"] == 'tcra_probe_rtt_ms{service="plant",workload="app"} > 20'
    assert [r["alert"] for r in groups["tcra-service-campus"]] == ["TcraChainLosesPackets"]
    path = tmp_path / "tcra.yml"
    path.write_text(text)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: scripts/setup-host installs prometheus")
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The rules on series that cross them: promtool evaluates them as Prometheus would.
    (tmp_path / "test.yml").write_text(yaml.safe_dump({
        "rule_files": [str(path)], "evaluation_interval": "5s",
        "tests": [{"interval": "5s", "input_series": [
            {"series": 'tcra_probe_rtt_ms{service="plant",workload="app"}',
             "values": "0.1 0.1 0.1 420 420"},
            {"series": 'tcra_probe_loss_ratio{service="plant",workload="app"}',
             "values": "0 0 0 0 1"},
            # 100 cores free, 12 fewer each minute: gone within the hour's horizon; memory
            # steady, never foreseen to run out
            {"series": 'tcra_site_free{site="factory_munich",resource="cpu_cores"}',
             "values": "100-1x40"},
            {"series": 'tcra_site_free{site="factory_munich",resource="memory_bytes"}',
             "values": "1000+0x40"}],
            "alert_rule_test": [
                {"eval_time": "10s", "alertname": "TcraLatencyBudgetExceeded", "exp_alerts": []},
                {"eval_time": "15s", "alertname": "TcraLatencyBudgetExceeded", "exp_alerts": [
                    {"exp_labels": {"severity": "critical", "budget_ms": "20",
                                    "service": "plant", "workload": "app"},
                     "exp_annotations": {"summary": "plant/app: round trip 420 ms, over its"
                                                    " budget of 20 ms", "rtt_ms": "420"}}]},
                {"eval_time": "15s", "alertname": "TcraChainLosesPackets", "exp_alerts": []},
                {"eval_time": "20s", "alertname": "TcraChainLosesPackets", "exp_alerts": [
                    {"exp_labels": {"severity": "critical", "service": "plant",
                                    "workload": "app"},
                     "exp_annotations": {"summary": "plant/app: the chain lost 100% of a"
                                                    " probe's pings"}}]},
                {"eval_time": "3m", "alertname": "TcraSiteRunsOut", "exp_alerts": [
                    {"exp_labels": {"severity": "warning", "site": "factory_munich",
                                    "resource": "cpu_cores"},
                     "exp_annotations": {"summary": "site factory_munich: free cpu_cores runs"
                                                    " out within 3600 s at its 30m trend"}}]},
            ]}]}))
    tested = subprocess.run([promtool, "test", "rules", str(tmp_path / "test.yml")],
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_bad_probes_and_settings_are_refused_naming_them(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["sense", "serve", "--inventory", str(EXAMPLE),
                              "--probe", "plant-app", "--probe", "plant/BAD=fd00::1",
                              "--probe-from", "users"])
    assert bad.exit_code == 2
    lines = bad.output.splitlines()
    assert any(line.startswith("tcra sense serve: --probe[0]: expected SERVICE/WORKLOAD=ADDRESS")
               and "plant-app" in line for line in lines), bad.output
    assert any("--probe[1]" in line and "workload" in line for line in lines), bad.output
    no_address = runner.invoke(app, ["sense", "serve", "--inventory", str(EXAMPLE),
                                     "--probe", "plant/app"])
    assert no_address.exit_code == 2 and "--probe[0]" in no_address.output
    loss = runner.invoke(app, ["sense", "rules", "--inventory", str(EXAMPLE),
                               "--store", f"sqlite:///{tmp_path / 'x.db'}", "--max-loss", "2"])
    assert loss.exit_code == 2 and "max_loss" in loss.output, loss.output
    assert not (tmp_path / "x.db").exists()  # refused before anything was touched
    no_lab = runner.invoke(app, ["sense", "rules", "--lab", "nosuchlab"])
    assert no_lab.exit_code == 1 and "lab nosuchlab is not up" in no_lab.output


def test_the_picture_shows_the_round_trip_the_budget_and_the_alerts(tmp_path):
    from tcra.sense.picture import AlertSpan, LatencyHistory, render

    start = 1_796_000_000.0
    seen = LatencyHistory(
        service="plant", workload="app", start=start, end=start + 60, step=5,
        rtt=tuple((start + t, 0.1 if t < 20 or t > 40 else 420.0) for t in range(0, 61, 5)),
        lost=((start + 50, 1.0),), budget_ms=20,
        alerts=(AlertSpan(alert="TcraLatencyBudgetExceeded", start=start + 25,
                          end=start + 40),))
    render(seen, tmp_path / "latency.svg")
    svg = (tmp_path / "latency.svg").read_text()
    for text in ("plant/app: measured round trip and budget", "budget 20 ms",
                 "TcraLatencyBudgetExceeded", "every ping lost"):
        assert text in svg
    render(seen, tmp_path / "latency.png")
    assert (tmp_path / "latency.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match=r"expected a file ending in \.svg or \.png"):
        render(seen, tmp_path / "latency.pdf")


def test_a_bad_picture_request_is_refused_before_prometheus_is_asked(tmp_path):
    refused = CliRunner().invoke(app, ["sense", "picture", "plant", "--out",
                                       str(tmp_path / "x.pdf"), "--prometheus", "ftp://x"])
    assert refused.exit_code == 2
    assert "probe: expected SERVICE/WORKLOAD" in refused.output
    assert "--out: expected a file ending in .svg or .png" in refused.output
    assert "--prometheus: expected an http(s) URL" in refused.output
    assert not (tmp_path / "x.pdf").exists()
