"""`tcra serve`, a real process on 127.0.0.1, against the published CAMARA Edge Application
Management definition: schemathesis generates valid and invalid requests for every operation
tcra serves, with all its checks (status codes, response schemas and headers, error bodies,
auth, unsupported methods, resources usable after create and gone after delete), with the
departures tests/integration/schemathesis.toml names."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tcra.api.auth import ensure_signing_key, token
from tests.conftest import ROOT
from tests.integration.api_server import serving

SPEC = (Path(os.environ.get("TCRA_SPECS", "/work/shared/specs"))
        / "camara-eam/API_definitions/edge-application-management.yaml")
SERVED = ("getEdgeCloudZones", "submitApp", "getApps", "getApp", "deleteApp",
          "createAppInstance", "getAppInstances", "getAppInstance", "deleteAppInstance",
          "createAppDeployment", "getAppDeployments", "getAppDeployment",
          "deleteAppDeployment", "updateAppDeployment")
ISSUER = "tcra-conformance"

pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"no CAMARA definition at {SPEC}"
                                " (set TCRA_SPECS)")


@pytest.fixture
def served(tmp_path):
    """The example sites, one of them with a cluster so instances can be placed; without
    workers: what is conformance-tested is the API, the deployments are the e2e tests'."""
    private, public = ensure_signing_key(tmp_path / "keys")
    inventory = shutil.copytree(ROOT / "inventories/example", tmp_path / "inventory")
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    with (inventory / "group_vars/factory_munich.yml").open("a") as site:
        site.write(f"  cluster: {{name: munich-k8s, kubeconfig: {tmp_path / 'kubeconfig'}}}\n")
    with serving("--inventory", str(inventory), "--workers", "0", "--state",
                 str(tmp_path / "serve"), "--store", f"sqlite:///{tmp_path / 'store.db'}",
                 "--issuer", ISSUER, "--public-key", str(public)) as url:
        yield url, token(private, ISSUER, "AcmeRobotics")


def test_every_served_operation_conforms_to_the_published_definition(served, tmp_path):
    url, bearer = served
    run = subprocess.run(
        [str(ROOT / ".venv/bin/schemathesis"), "--config-file",
         str(ROOT / "tests/integration/schemathesis.toml"), "run", str(SPEC), "--url", url,
         "-H", f"Authorization: Bearer {bearer}", "--max-examples", "10", "--seed", "16",
         "--generation-database", "none", "--no-shrink", "--no-color",
         *(a for op in SERVED for a in ("--include-operation-id", op))],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"})
    failures = run.stdout[run.stdout.find("FAILURES"):]
    assert run.returncode == 0, "\n".join(line[:300] for line in failures.splitlines()[:80])
    assert f"Tested: {len(SERVED)}" in run.stdout
