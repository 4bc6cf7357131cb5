"""Ways in for other services: idempotent submission and the dramatiq intake contract."""
