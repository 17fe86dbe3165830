# Secret names only. Values are added by hand (docs/deploy.md), never in code or state
# from here; the functions read them through --set-secrets.
locals {
  secrets = {
    "rollback-webhook-token" = "Token Cloud Monitoring's webhook presents to the rollback function"
    "slack-webhook-url"      = "Slack-compatible incoming webhook for budget and rollback announcements"
    "session-signing-key"    = "HMAC key the public functions sign and check shopper sessions with"
    # Read by Terraform only (notification channels in monitoring.tf), no runtime.
    "monitoring-slack-token"   = "Cloud Monitoring Slack app token of the alerts channel"
    "monitoring-pagerduty-key" = "PagerDuty integration key critical alerts page"
  }
}

resource "google_secret_manager_secret" "app" {
  for_each  = local.secrets
  secret_id = "${each.key}${local.suffix}"
  labels    = { app = "pet-cutout", environment = var.environment }
  annotations = {
    purpose = each.value
  }
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}
