"""The lab's Kubernetes management cluster: etcd, the Kubernetes control plane and Cluster API
with its in-memory infrastructure provider, all on 127.0.0.1, all made by `tcra lab up`."""
