"""Typed Cluster API objects: one pydantic model per kind tcra declares on a management cluster.

Written from the API references of Cluster API (cluster.x-k8s.io/v1beta1), its kubeadm bootstrap
and control-plane providers (v1beta1), the RKE2 providers (cluster-api-provider-rke2, v1beta1) and
Metal3 (CAPM3 infrastructure.cluster.x-k8s.io/v1beta1, baremetal-operator metal3.io/v1alpha1).
Each model holds only the fields tcra writes, under their API names, and forbids any other: a
misspelt or misplaced field fails here, when the object is built, not later in a controller.
"""

from tcra.capi._meta import KubeObject, LabelSelector, ObjectMeta, ObjectReference

__all__ = ["KubeObject", "LabelSelector", "ObjectMeta", "ObjectReference"]
