"""Benchmarks: each prints its figures (medians, ratios against a baseline run side by side)
and writes them as JSON under bench/results/. `make bench` runs them all."""
