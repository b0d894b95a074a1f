"""tcra.providers: Pulumi dynamic providers, each a thin adapter to one real API."""
