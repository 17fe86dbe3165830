"""Scaling windows, warm-up policy, Cloud Scheduler jobs, and the cost model and simulator that chose them."""
