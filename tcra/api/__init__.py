"""The northbound API: application providers deploy through CAMARA's Edge Application
Management operations, which `tcra serve` answers (tcra.api.app)."""
