"""The action agent, the act step of the TCRA's intelligence loop (§2.1): an alert from
Alertmanager becomes a proposed action with the Pulumi preview of what would change, a human
approves or rejects it, and an approved action is applied through the stack like any `up`."""
