"""Release tooling: the canary roll-out that Cloud Build runs (and the tests run locally)."""
