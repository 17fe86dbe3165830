# Alert policies for every condition of topology.yaml `alerts:` (rendered by the
# topology module: infra/topology/alerts.tf), their notification channels by
# severity, the webhook channel to the rollback function, and a dashboard.
locals {
  alert_policies = module.topology.alert_policies
  signal_queries = module.topology.signal_queries
  # The rollback function acts on open incidents of these policies (its
  # ROLLBACK_POLICIES, checked against the declaration by tests/unit/test_alerts.py).
  rollback_policies = sort([for name, p in local.alert_policies : local.names.alert_policies[name] if p.rollback])
  # Severity routes: critical -> pager + Slack; warning -> Slack + e-mail.
  # https://cloud.google.com/monitoring/support/notification-options
  route_channels = {
    critical = concat(google_monitoring_notification_channel.pager[*].id, google_monitoring_notification_channel.slack[*].id)
    warning  = concat(google_monitoring_notification_channel.slack[*].id, google_monitoring_notification_channel.email[*].id)
  }
}

resource "google_monitoring_notification_channel" "email" {
  count        = var.alert_email == "" ? 0 : 1
  display_name = "pet-cutout operators${local.suffix}"
  type         = "email"
  labels       = { email_address = var.alert_email }
}

# Slack through Cloud Monitoring's Slack app (type slack: label channel_name,
# sensitive label auth_token) and PagerDuty (type pagerduty: sensitive service_key).
# Their secrets are read from Secret Manager at apply time, like the rollback token.
# https://cloud.google.com/monitoring/support/notification-options#slack
# https://cloud.google.com/monitoring/support/notification-options#pagerduty
data "google_secret_manager_secret_version" "slack_token" {
  count  = var.alert_slack_channel == "" ? 0 : 1
  secret = google_secret_manager_secret.app["monitoring-slack-token"].id
}

resource "google_monitoring_notification_channel" "slack" {
  count        = var.alert_slack_channel == "" ? 0 : 1
  display_name = "pet-cutout Slack${local.suffix}"
  type         = "slack"
  labels       = { channel_name = var.alert_slack_channel }
  sensitive_labels {
    auth_token = data.google_secret_manager_secret_version.slack_token[0].secret_data
  }
}

data "google_secret_manager_secret_version" "pager_key" {
  count  = var.pager_enabled ? 1 : 0
  secret = google_secret_manager_secret.app["monitoring-pagerduty-key"].id
}

resource "google_monitoring_notification_channel" "pager" {
  count        = var.pager_enabled ? 1 : 0
  display_name = "pet-cutout pager${local.suffix}"
  type         = "pagerduty"
  sensitive_labels {
    service_key = data.google_secret_manager_secret_version.pager_key[0].secret_data
  }
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
  display_name = "rollback function${local.suffix}"
  type         = "webhook_basicauth"
  labels = {
    url      = local.function_urls["rollback"]
    username = "cloud-monitoring" # ROLLBACK_WEBHOOK_USER (deploy/functions.py)
  }
  sensitive_labels {
    password = data.google_secret_manager_secret_version.rollback_token[0].secret_data
  }
}

resource "google_monitoring_alert_policy" "declared" {
  for_each     = local.alert_policies
  display_name = local.names.alert_policies[each.key]
  combiner     = "OR"
  severity     = upper(each.value.severity)
  documentation {
    content   = "${each.value.plan}.${each.value.rollback ? " The rollback function moves traffic back to the last known-good revision." : ""} See docs/deploy.md#alerts."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "${each.key}: above ${each.value.threshold} for ${each.value.duration}"
    condition_prometheus_query_language {
      query               = each.value.query
      duration            = each.value.duration
      evaluation_interval = "60s"
    }
  }
  alert_strategy {
    auto_close = "1800s"
  }
  notification_channels = concat(
    each.value.rollback ? google_monitoring_notification_channel.rollback[*].id : [],
    local.route_channels[each.value.severity],
  )
}

locals {
  dashboard_charts = {
    "GPU requests per second by code class" = "sum by (response_code_class) (rate(run_googleapis_com:request_count{monitored_resource=\"cloud_run_revision\",service_name=\"${local.gpu_service}\"}[5m]))"
    "GPU error ratio (5xx except 503)"      = local.signal_queries.gpu_error_ratio
    "GPU 503 ratio (busy, not ready)"       = local.signal_queries.gpu_unavailable_ratio
    "GPU request latency p95 (s)"           = local.signal_queries.gpu_p95_seconds
    "GPU container startup p99 (s)"         = local.signal_queries.gpu_startup_seconds
    "GPU memory utilization"                = local.signal_queries.gpu_memory_utilization
    "GPU queue depth"                       = local.signal_queries.gpu_queue_depth
    "GPU device memory (bytes)"             = local.signal_queries.gpu_device_memory_bytes
    "GPU instances"                         = "sum by (state) (run_googleapis_com:container_instance_count{monitored_resource=\"cloud_run_revision\",service_name=\"${local.gpu_service}\"})"
    "GPU utilization"                       = "avg(run_googleapis_com:container_gpu_utilizations{monitored_resource=\"cloud_run_revision\",service_name=\"${local.gpu_service}\"})"
    "Function errors per second"            = "sum by (service_name) (rate(run_googleapis_com:request_count{monitored_resource=\"cloud_run_revision\",response_code_class=\"5xx\",service_name!=\"${local.gpu_service}\"}[5m]))"
    "Dead-lettered messages (10 min)"       = local.signal_queries.dead_letters
    # The store plan's cache hit rate: intake logs each queued upload with cache=hit|miss
    # (functions/intake.py); PromQL names a log-based metric logging_googleapis_com:user_NAME.
    # https://cloud.google.com/monitoring/promql/promql-mapping
    "Mask cache hit rate (1 h)" = "sum(rate(logging_googleapis_com:user_${google_logging_metric.cache_lookups.name}{cache=\"hit\"}[1h])) / sum(rate(logging_googleapis_com:user_${google_logging_metric.cache_lookups.name}[1h]))"
  }
}

# Every upload intake queues, labelled by whether a stored mask served it (domain/cache.py).
# https://cloud.google.com/logging/docs/logs-based-metrics/counter-metrics
# Per deployment: staging's metric counts staging's intake (underscores: the name is also a PromQL name).
resource "google_logging_metric" "cache_lookups" {
  name   = "cache_lookups${replace(local.suffix, "-", "_")}"
  filter = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.function_names["intake"]}\" AND jsonPayload.message=\"upload queued\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key        = "cache"
      value_type = "STRING"
    }
  }
  label_extractors = { cache = "EXTRACT(jsonPayload.cache)" }
}

resource "google_monitoring_dashboard" "pipeline" {
  dashboard_json = jsonencode({
    displayName = "pet-cutout pipeline${local.suffix}"
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
