"""The action agent against its real peers, without a lab: Alertmanager (Debian's 0.25) sends a
latency alert to the agent's webhook with the bearer token from its credentials file, the agent
proposes an action with the real `pulumi preview` of the manufacturing blueprint's MCO on the
example inventory (blocks off: the plan and the workload inventory only), an approval applies
it with `pulumi up` and moves what it previewed only, an approval after the world changed is
refused unapplied, and the auto-approve policy applies as the policy."""

import json
import threading
import time
import urllib.request

import pytest
import yaml

from tcra.act.agent import Agent
from tcra.act.alerts import Notification
from tcra.act.model import ActionState
from tcra.act.server import Webhook
from tcra.act.stack import StackRef
from tcra.act.store import ActionStore
from tcra.lab import monitor
from tcra.lab.processes import free_port, start_ready, stop, wait_until
from tests.conftest import ROOT
from tests.e2e.test_pim_stack import pulumi_project

SERVICE = "plant"
TOKEN = "agent-token-from-a-credentials-file"


def alert(workload: str, rtt_ms: float) -> dict:
    return {"labels": {"alertname": "TcraLatencyBudgetExceeded", "service": SERVICE,
                       "workload": workload, "severity": "critical"},
            "annotations": {"summary": f"{SERVICE}/{workload}: round trip {rtt_ms} ms",
                            "rtt_ms": str(rtt_ms)}}


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """The example blueprint's MCO, up once, with the environment the agent's pulumi runs in
    (the runner's own: its backend, passphrase, engine)."""
    store = f"sqlite:///{tmp_path / 'mco.db'}"
    config = {"inventory": str(ROOT / "inventories" / "example"),
              "factory_sites[0]": "factory_munich", "factory_sites[1]": "factory_lyon",
              "far_edge_site": "faredge_munich", "allow_partial": "true", "live": "false",
              "store_url": store, **{f"blocks.{b}": "false" for b in (
                  "bare_metal", "virtual_machines", "kubernetes", "connectivity")}}
    with pulumi_project(tmp_path, "example", config) as pulumi:
        for key, value in pulumi.env.items():
            monkeypatch.setenv(key, value)
        pulumi("up", "--yes")
        database = ActionStore(store)
        yield StackRef(project=pulumi.project, stack="lab"), database, pulumi


def sites(database: ActionStore) -> dict[str, str]:
    return {p.workload: p.site for p in database.placements(SERVICE)}


