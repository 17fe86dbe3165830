# Copy to project.tfvars (ignored by git) and fill in; apply it with an environment
# file after it (infra/envs/production.tfvars or staging.tfvars: docs/deploy.md).
project         = "acme-pet-cutout"
region          = "us-central1"
billing_account = "000000-000000-000000"
daily_budget    = 10
alert_email     = "oncall@example.com"
topology_env = {
  UPLOADS_BUCKET = "acme-pet-uploads"
  RESULTS_BUCKET = "acme-pet-results"
  STORE_ORIGINS  = "https://shop.example.com"
}
# Second apply, after the rollback-webhook-token secret has a version:
# rollback_webhook_enabled = true
