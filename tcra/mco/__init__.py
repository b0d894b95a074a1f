"""The Multi-Cloud Orchestrator: places a service's workloads across the continuum."""
