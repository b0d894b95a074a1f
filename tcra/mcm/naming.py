"""The names and labels tcra derives for a cluster's objects, and the hash that names immutable
templates after their spec."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from tcra.capi._meta import MAX_LABEL, ApiModel, ObjectMeta
from tcra.capi.core import CLUSTER_NAME_LABEL

CONTROL_PLANE = "control-plane"
CLUSTER_LABEL = "tcra.io/cluster"
POOL_LABEL = "tcra.io/pool"
HASH_LENGTH = 8
# Every name tcra derives must still be a DNS label: "<cluster>-cp-<hash>" is the longest one the
# cluster name alone decides, "<cluster>-<pool>-<hash>" the longest a pool decides.
MAX_CLUSTER_NAME = MAX_LABEL - len("-cp-") - HASH_LENGTH
RESERVED_POOL_NAMES = frozenset({"cp", CONTROL_PLANE})


def spec_hash(spec: ApiModel) -> str:
    """The first characters of the SHA-256 of the spec's canonical JSON: a new spec, a new name."""
    canonical = json.dumps(spec.wire(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]


@dataclass(frozen=True)
class Metadata:
    """ObjectMeta for a cluster's objects: in its namespace, each labelled with its name."""

    cluster: str
    namespace: str

    def __call__(self, name: str, annotations: dict[str, str] | None = None) -> ObjectMeta:
        return ObjectMeta(name=name, namespace=self.namespace,
                          labels={CLUSTER_NAME_LABEL: self.cluster}, annotations=annotations)
