"""Sensing, the first step of the TCRA's intelligence loop (its §2.1): what runs where, what it
costs and emits, and what round trip its users really get, as Prometheus metrics
(`tcra sense serve`), and the alert rules that hold it to its own budgets (`tcra sense rules`)."""
