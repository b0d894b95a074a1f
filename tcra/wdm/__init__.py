"""tcra.wdm: the Workload Deployment Manager's logic, with no Pulumi in it. One job a module:
release_drift (a Helm release's objects as the cluster holds them, against its deployed
manifest, and their repair), preflight (what a Workload checks before declaring anything),
endpoint (where a released workload answers)."""
