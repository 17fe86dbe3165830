# The alert policies of topology.yaml `alerts:`, rendered without a provider (so the
# tests evaluate them offline): one PromQL per signal, then per condition the query
# with its threshold, its duration and its route. infra/monitoring.tf creates them.
# PromQL in Cloud Monitoring: https://cloud.google.com/monitoring/promql
# Metric names: Cloud Run's built-in metrics become run_googleapis_com:NAME
# (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run); the GPU
# service's own /metrics arrive through the Managed Service for Prometheus sidecar
# under their Prometheus names, labelled service_name and revision_name
# (https://cloud.google.com/run/docs/monitoring-managed-prometheus-sidecar).
locals {
  gpu      = local.names.gpu_service
  run      = "monitored_resource=\"cloud_run_revision\",service_name=\"${local.gpu}\""
  by_rev   = "sum by (revision_name)"
  requests = "${local.by_rev} (rate(run_googleapis_com:request_count{${local.run}}[1m]))"
  latency  = "run_googleapis_com:request_latencies"
  startup  = "run_googleapis_com:container_startup_latencies"

  # Each signal's value, per revision where that means something (topology.yaml `signals:`).
  signal_queries = {
    # A GPU error: 5xx other than 503 (domain/alerts.py says why 503 is its own signal).
    gpu_error_ratio        = "${local.by_rev} (rate(run_googleapis_com:request_count{${local.run},response_code_class=\"5xx\",response_code!=\"503\"}[1m])) / ${local.requests}"
    gpu_unavailable_ratio  = "${local.by_rev} (rate(run_googleapis_com:request_count{${local.run},response_code=\"503\"}[1m])) / ${local.requests}"
    gpu_failure_ratio      = "${local.by_rev} (rate(run_googleapis_com:request_count{${local.run},response_code_class=\"5xx\"}[1m])) / ${local.requests}"
    gpu_mean_seconds       = "${local.by_rev} (rate(${local.latency}_sum{${local.run}}[5m])) / ${local.by_rev} (rate(${local.latency}_count{${local.run}}[5m])) / 1000"
    gpu_p95_seconds        = "histogram_quantile(0.95, sum by (le, revision_name) (rate(${local.latency}_bucket{${local.run}}[5m]))) / 1000"
    gpu_memory_utilization = "histogram_quantile(0.99, sum by (le, revision_name) (rate(run_googleapis_com:container_memory_utilizations_bucket{${local.run}}[1m])))"
    gpu_startup_seconds    = "histogram_quantile(0.99, sum by (le, revision_name) (rate(${local.startup}_bucket{${local.run}}[10m]))) / 1000"
    # Every start is a cold start for a service that scales from zero.
    gpu_cold_starts_per_hour = "${local.by_rev} (increase(${local.startup}_count{${local.run}}[1h]))"
    gpu_queue_depth          = "max by (revision_name) (segment_queue_depth{service_name=\"${local.gpu}\"})"
    gpu_device_memory_bytes  = "max by (revision_name) (gpu_memory_bytes{service_name=\"${local.gpu}\"})"
    # The GPU is the bill: its billable instance time, last hour against the week's hourly mean.
    cost_rate_ratio         = "sum(rate(run_googleapis_com:container_billable_instance_time{${local.run}}[1h])) / sum(rate(run_googleapis_com:container_billable_instance_time{${local.run}}[7d]))"
    traffic_ratio           = "sum(rate(run_googleapis_com:request_count{${local.run}}[1h])) / sum(rate(run_googleapis_com:request_count{${local.run}}[7d]))"
    storage_errors_per_hour = "sum(increase(storage_googleapis_com:api_request_count{monitored_resource=\"gcs_bucket\",bucket_name=~\"${local.names.buckets.uploads}|${local.names.buckets.results}\",response_code!~\"OK|FAILED_PRECONDITION\"}[1h]))"
    dead_letters            = "sum(increase(pubsub_googleapis_com:topic_send_message_operation_count{monitored_resource=\"pubsub_topic\",topic_id=\"${local.names.topics["dead-letter"]}\"}[10m]))"
  }

  # Business hours 09:00-18:00 US Eastern as UTC hours (EST; one hour late under EDT:
  # PromQL has no time zones).
  business_hours = "and on() (hour() >= 14 and hour() < 23)"

  alert_policies = {
    for name, a in local.topology.alerts : name => {
      plan      = a.plan
      severity  = a.severity
      rollback  = try(a.rollback, false)
      duration  = "${a.for_seconds}s"
      threshold = a.above
      query = join(" ", compact([
        "(${local.signal_queries[a.signal]}) > ${a.above}",
        can(a.while) ? "and (${local.signal_queries[a.while.signal]}) > ${a.while.above}" : "",
        try(a.business_hours_only, false) ? local.business_hours : "",
      ]))
    }
  }
}

output "alert_policies" {
  description = "One alert policy per declared condition: query, duration, severity, rollback."
  value       = local.alert_policies
}

output "signal_queries" {
  description = "The PromQL of each declared signal."
  value       = local.signal_queries
}
