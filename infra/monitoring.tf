# Alerts at the store's thresholds, a webhook channel to the rollback function and
# a dashboard. Queries are PromQL over Cloud Run's built-in metrics.
locals {
  gpu_filter = "monitored_resource=\"cloud_run_revision\",service_name=\"${local.gpu_service}\""
  # 503 is the service's back-pressure ("busy, retry"), not a failure: Pub/Sub
  # simply redelivers. Everything else in 5xx counts as an error.
  gpu_errors   = "sum(rate(run_googleapis_com:request_count{${local.gpu_filter},response_code_class=\"5xx\",response_code!=\"503\"}[1m]))"
  gpu_requests = "sum(rate(run_googleapis_com:request_count{${local.gpu_filter}}[1m]))"
  gpu_p95_ms   = "histogram_quantile(0.95, sum by (le) (rate(run_googleapis_com:request_latencies_bucket{${local.gpu_filter}}[5m])))"
  gpu_start_ms = "histogram_quantile(0.99, sum by (le) (rate(run_googleapis_com:container_startup_latencies_bucket{${local.gpu_filter}}[30m])))"
  dead_letters = "sum(increase(pubsub_googleapis_com:topic_send_message_operation_count{monitored_resource=\"pubsub_topic\",topic_id=\"dead-letter\"}[10m]))"

  # The rollback function acts on open incidents of this policy only (its
  # ROLLBACK_POLICIES). Threshold and duration come from topology.yaml `alerts:`
  # where declared (the local stack evaluates the same condition), else variables.
  rollback_policy      = "gpu-error-rate"
  rollback_alert       = try(local.topology.alerts[local.rollback_policy], {})
  error_rate_threshold = try(local.rollback_alert.max_error_rate, var.error_rate_threshold)
  error_rate_duration  = try(local.rollback_alert.duration_seconds, 300)
  people               = google_monitoring_notification_channel.email[*].id
}

resource "google_monitoring_notification_channel" "email" {
  count        = var.alert_email == "" ? 0 : 1
  display_name = "pet-cutout operators"
  type         = "email"
  labels       = { email_address = var.alert_email }
}

# Basic auth (`webhook_basicauth`: labels url and username, sensitive label
# password), so the secret travels in the Authorization header, never in the URL,
# which request logs keep; the function refuses a URL token (`webhook_tokenauth`'s
# ?auth_token=). https://cloud.google.com/monitoring/support/notification-options#webhooks
# https://cloud.google.com/monitoring/alerts/using-channels-api
# The password is the rollback-webhook-token secret, read at apply time (it lands
# in the state, which is why the state bucket is private).
data "google_secret_manager_secret_version" "rollback_token" {
  count  = var.rollback_webhook_enabled ? 1 : 0
  secret = google_secret_manager_secret.app["rollback-webhook-token"].id
}

resource "google_monitoring_notification_channel" "rollback" {
  count        = var.rollback_webhook_enabled ? 1 : 0
  display_name = "rollback function"
  type         = "webhook_basicauth"
  labels = {
    url      = local.function_urls["rollback"]
    username = "cloud-monitoring" # ROLLBACK_WEBHOOK_USER (deploy/functions.py)
  }
  sensitive_labels {
    password = data.google_secret_manager_secret_version.rollback_token[0].secret_data
  }
}

resource "google_monitoring_alert_policy" "gpu_error_rate" {
  display_name = local.rollback_policy
  combiner     = "OR"
  documentation {
    content   = "GPU service errors above ${local.error_rate_threshold * 100} % for ${local.error_rate_duration / 60} minutes. The rollback function moves traffic back to the last known-good revision. See docs/deploy.md#alerts."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "5xx ratio > ${local.error_rate_threshold * 100} % for ${local.error_rate_duration}s"
    condition_prometheus_query_language {
      query               = "${local.gpu_errors} / ${local.gpu_requests} > ${local.error_rate_threshold}"
      duration            = "${local.error_rate_duration}s"
      evaluation_interval = "60s"
    }
  }
  alert_strategy {
    auto_close = "1800s"
  }
  notification_channels = concat(google_monitoring_notification_channel.rollback[*].id, local.people)
}

resource "google_monitoring_alert_policy" "gpu_latency" {
  display_name = "gpu-p95-latency"
  combiner     = "OR"
  documentation {
    content   = "Warm processing p95 above ${var.p95_latency_seconds} s for 10 minutes. See docs/deploy.md#alerts."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "request p95 > ${var.p95_latency_seconds} s"
    condition_prometheus_query_language {
      query               = "${local.gpu_p95_ms} > ${var.p95_latency_seconds * 1000}"
      duration            = "600s"
      evaluation_interval = "60s"
    }
  }
  notification_channels = local.people
}

resource "google_monitoring_alert_policy" "gpu_cold_start" {
  display_name = "gpu-cold-start"
  combiner     = "OR"
  documentation {
    content   = "Container startup p99 above ${var.cold_start_p99_seconds} s: cold starts are slow (image pull, model load). See docs/deploy.md#alerts."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "startup p99 > ${var.cold_start_p99_seconds} s"
    condition_prometheus_query_language {
      query               = "${local.gpu_start_ms} > ${var.cold_start_p99_seconds * 1000}"
      duration            = "0s"
      evaluation_interval = "300s"
    }
  }
  notification_channels = local.people
}

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name = "dead-letters"
  combiner     = "OR"
  documentation {
    content   = "Messages reached the dead-letter topic: jobs ended failed with reason dead_letter. See docs/deploy.md#alerts."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "any message dead-lettered in 10 min"
    condition_prometheus_query_language {
      query               = "${local.dead_letters} > 0"
      duration            = "0s"
      evaluation_interval = "300s"
    }
  }
  notification_channels = local.people
}

locals {
  dashboard_charts = {
    "GPU requests per second by code class" = "sum by (response_code_class) (rate(run_googleapis_com:request_count{${local.gpu_filter}}[5m]))"
    "GPU error ratio (5xx except 503)"      = "${local.gpu_errors} / ${local.gpu_requests}"
    "GPU request latency p95 (ms)"          = local.gpu_p95_ms
    "GPU container startup p99 (ms)"        = local.gpu_start_ms
    "GPU instances"                         = "sum by (state) (run_googleapis_com:container_instance_count{${local.gpu_filter}})"
    "GPU utilization"                       = "avg(run_googleapis_com:container_gpu_utilizations{${local.gpu_filter}})"
    "Function errors per second"            = "sum by (service_name) (rate(run_googleapis_com:request_count{monitored_resource=\"cloud_run_revision\",response_code_class=\"5xx\",service_name!=\"${local.gpu_service}\"}[5m]))"
    "Dead-lettered messages (10 min)"       = local.dead_letters
  }
}

resource "google_monitoring_dashboard" "pipeline" {
  dashboard_json = jsonencode({
    displayName = "pet-cutout pipeline"
    mosaicLayout = {
      columns = 12
      tiles = [
        for i, title in keys(local.dashboard_charts) : {
          xPos   = (i % 2) * 6
          yPos   = floor(i / 2) * 4
          width  = 6
          height = 4
          widget = {
            title = title
            xyChart = {
              dataSets = [{
                plotType        = "LINE"
                timeSeriesQuery = { prometheusQuery = local.dashboard_charts[title] }
              }]
            }
          }
        }
      ]
    }
  })
}
