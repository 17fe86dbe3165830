"""The KPI report, the morning health check and the weekly report for people (`python -m reports`)."""
