"""tcra.blueprints: vertical blueprints (manufacturing, ...) that teams import and extend."""
