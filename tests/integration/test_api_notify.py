"""The API's callbacks to a real HTTPS sink on 127.0.0.1 (a certificate from a CA of the test's
own): a status change arrives as a CloudEvent with the sink's bearer token, is sent again
after a 5xx, not after a 4xx, and never to a sink whose certificate the CA did not sign; an
instance of a deployment tells the deployment's sink, which hears its end with the last."""

import time

from tcra.api.notify import Notifier, event
from tcra.api.schemas import DEPLOYMENT_EVENT, ENDED_EVENT, INSTANCE_EVENT
from tcra.api.store import ApiStore, DeploymentRow, InstanceRow
from tcra.lab import tls
from tests.integration.https_sink import sink

ROW = InstanceRow(instance_id="0f8fad5b-d9cb-469f-a165-70867728950e", status="ready",
                  reason=None, sink=None)


def test_a_status_change_arrives_as_a_cloud_event_with_the_sinks_token(tmp_path):
    with sink(tmp_path, [503]) as (url, received):
        notifier = Notifier(None, tls.files(tmp_path).ca_bundle)
        sent = event(ROW, gone=False)
        assert notifier.send({"sink": url, "token": "sink-token"}, sent) == 204
    (_, first), (headers, body) = received  # the 503, then the same event again
    assert first == body == sent
    assert headers["Authorization"] == "Bearer sink-token"
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert body["type"] == INSTANCE_EVENT and body["specversion"] == "1.0"
    assert body["data"] == {"appInstanceId": ROW.instance_id, "status": "ready"}
    assert event(ROW, gone=True)["type"] == ENDED_EVENT


def test_a_refusal_is_final_and_an_untrusted_sink_gets_nothing(tmp_path):
    with sink(tmp_path, [401]) as (url, received):
        assert Notifier(None, tls.files(tmp_path).ca_bundle).send(
            {"sink": url, "token": None}, event(ROW, gone=False)) == 401
        assert len(received) == 1 and "Authorization" not in received[0][0]
        untrusted = Notifier(None)  # the system's CAs: the test's CA is not one of them
        assert untrusted.send({"sink": url, "token": None}, event(ROW, gone=False)) is None
        assert len(received) == 1


def instance_of(deployment_id: str, number: int) -> InstanceRow:
    return InstanceRow(
        instance_id=f"0f8fad5b-d9cb-469f-a165-70867728950{number}", tenant="AcmeRobotics",
        app_id=ROW.instance_id, name=f"brokers_{number}", zone_id=ROW.instance_id,
        site="factory_munich", placement={}, manifest={}, status="instantiating", reason=None,
        endpoints=[], sink=None, deployment_id=deployment_id, stack=f"app-{number}",
        attempts=0, changed_ms=0)


def arrived(received: list, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_deployments_sink_hears_its_instances_and_its_end(tmp_path):
    store = ApiStore(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    with sink(tmp_path, []) as (url, received):
        deployment = DeploymentRow(
            deployment_id="7c9e6679-7425-40de-944b-e07fc1f90ae7", tenant="AcmeRobotics",
            app_id=ROW.instance_id, name="brokers", zones=[], cluster_refs=[],
            sink={"sink": url, "token": "sink-token"}, deleting=False)
        first, second = (instance_of(deployment.deployment_id, n) for n in (1, 2))
        store.add_deployment(deployment, [first, second])
        notifier = Notifier(store, tls.files(tmp_path).ca_bundle)
        notifier.changed(store.update_instance(first.instance_id, status="ready"), False)
        arrived(received, 1)
        store.delete_deployment(deployment.deployment_id)
        assert store.remove_instance(first.instance_id) is None
        notifier.ended(store.remove_instance(second.instance_id))
        arrived(received, 2)
    (_, changed), (headers, end) = received
    assert changed["type"] == DEPLOYMENT_EVENT
    assert changed["data"]["appDeploymentId"] == deployment.deployment_id
    assert sorted(i["status"] for i in changed["data"]["appInstances"]) == [
        "instantiating", "ready"]
    assert headers["Authorization"] == "Bearer sink-token"
    assert end["type"] == ENDED_EVENT
    assert end["data"] == {"appDeploymentId": deployment.deployment_id,
                           "terminationReason": "SUBSCRIPTION_DELETED"}
    assert store.deployment(deployment.deployment_id) is None
