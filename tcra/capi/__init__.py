"""Typed Cluster API objects: one pydantic model per kind tcra declares on a management cluster.

Cluster API core (cluster.x-k8s.io) and its kubeadm bootstrap and control-plane providers are
written at v1beta2, from the CRDs of Cluster API v1.13.6; CAPD's DevCluster and DevMachineTemplate
(infrastructure.cluster.x-k8s.io/v1beta2, in-memory backend) from the CRDs of its test module
v1.13.7. Metal3 stays at the versions CAPM3 and the baremetal-operator serve
(infrastructure.cluster.x-k8s.io/v1beta1, metal3.io/v1alpha1), RKE2 at CAPRKE2's v1beta1. Each
model holds only the fields tcra writes, under their API names, and forbids any other: a misspelt
or misplaced field fails here, when the object is built, not later in a controller.
"""

from tcra.capi._meta import (
    ContractReference,
    KubeObject,
    LabelSelector,
    ObjectMeta,
    ObjectReference,
)

__all__ = ["ContractReference", "KubeObject", "LabelSelector", "ObjectMeta", "ObjectReference"]
