"""The WorkloadInventory provider against a real SQLite file: its methods called as the engine
calls them, the store read back after each; and migration 0005 on a 0004 database."""

import base64

import dill
import pytest
from alembic import command
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown
from sqlalchemy import create_engine, inspect, text
from tcra.providers.workload_inventory import WorkloadInventoryProvider

from tcra.mco.model import HostRole, Placement, Role, WorkloadKind
from tcra.mco.store import Store, StoreError, _alembic_config
from tcra.ownership import OwnedElsewhereError

OWNER = "tcra-example/dev/plant-mco-inventory@" + "a" * 32
OTHER = "tcra-example/prod/plant-mco-inventory@" + "b" * 32


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'mco.db'}"


def props(url, service="plant", owner=OWNER, **deployed):
    """A record as the program gives it: a container on a new cluster's node, a VM on a
    hypervisor, a bare-metal host; `deployed` overrides the deployed objects."""
    placements = [
        Placement(service=service, workload="mqtt", site="factory_munich",
                  cluster=f"{service}-factory-munich-caf"),
        Placement(service=service, workload="historian", site="factory_munich",
                  kind=WorkloadKind.VAF),
        Placement(service=service, workload="vision", site="factory_lyon", kind=WorkloadKind.PAF),
    ]
    hosts = [
        HostRole(site="factory_munich", host="munich-edge-01", role=Role.KUBERNETES_NODE,
                 service=service, cluster=f"{service}-factory-munich-caf"),
        HostRole(site="factory_munich", host="munich-hv-01", role=Role.HYPERVISOR,
                 service=service, workloads=("historian",)),
        HostRole(site="factory_lyon", host="lyon-edge-01", role=Role.BARE_METAL,
                 service=service, workloads=("vision",)),
    ]
    made = {"mqtt": {"workload": "mqtt", "cluster": f"{service}-munich", "release": "mqtt",
                     "namespace": "ot", "sid": "fcbb:bb00:1::e"},
            "historian": {"workload": "historian",
                          "vm_uuid": "0b7f5a54-49a1-4b4e-9d4e-2f1b3f0c0001"},
            "vision": {"workload": "vision", "host_serial": "SN-LYON-01"}} | deployed
    return {"store": url, "service": service, "tenant": "ot", "owner": owner,
            "placements": [p.model_dump(mode="json") for p in placements],
            "hosts": [h.model_dump(mode="json") for h in hosts],
            "deployed": [d for d in made.values() if d is not None]}


def test_create_writes_the_record_and_read_returns_it_unchanged(url):
    provider = WorkloadInventoryProvider()
    created = provider.create(props(url))
    assert created.id == "plant"
    record = Store(url).recorded("plant")
    assert record is not None and record.tenant == "ot" and record.owner == OWNER
    assert {d.workload: (d.cluster, d.release, d.namespace, d.vm_uuid, d.host_serial, d.sid)
            for d in record.deployed} == {
        "historian": (None, None, None, "0b7f5a54-49a1-4b4e-9d4e-2f1b3f0c0001", None, None),
        "mqtt": ("plant-munich", "mqtt", "ot", None, None, "fcbb:bb00:1::e"),
        "vision": (None, None, None, None, "SN-LYON-01", None)}
    assert record.hosts_of("mqtt") == ("munich-edge-01",)
    assert record.hosts_of("historian") == ("munich-hv-01",)
    assert record.hosts_of("vision") == ("lyon-edge-01",)
    assert [p.workload for p in Store(url).placements("plant")] == [
        "historian", "mqtt", "vision"]
    read = provider.read("plant", created.outs)
    assert read.id == "plant" and read.outs == created.outs
    assert not provider.diff("plant", read.outs, props(url)).changes


def test_update_replaces_the_services_rows(url):
    provider = WorkloadInventoryProvider()
    created = provider.create(props(url))
    news = props(url, vision=None)  # the host is no longer deployed
    news["placements"] = [p for p in news["placements"] if p["workload"] != "vision"]
    news["hosts"] = [h for h in news["hosts"] if h["host"] != "lyon-edge-01"]
    diff = provider.diff("plant", created.outs, news)
    assert diff.changes and diff.replaces == []
    provider.update("plant", created.outs, news)
    record = Store(url).recorded("plant")
    assert record is not None
    assert [d.workload for d in record.deployed] == ["historian", "mqtt"]
    assert [p.workload for p in record.placements] == ["historian", "mqtt"]
    assert [h.host for h in record.hosts] == ["munich-edge-01", "munich-hv-01"]


