"""The lab's registry against its real clients: Debian's docker-registry serving TLS from the
lab's Kubernetes CA, buildah building and pushing the lab's images, helm pushing the
blueprints' charts, each checked over the registry's API."""

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tcra.lab.kube import charts, images, pki, registry
from tcra.lab.processes import LabError, alive, stop
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]
ROOT = Path(__file__).resolve().parents[2]
CHARTS = [ROOT / "blueprints/charts/mqtt-broker", ROOT / "blueprints/charts/opcua-gateway"]
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"


def helm_bin() -> Path:
    done = subprocess.run([str(ROOT / "scripts/build-kube"), "helm"], capture_output=True,
                          text=True, check=True, timeout=3600)
    return Path(dict(line.split("=", 1) for line in done.stdout.splitlines())["HELM_BIN"])


def port_taken() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((pki.HOST, registry.REGISTRY_PORT)) == 0


@pytest.fixture(scope="module")
def lab(tmp_path_factory, kubernetes_lab):
    """A registry with the images and the blueprints' charts pushed; stopped at the end (a
    test may restart it: `lab.component` is the one running). The registry's port is fixed:
    the shared Kubernetes lab, which runs one, goes down first."""
    kubernetes_lab.release()
    folder = tmp_path_factory.mktemp("registry")
    keys = pki.ensure(folder / "pki", "citreg")
    lab = SimpleNamespace(folder=folder, keys=keys, ca=keys.ca.certificate,
                          had_containers=Path("/var/lib/containers").exists(),
                          component=registry.ensure(folder / "registry", keys))
    try:
        started = time.monotonic()
        lab.images = images.ensure(folder / "build", lab.ca)
        built = time.monotonic() - started
        lab.helm = helm_bin()
        started = time.monotonic()
        lab.charts = charts.push_charts(CHARTS, ca=lab.ca, helm_bin=lab.helm,
                                        folder=folder / "helm")
        print(f"\nimages {built:.2f}s: {[(p.reference, p.seconds) for p in lab.images]}"
              f"\ncharts {time.monotonic() - started:.2f}s")
        yield lab
    finally:
        stop(lab.component.process)


def test_registry_answers_over_tls_verified_by_the_lab_ca(lab, tmp_path):
    assert registry.ready(lab.ca)
    other = pki.ensure(tmp_path / "other", "other")
    assert not registry.ready(other.ca.certificate)


def test_a_second_registry_is_refused_while_the_port_is_taken(lab):
    with pytest.raises(LabError, match="5443 is taken"):
        second = registry.ensure(lab.folder / "second", lab.keys)
        stop(second.process)  # reached only when the test fails: leave nothing running
    assert registry.ensure(lab.folder / "registry", lab.keys, lab.component) == lab.component


def test_images_are_pushed_with_their_entrypoint_and_user(lab):
    assert [p.reference for p in lab.images] == [
        images.PAUSE_IMAGE, images.mosquitto_image().reference,
        f"{registry.ADDRESS}/tcra/opcua-gateway:0.1.0",
        f"{registry.ADDRESS}/tcra/chain-function:0.1.0"]
    assert all(p.built for p in lab.images)
    expected = {"tcra/pause": (["/pause"], "65535:65535"),
                "tcra/mosquitto": (["/usr/sbin/mosquitto", "-c",
                                    "/etc/mosquitto/mosquitto.conf"], "1883:1883"),
                **{name: (["/bin/busybox", "sh", "-c", images.HTTPD_SCRIPT.format(port=8080)],
                          "65534:65534") for name in ("tcra/opcua-gateway",
                                                      "tcra/chain-function")}}
    for pushed in lab.images:
        name, tag = pushed.reference.removeprefix(f"{registry.ADDRESS}/").split(":")
        assert registry.tags(name, lab.ca) == [tag]
        manifest = registry.manifest(name, tag, lab.ca)
        assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        config = json.loads(registry.blob(name, manifest["config"]["digest"], lab.ca))
        assert (config["config"]["Entrypoint"], config["config"]["User"]) == expected[name]


def test_mosquitto_tag_is_the_upstream_version_of_the_debian_package(lab):
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "mosquitto"],
                             capture_output=True, text=True, check=True).stdout
    assert images.mosquitto_image().tag == version.rsplit("-", 1)[0]  # 2.0.11 of 2.0.11-1.2+...
    assert images.mosquitto_image().tag in registry.tags("tcra/mosquitto", lab.ca)


def test_build_storage_is_gone_and_nothing_landed_in_var_lib_containers(lab):
    assert not (lab.folder / "build").exists()
    assert images.mounts_under(lab.folder) == []
    if not lab.had_containers:
        assert not Path("/var/lib/containers").exists()


def test_a_second_ensure_skips_what_the_registry_has(lab, tmp_path):
    again = images.ensure(tmp_path / "build", lab.ca)
    assert not any(p.built for p in again)
    assert not any(p.pushed for p in charts.push_charts(CHARTS, ca=lab.ca, helm_bin=lab.helm,
                                                        folder=lab.folder / "helm"))


def test_charts_are_oci_artifacts_helm_can_read(lab):
    assert [(c.name, c.pushed) for c in lab.charts] == [("mqtt-broker", True),
                                                        ("opcua-gateway", True)]
    for chart in lab.charts:
        manifest = registry.manifest(f"charts/{chart.name}", chart.version, lab.ca)
        assert manifest["config"]["mediaType"] == HELM_CONFIG
    env = {**os.environ, "HELM_CONFIG_HOME": str(lab.folder / "helm/config"),
           "HELM_CACHE_HOME": str(lab.folder / "helm/cache"),
           "HELM_DATA_HOME": str(lab.folder / "helm/data"),
           "HELM_REGISTRY_CONFIG": str(lab.folder / "helm/registry.json")}
    shown = subprocess.run([str(lab.helm / "helm"), "template", "broker",
                            "oci://127.0.0.1:5443/charts/mqtt-broker", "--version", "0.1.0",
                            "--ca-file", str(lab.ca)], capture_output=True, text=True,
                           env=env, check=True, timeout=60).stdout
    assert f"image: \"{images.mosquitto_image().reference}\"" in shown


def test_mosquitto_rootfs_serves_mqtt_as_its_user_in_its_own_network(tmp_path):
    """The broker's root file system runs by itself (chroot, own network namespace, uid 1883)
    and carries a publish to a subscriber."""
    root = tmp_path / "rootfs"
    images.mosquitto_rootfs(root)
    script = (f"ip link set lo up; chroot --userspec=1883:1883 {root} /usr/sbin/mosquitto -c"
              " /etc/mosquitto/mosquitto.conf & broker=$!; sleep 0.3;"
              " mosquitto_sub -h 127.0.0.1 -t t -C 1 -W 5 > sub.out & sub=$!; sleep 0.3;"
              " mosquitto_pub -h 127.0.0.1 -t t -m hello; wait $sub; kill $broker; wait $broker")
    subprocess.run(["unshare", "--net", "sh", "-ec", script], cwd=tmp_path, check=True,
                   capture_output=True, timeout=30)
    assert (tmp_path / "sub.out").read_text() == "hello\n"


def test_stop_leaves_nothing_and_a_restart_keeps_what_was_pushed(lab):
    registry.stop_registry(lab.component)
    assert not alive(lab.component.process)
    assert not port_taken()
    assert images.mounts_under(lab.folder) == []
    lab.component = registry.ensure(lab.folder / "registry", lab.keys, lab.component)
    assert images.PAUSE_TAG in registry.tags("tcra/pause", lab.ca)
