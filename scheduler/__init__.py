"""The store's scaling windows and warm-up policy (schedules.yaml, windows.py, policy.py), which the
functions decide with, and `python -m scheduler apply`, which makes Cloud Scheduler hold their jobs at deploy time."""
