from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "inventories" / "example"
BROKEN = ROOT / "tests" / "data" / "broken"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups; after the shuffle
def pytest_collection_modifyitems(items):
    """Order and groups for `make test`'s two runs. The `alone` modules (they compare what labs
    share on the machine before and after) run by themselves, first; the others two at a time
    (pytest-xdist's loadgroup): each module is one group, since its labs and stacks are its
    own, and the modules on the shared Kubernetes lab (one per machine) are one group together,
    sorted first so that long group starts at once. A stable sort on pytest-randomly's shuffle:
    the order stays random within each group, and reproducible from the seed."""
    shared = {_module(item) for item in items if "kubernetes_lab" in item.fixturenames}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(
            "kubernetes-lab" if _module(item) in shared else _module(item)))
    items.sort(key=lambda item: (item.get_closest_marker("alone") is None,
                                 _module(item) not in shared))


def _module(item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.fixture
def bmc_password(monkeypatch):
    """The example inventory's BMC password reference points at this variable."""
    monkeypatch.setenv("TCRA_BMC_PASSWORD", "not-a-real-password")


@pytest.fixture(scope="session")
def kubernetes_lab(tmp_path_factory):
    """See tests.integration.conftest.KubernetesLab."""
    from tests.integration.conftest import KubernetesLab

    shared = KubernetesLab(tmp_path_factory.mktemp("kubernetes-lab"))
    yield shared
    shared.stop()
