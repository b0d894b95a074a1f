"""The action agent's own parts: the webhook refuses what is not Alertmanager's with the
agent's token, the store keeps one standing action per alert and a trail of every decision,
and the MCO places with what the users measured."""

import json
import threading
import urllib.error
import urllib.request

import pytest

from tcra.act.agent import Agent
from tcra.act.alerts import RefusedCallError, authorize, parse
from tcra.act.model import Action, ActionState, Measurement
from tcra.act.server import Webhook
from tcra.act.stack import MEASURED, StackRef, measured_for
from tcra.act.store import ActionStateError, ActionStore
from tcra.errors import InvalidInputError

TOKEN = "s3cret-token-of-the-agent"


def notification(*alerts: dict) -> dict:
    return {"version": "4", "status": "firing", "receiver": "tcra", "groupKey": "{}:{}",
            "truncatedAlerts": 0, "alerts": list(alerts), "externalURL": "http://am"}


def latency_alert(service="plant", workload="app", rtt="45.5") -> dict:
    return {"status": "firing", "fingerprint": "a1b2",
            "labels": {"alertname": "TcraLatencyBudgetExceeded", "service": service,
                       "workload": workload, "severity": "critical", "budget_ms": "20"},
            "annotations": {"summary": f"{service}/{workload}: round trip {rtt} ms",
                            "rtt_ms": rtt},
            "startsAt": "2026-12-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}


@pytest.mark.parametrize(("header", "refused"), [
    (None, True), ("", True), (f"Basic {TOKEN}", True), ("Bearer wrong", True),
    (f"Bearer {TOKEN}x", True), (f"Bearer {TOKEN}", False)])
def test_only_the_agents_bearer_token_is_let_in(header, refused):
    if refused:
        with pytest.raises(RefusedCallError) as caught:
            authorize(header, TOKEN)
        assert caught.value.status == 401
        assert TOKEN not in str(caught.value)
    else:
        authorize(header, TOKEN)


@pytest.mark.parametrize(("body", "expected"), [
    (b"not json", "webhook: Invalid JSON"),
    (b"{}", "webhook: version: missing; this field is required"),
    (json.dumps({**notification(latency_alert()), "version": "3"}).encode(),
     "webhook: version: Input should be '4' (got '3')"),
    (json.dumps(notification({**latency_alert(), "status": "burning"})).encode(),
     "webhook: alerts.0.status: Input should be 'firing' or 'resolved' (got 'burning')"),
    (json.dumps(notification({**latency_alert(), "labels": {"a": 1}})).encode(),
     "webhook: alerts.0.labels.a: Input should be a valid string (got 1)"),
])
def test_a_body_that_is_not_alertmanagers_is_refused_naming_the_field(body, expected):
    with pytest.raises(RefusedCallError) as caught:
        parse(body)
    assert caught.value.status == 400
    assert caught.value.problems[0].startswith(expected), caught.value.problems


def test_alertmanagers_payload_is_read_and_its_extra_fields_ignored():
    read = parse(json.dumps(notification(latency_alert())).encode())
    assert read.alerts[0].labels["workload"] == "app"
    assert read.alerts[0].annotations["rtt_ms"] == "45.5"


@pytest.fixture
def store(tmp_path):
    database = ActionStore(f"sqlite:///{tmp_path / 'mco.db'}")
    database.migrate()
    return database


def action(number: int, state=ActionState.PROPOSED, workload="app") -> Action:
    return Action(id=f"{number:012x}", created=1000.0 + number, alert="TcraLatencyBudgetExceeded",
                  service="plant", workload=workload,
                  measurement=Measurement(site="lab_factory", rtt_ms=45.5), state=state,
                  reason="over budget", preview=("replace urn:a",), digest="d" * 64)


def test_one_standing_action_per_alert_and_every_decision_in_the_trail(store):
    assert store.propose(action(1), "agent", 1001.0) == action(1)
    assert store.propose(action(2), "agent", 1002.0) is None  # Alertmanager's repeat
    assert store.propose(action(3, workload="fw"), "agent", 1003.0) == action(3, workload="fw")
    assert [a.id for a in store.actions()] == [action(1).id, action(3).id]

    rejected = store.decide(action(1).id, "reject", (ActionState.PROPOSED,),
                            ActionState.REJECTED, "alice", 1010.0, "not now")
    assert rejected.state is ActionState.REJECTED
    with pytest.raises(ActionStateError, match=f"action {action(1).id}: cannot approve:"
                                               " it is rejected"):
        store.decide(action(1).id, "approve", (ActionState.PROPOSED,), ActionState.APPROVED,
                     "bob", 1011.0)
    with pytest.raises(ActionStateError, match="cannot approve: no such action"):
        store.decide("0" * 12, "approve", (ActionState.PROPOSED,), ActionState.APPROVED,
                     "bob", 1011.0)
    # decided, it no longer stands: the alert firing again proposes anew
    assert store.propose(action(4), "agent", 1020.0) == action(4)
    assert [(e.event, e.actor, e.detail) for e in store.events(action(1).id)] == [
        ("proposed", "agent", "over budget"), ("rejected", "alice", "not now")]
    assert [a.id for a in store.actions(ActionState.PROPOSED)] == [action(3).id, action(4).id]


def test_a_decision_on_a_no_remedy_action_is_refused(store):
    store.propose(action(5, ActionState.NO_REMEDY), "agent", 1.0)
    agent = Agent(store, StackRef(project=".", stack="-"))
    with pytest.raises(ActionStateError, match="cannot approve: it is no-remedy"):
        agent.approve(action(5).id, "alice")
    assert [e.event for e in store.events(action(5).id)] == ["no-remedy"]


def call(port: int, body: bytes, headers: dict[str, str], path="/alerts") -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_the_webhook_answers_refusals_with_their_status_and_queues_the_rest(store):
    webhook = Webhook(Agent(store, StackRef(project=".", stack="-")), TOKEN, "127.0.0.1", 0)
    served = threading.Thread(target=webhook.serve)
    served.start()
    good = json.dumps(notification({**latency_alert(), "status": "resolved"})).encode()
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        assert call(webhook.port, good, {})[0] == 401
        assert call(webhook.port, good, {"Authorization": "Bearer forged"})[0] == 401
        status, body = call(webhook.port, b"{\"version\": \"4\"}", auth)
        assert status == 400 and "webhook: status: missing" in body["problems"][0]
        assert call(webhook.port, good, auth, path="/other")[0] == 404
        assert call(webhook.port, good, auth) == (202, {"queued": True})
    finally:
        webhook.close()
        served.join(timeout=10)
    assert store.actions() == []  # a resolved alert proposes nothing


def test_the_measurement_reaches_only_its_own_services_program(monkeypatch):
    from tcra.mco.model import MeasuredPath

    monkeypatch.setenv(MEASURED, json.dumps({"service": "plant", "workload": "app",
                                             "site": "lab_factory", "rtt_ms": 45.5}))
    measured = measured_for("plant")
    assert MeasuredPath.model_validate(measured.model_dump(exclude={"service"})) == \
        MeasuredPath(workload="app", site="lab_factory", rtt_ms=45.5)
    assert measured_for("campus") is None
    monkeypatch.setenv(MEASURED, json.dumps({"service": "plant", "workload": "app",
                                             "site": "lab_factory", "rtt_ms": -1}))
    with pytest.raises(InvalidInputError) as caught:
        measured_for("plant")
    assert caught.value.lines() == [
        f"{MEASURED}: rtt_ms: Input should be greater than 0 (got -1)"]
    monkeypatch.delenv(MEASURED)
    assert measured_for("plant") is None


def two_sites():
    from tcra.model import Inventory
    from tests.unit.test_mco_hosts import a_host, a_hypervisor, a_site

    hosts = (a_host("hv-a", "site_a", index=1), a_host("hv-b", "site_b", index=2))
    return Inventory(sites=(a_site("site_a"), a_site("site_b", lat=48.2)), hosts=hosts,
                     hypervisors=tuple(a_hypervisor(h) for h in hosts))


def test_the_mco_moves_the_measured_path_off_its_site_and_only_that():
    """app's users measured its site over budget: app and fw, on their path (the chain),
    move; db, at the same site with the same budget but not on the path, stays."""
    from tcra.mco.hosts import place_on_hosts
    from tcra.mco.model import MeasuredPath, Policy, ServiceRequest
    from tests.unit.test_mco_hosts import HERE, recorded

    def workload(name, **extra):
        return {"name": name, "kind": "vaf", "resources": {"cpu": 1, "memory": "1Gi"},
                "latency": [{"area": "site_a", "max_ms": 20}], **extra}

    request = ServiceRequest.model_validate({
        "name": "plant", "areas": {"site_a": HERE.model_dump()}, "chain": ["fw", "app"],
        "workloads": [workload("fw"), workload("app"), workload("db")],
        "affinity": [{"first": "fw", "second": "db"}, {"first": "app", "second": "db"}]})
    first = place_on_hosts(request, Policy(), two_sites())
    [here] = {a.site for a in first.assignments}
    unbound = request.model_copy(update={"affinity": ()})  # together at first, free since
    taken = recorded((first, unbound))
    again = place_on_hosts(unbound, Policy(), two_sites(), running=taken.of("plant"),
                           taken=taken)
    assert {a.site for a in again.assignments} == {here}  # sticky without a measurement
    moved = place_on_hosts(unbound, Policy(), two_sites(), running=taken.of("plant"),
                           taken=taken, measured=MeasuredPath(workload="app", site=here,
                                                              rtt_ms=45.0))
    sites = {a.workload: a.site for a in moved.assignments}
    assert sites["db"] == here and sites["fw"] == sites["app"] != here
    pinned = unbound.model_copy(update={"workloads": tuple(
        w.model_copy(update={"sites": (here,)}) if w.name == "app" else w
        for w in unbound.workloads)})
    nowhere = place_on_hosts(pinned, Policy(), two_sites(), running=taken.of("plant"),
                             taken=taken, measured=MeasuredPath(workload="app", site=here,
                                                                rtt_ms=45.0))
    assert [u.workload for u in nowhere.unplaced] == ["app"]
    assert "20 ms to area site_a-measured" in nowhere.unplaced[0].reason


def test_the_command_line_lists_shows_and_rejects_with_the_trail(store, tmp_path):
    from typer.testing import CliRunner

    from tcra.cli import app

    store.propose(action(1), "agent", 1001.0)
    run = CliRunner().invoke
    url = ["--store", store.url]
    listed = run(app, ["actions", "list", *url])
    assert listed.exit_code == 0, listed.output
    assert listed.output == (f"{action(1).id}  proposed   1970-01-01 00:16:41"
                             "  TcraLatencyBudgetExceeded  plant/app at lab_factory: 45.5 ms\n")
    assert run(app, ["actions", "list", *url, "--state", "applied"]).output == ""
    bad = run(app, ["actions", "list", *url, "--state", "done"])
    assert bad.exit_code == 2
    assert bad.output.startswith("tcra actions list: --state: expected one of proposed,")
    rejected = run(app, ["actions", "reject", action(1).id, *url, "--by", "alice",
                         "--why", "a maintenance window"])
    assert (rejected.exit_code, rejected.output) == (
        0, f"action {action(1).id}: rejected\na maintenance window\n")
    again = run(app, ["actions", "reject", action(1).id, *url])
    assert (again.exit_code, again.output) == (
        1, f"tcra actions: action {action(1).id}: cannot reject: it is rejected\n")
    shown = run(app, ["actions", "show", action(1).id, *url])
    assert shown.exit_code == 0
    assert "  preview:\n    replace urn:a\n" in shown.output
    assert "  1970-01-01 00:16:41  proposed by agent: over budget\n" in shown.output
    assert shown.output.endswith("  rejected by alice: a maintenance window\n")
    assert run(app, ["actions", "show", "0" * 12, *url]).exit_code == 1
    serve = ["actions", "serve", "--stack", str(tmp_path / "nowhere"), "--stack-name", "lab",
             *url]
    no_token = run(app, [*serve, "--token-file", str(tmp_path)])
    assert no_token.exit_code == 2
    assert "--token-file: expected a file holding the bearer token" in no_token.output
    (tmp_path / "token").write_text(TOKEN)
    no_stack = run(app, [*serve, "--token-file", str(tmp_path / "token")])
    assert no_stack.exit_code == 2
    assert no_stack.output.startswith("tcra actions: --stack: expected a Pulumi project"
                                      " folder (with a Pulumi.yaml)")


def test_a_firing_gets_one_action_even_after_its_decision_and_a_new_firing_another(store):
    first = action(1, ActionState.NO_REMEDY).model_copy(update={"firing": "f00d@10:00"})
    assert store.propose(first, "agent", 1.0) == first
    assert store.stands(action(2).model_copy(update={"firing": "f00d@10:00"}))
    assert store.propose(action(2).model_copy(update={"firing": "f00d@10:00"}), "agent",
                         2.0) is None
    again = action(3).model_copy(update={"firing": "f00d@11:00"})  # resolved, fired again
    assert not store.stands(again)
    assert store.propose(again, "agent", 3.0) == again


def test_the_picture_marks_the_trail_of_its_workload_s_actions_within_its_time(store, tmp_path):
    from tcra.sense.picture import LatencyHistory, marks, render

    store.propose(action(1), "agent", 1001.0)
    store.decide(action(1).id, "approve", (ActionState.PROPOSED,), ActionState.APPROVED,
                 "alice", 1010.0)
    store.decide(action(1).id, "apply", (ActionState.APPROVED,), ActionState.APPLIED,
                 "agent", 1030.0)
    store.propose(action(2, workload="fw"), "agent", 1002.0)  # another workload's
    seen = LatencyHistory(service="plant", workload="app", start=1005.0, end=1060.0, step=5,
                          rtt=((1005.0, 45.5), (1060.0, 0.2)), budget_ms=20)
    found = marks(store.url, seen)
    assert [(m.event, m.actor, m.at) for m in found] == [("approved", "alice", 1010.0),
                                                         ("applied", "agent", 1030.0)]
    render(seen.model_copy(update={"actions": found}), tmp_path / "loop.svg")
    svg = (tmp_path / "loop.svg").read_text()
    assert "approved (alice)" in svg and "applied (agent)" in svg
