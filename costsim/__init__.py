"""The offline cost simulator: `python -m costsim` (a dev tool; nothing here is deployed)."""
