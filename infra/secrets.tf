# Secret names only. Values are added by hand (docs/deploy.md), never in code or state
# from here; the functions read them through --set-secrets.
locals {
  secrets = {
    "rollback-webhook-token" = "Token Cloud Monitoring's webhook presents to the rollback function"
    "slack-webhook-url"      = "Slack-compatible incoming webhook for budget and rollback announcements"
    "session-signing-key"    = "HMAC key the public functions sign and check shopper sessions with"
  }
  # Who reads which secret: the ops functions their webhooks, the public ones (fn-pipeline) the session key.
  secret_readers = {
    "rollback-webhook-token" = "fn-ops"
    "slack-webhook-url"      = "fn-ops"
    "session-signing-key"    = "fn-pipeline"
  }
}

resource "google_secret_manager_secret" "app" {
  for_each  = local.secrets
  secret_id = each.key
  labels    = { app = "pet-cutout" }
  annotations = {
    purpose = each.value
  }
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "ops_reads" {
  for_each  = { for name, secret in google_secret_manager_secret.app : name => secret if local.secret_readers[name] == "fn-ops" }
  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime["fn-ops"].member
}

resource "google_secret_manager_secret_iam_member" "pipeline_reads" {
  for_each  = { for name, secret in google_secret_manager_secret.app : name => secret if local.secret_readers[name] == "fn-pipeline" }
  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime["fn-pipeline"].member
}