@pytest.fixture
def alertmanager(tmp_path):
    """Alertmanager sending to the agent's port with the token from a credentials file."""
    agent_port, port = free_port(), free_port()
    token = tmp_path / "token"
    token.write_text(TOKEN)
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump({
        "route": {"receiver": "tcra", "group_by": ["alertname", "workload"],
                  "group_wait": "1s", "group_interval": "1h", "repeat_interval": "1h"},
        "receivers": [{"name": "tcra", "webhook_configs": [{
            "url": f"http://127.0.0.1:{agent_port}/alerts", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer",
                                              "credentials_file": str(token)}}}]}]}))
    process = start_ready(
        "Alertmanager", [monitor.ALERTMANAGER, f"--config.file={config}",
                         f"--storage.path={tmp_path / 'am'}",
                         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        tmp_path / "alertmanager.log", lambda: monitor.ready(f"http://127.0.0.1:{port}"),
        60, f"127.0.0.1:{port}")
    try:
        yield agent_port, f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def fire(url: str, *alerts: dict) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{url}/api/v2/alerts", data=json.dumps(list(alerts)).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        assert answer.status == 200


def test_an_alert_becomes_a_previewed_action_that_an_approval_applies(stack, alertmanager):
    ref, database, _pulumi = stack
    agent_port, url = alertmanager
    before = sites(database)
    assert before["mqtt-broker-factory_munich"] == "factory_munich"
    webhook = Webhook(Agent(database, ref), TOKEN, "127.0.0.1", agent_port)
    served = threading.Thread(target=webhook.serve)
    served.start()
    try:
        fire(url, alert("mqtt-broker-factory_munich", 45.0))
        assert wait_until(lambda: database.actions(), 120, interval=0.5), \
            "Alertmanager's notification made no action"
        (action,) = database.actions()
        assert action.state is ActionState.PROPOSED
        assert action.measurement.site == "factory_munich"
        # the broker's users measured its site over budget: the gateway, which publishes to
        # that broker (affinity), moves with it
        moves = {s.split(":")[0].removeprefix("move "): s.rsplit(" -> ", 1)[1]
                 for s in action.preview if s.startswith("move ")}
        assert set(moves) == {"mqtt-broker-factory_munich", "opcua-gateway-factory_munich"}
        (target,) = set(moves.values())
        assert target != "factory_munich"
        assert any(s.startswith("update ") and s.endswith("plant-mco-inventory")
                   for s in action.preview)
        fire(url, alert("mqtt-broker-factory_munich", 47.0))  # the same alert again
        time.sleep(3)
        assert len(database.actions()) == 1
    finally:
        webhook.close()
        served.join(timeout=30)

    applied = Agent(database, ref).approve(action.id, "alice")
    assert applied.state is ActionState.APPLIED
    assert sites(database) == {**before, **moves}  # nothing else moved
    assert [(e.event, e.actor) for e in database.events(action.id)] == [
        ("proposed", "agent"), ("approved", "alice"), ("applied", "agent")]


def test_an_action_whose_preview_changed_is_refused_and_the_policy_approves_as_itself(stack):
    ref, database, pulumi = stack
    before = sites(database)
    agent = Agent(database, ref)
    [proposed] = agent.receive(Notification.model_validate(
        {"version": "4", "status": "firing", "receiver": "tcra",
         "alerts": [{"status": "firing", **alert("opcua-gateway-factory_munich", 45.0)}]}))
    assert proposed.state is ActionState.PROPOSED
    # the world changes before the approval: another up moves the gateway by itself
    pulumi("up", "--yes", env={"TCRA_MEASURED": json.dumps(
        {"service": SERVICE, "workload": "opcua-gateway-factory_munich",
         "site": "factory_munich", "rtt_ms": 45.0})})
    moved = sites(database)
    assert moved != before
    refused = agent.approve(proposed.id, "alice")
    assert refused.state is ActionState.REFUSED
    assert sites(database) == moved  # not applied
    (last,) = database.events(proposed.id)[-1:]
    assert last.detail.startswith("the preview differs from the approved one:")
    assert f"- {next(s for s in proposed.preview if s.startswith('move '))}" in last.detail

    policy = Agent(database, ref, auto_approve=True)
    [applied, nowhere] = policy.receive(Notification.model_validate(
        {"version": "4", "status": "firing", "receiver": "tcra",
         "alerts": [{"status": "firing", **alert("opcua-gateway-factory_munich", 45.0)},
                    {"status": "firing", **alert("mqtt-broker-factory_lyon", 45.0)}]}))
    assert applied.state is ActionState.APPLIED  # back to factory_munich, now within budget
    assert sites(database) == {**moved, "opcua-gateway-factory_munich": "factory_munich",
                               "mqtt-broker-factory_munich": "factory_munich"}
    assert [(e.event, e.actor) for e in database.events(applied.id)] == [
        ("proposed", "agent"), ("approved", "policy:auto-approve"), ("applied", "agent")]
    # Lyon has no other site within 5 ms: a plan that drops the broker is no remedy
    assert nowhere.state is ActionState.NO_REMEDY
    assert nowhere.reason == ("no site within budget: the plan would remove"
                              " mqtt-broker-factory_lyon from factory_lyon; remove"
                              " opcua-gateway-factory_lyon from factory_lyon")
    assert sites(database)["mqtt-broker-factory_lyon"] == "factory_lyon"
