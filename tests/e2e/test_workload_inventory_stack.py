"""The workload inventory through a real Pulumi engine: a program placing one service on
inventories/example and recording it (tests/e2e/programs/workload-inventory, no lab). A
preview writes nothing, `up` writes the service's rows, refresh sees a row removed by hand,
and one service's `destroy` removes its rows and leaves another's."""

import pytest
from sqlalchemy import create_engine, text

from tcra.mco.store import Store
from tests.conftest import EXAMPLE, ROOT
from tests.e2e.test_pim_stack import pulumi_project

PROGRAMS = ROOT / "tests" / "e2e" / "programs"


def rows(store: Store, service: str) -> tuple[int, int, int]:
    """The service's placements, host roles and deployed workloads, counted."""
    record = store.recorded(service)
    return (len(store.placements(service)),
            len([h for h in store.usage().hosts if h.service == service]),
            len(record.deployed) if record else 0)


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path / 'mco.db'}"


def test_preview_writes_nothing_up_records_and_destroy_removes_only_its_service(tmp_path,
                                                                              store):
    env = {"TCRA_BMC_PASSWORD": "not-a-real-password"}
    (tmp_path / "plant").mkdir()
    (tmp_path / "lab").mkdir()
    with pulumi_project(tmp_path / "plant", "workload-inventory",
                        {"inventory": str(EXAMPLE), "service": "plant", "store_url": store},
                        env=env, programs=PROGRAMS) as plant:
        plant("preview")
        database = Store(store)
        database.migrate()
        assert database.records() == () and database.placements() == ()

        plant("up", "--yes")
        placements, hosts, deployed = rows(database, "plant")
        assert (placements, deployed) == (2, 2) and hosts >= 2  # cluster nodes, hypervisor
        record = database.recorded("plant")
        assert record is not None and record.tenant == "ot"
        assert {d.workload: (d.cluster, d.release, d.namespace, d.vm_uuid, d.sid)
                for d in record.deployed} == {
            "broker": ("plant-k8s", "broker", "plant", None, "fcbb:bb00:1::b"),
            "historian": (None, None, None, "0b7f5a54-49a1-4b4e-9d4e-2f1b3f0c0001", None)}
        plant("up", "--yes")  # again: nothing changes
        assert rows(database, "plant") == (placements, hosts, deployed)

        engine = create_engine(store)  # a row removed by hand: refresh sees it, up restores it
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM mco_deployed WHERE workload = 'historian'"))
        engine.dispose()
        refreshed = plant("refresh", "--yes")
        assert "1 updated" in refreshed.stdout, refreshed.stdout
        plant("up", "--yes")
        assert rows(database, "plant") == (placements, hosts, deployed)

        with pulumi_project(tmp_path / "lab", "workload-inventory",
                            {"inventory": str(EXAMPLE), "service": "lab", "store_url": store},
                            env=env, programs=PROGRAMS) as lab:
            lab("up", "--yes")
            kept = rows(database, "lab")
            assert kept[0] == kept[2] == 2
            plant("destroy", "--yes")
            assert rows(database, "plant") == (0, 0, 0) and database.recorded("plant") is None
            assert rows(database, "lab") == kept
            lab("destroy", "--yes")
            assert database.records() == () and database.placements() == ()