def test_delete_removes_only_that_service_and_twice_is_fine(url):
    provider = WorkloadInventoryProvider()
    plant = provider.create(props(url))
    other = props(url, service="lab", owner=OTHER)
    other["hosts"] = []  # the hosts are plant's
    provider.create(other)
    provider.delete("plant", plant.outs)
    provider.delete("plant", plant.outs)  # already gone: nothing to do
    store = Store(url)
    assert store.recorded("plant") is None
    assert store.placements("plant") == ()
    assert [h for h in store.usage().hosts if h.service == "plant"] == []
    lab = store.recorded("lab")
    assert lab is not None and len(lab.deployed) == 3 and len(lab.placements) == 3
    assert provider.read("plant", plant.outs).id == ""  # refresh: the record is gone


def test_another_owners_record_is_neither_overwritten_nor_removed(url):
    provider = WorkloadInventoryProvider()
    theirs = provider.create(props(url, owner=OTHER))
    with pytest.raises(OwnedElsewhereError, match=r"service plant .* belongs to tcra-example/prod"):
        provider.create(props(url))
    provider.delete("plant", props(url))  # our delete: theirs stays
    assert Store(url).recorded("plant").owner == OTHER
    assert provider.read("plant", props(url)).id == ""
    assert provider.read("plant", theirs.outs).outs == theirs.outs


def test_a_row_changed_by_hand_shows_in_read_and_the_next_up_restores_it(url):
    provider = WorkloadInventoryProvider()
    created = provider.create(props(url))
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE mco_deployed SET host_serial = 'SN-SWAPPED'"
                                " WHERE workload = 'vision'"))
        connection.execute(text("DELETE FROM mco_placements WHERE workload = 'mqtt'"))
    engine.dispose()
    read = provider.read("plant", created.outs)
    assert {d["workload"]: d.get("host_serial") for d in read.outs["deployed"]}["vision"] \
        == "SN-SWAPPED"
    assert [p["workload"] for p in read.outs["placements"]] == ["historian", "vision"]
    assert provider.diff("plant", read.outs, props(url)).changes
    provider.update("plant", read.outs, props(url))
    assert provider.read("plant", created.outs).outs == created.outs


def test_check_takes_a_previews_unknowns_and_refuses_a_deployed_workload_not_placed(
        url, tmp_path):
    provider = WorkloadInventoryProvider()
    preview = props(url, historian={"workload": "historian", "vm_uuid": Unknown()})
    preview["owner"] = Unknown()
    assert provider.check({}, preview).failures == []
    assert provider.diff("plant", {}, preview).changes
    wrong = props(url, ghost={"workload": "ghost", "release": "ghost"})
    failures = provider.check({}, wrong).failures
    assert [(f.property, f.reason) for f in failures] == [
        ("inputs", "deployed workloads ghost have no placement")]
    theirs = props(url)
    theirs["placements"][0]["service"] = "lab"
    assert [f.reason for f in provider.check({}, theirs).failures] == [
        "placements and hosts must be of service plant, not lab"]
    assert not (tmp_path / "mco.db").exists()  # check touched no store


def test_another_store_or_service_is_a_replacement(url, tmp_path):
    provider = WorkloadInventoryProvider()
    created = provider.create(props(url))
    moved = provider.diff("plant", created.outs, props(f"sqlite:///{tmp_path / 'b.db'}"))
    assert moved.replaces == ["store"] and not moved.delete_before_replace


def test_the_password_of_the_store_url_never_shows():
    provider = WorkloadInventoryProvider()
    with pytest.raises(StoreError) as caught:
        provider.create(props("postgresql+psycopg://tcra:hunter2@127.0.0.1:1/mco"))
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)


def test_the_provider_survives_the_engines_pickling_and_holds_nothing(url):
    provider = dill.loads(base64.b64decode(serialize_provider(WorkloadInventoryProvider())))
    assert vars(provider) == {}
    assert provider.create(props(url)).id == "plant"


def test_migration_0005_adds_the_inventory_to_a_0004_database_and_keeps_its_rows(url):
    config = _alembic_config()
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(text(
            "INSERT INTO mco_placements (service, workload, site, cluster, position, kind)"
            " VALUES ('plant', 'mqtt', 'factory_munich', NULL, 0, 'caf')"))
    Store(url).migrate()
    tables = set(inspect(engine).get_table_names())
    assert {"mco_services", "mco_deployed"} <= tables
    assert [p.workload for p in Store(url).placements("plant")] == ["mqtt"]
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert not {"mco_services", "mco_deployed"} & set(inspect(engine).get_table_names())
    engine.dispose()
