"""Copy a Cluster API provider's CRDs, labelled as its kustomize config would label them.

Cluster API reads a provider CRD's contract labels (cluster.x-k8s.io/v1beta1, /v1beta2: which
API versions implement which contract) to resolve template references; upstream adds them, and
the cluster.x-k8s.io/provider label, with kustomize `labels`/`commonLabels` in config/crd and
config/default rather than in the generated files under config/crd/bases. Kustomize is not
needed for that: read the same kustomization files and apply their labels to the CRDs they list.
Usage: label_crds.py CONFIG_DIR OUT_DIR   (CONFIG_DIR is the module's config/ folder)
"""

import sys
from pathlib import Path
from typing import Any

import yaml


def _kustomization(folder: Path) -> dict[str, Any]:
    """The kustomization.yaml of folder as a mapping (empty when there is none)."""
    path = folder / "kustomization.yaml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise SystemExit(f"label_crds: {path}: expected a mapping, found {type(data).__name__}")
    return data


def _labels(kustomization: dict[str, Any]) -> dict[str, str]:
    """The labels a kustomization adds to all its resources (labels[].pairs and commonLabels)."""
    labels: dict[str, str] = {}
    for entry in kustomization.get("labels") or []:
        labels.update({str(k): str(v) for k, v in (entry.get("pairs") or {}).items()})
    labels.update({str(k): str(v) for k, v in (kustomization.get("commonLabels") or {}).items()})
    return labels


def label_crds(config: Path, out: Path) -> list[Path]:
    """Write config/crd's CRDs to out with the labels of config/crd and config/default."""
    crd_dir = config / "crd"
    crd_kustomization = _kustomization(crd_dir)
    resources = [str(r) for r in crd_kustomization.get("resources") or []]
    if not resources:
        raise SystemExit(f"label_crds: {crd_dir}/kustomization.yaml: expected resources")
    labels = _labels(crd_kustomization)
    default = _kustomization(config / "default")
    # config/default's labels reach the CRDs only when it includes the crd folder.
    if any(str(r).rstrip("/") == "../crd" for r in default.get("resources") or []):
        labels.update(_labels(default))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for resource in resources:
        source = crd_dir / resource
        crd = yaml.safe_load(source.read_text())
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            raise SystemExit(f"label_crds: {source}: expected a CustomResourceDefinition")
        metadata = crd.setdefault("metadata", {})
        metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
        target = out / source.name
        target.write_text(yaml.safe_dump(crd, sort_keys=False))
        written.append(target)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: label_crds.py CONFIG_DIR OUT_DIR")
    for path in label_crds(Path(sys.argv[1]), Path(sys.argv[2])):
        print(path)
