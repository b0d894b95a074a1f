from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "inventories" / "example"
BROKEN = ROOT / "tests" / "data" / "broken"


def pytest_collection_modifyitems(items):
    """The modules that need the machine without the shared Kubernetes lab first, so that lab
    starts once rather than again after each of them. A stable sort on pytest-randomly's
    shuffle: the order stays random within each group, and reproducible from the seed."""
    items.sort(key=lambda item: item.get_closest_marker("without_kubernetes_lab") is None)


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
