variable "environment" {
  description = "Which deployment this is: a key of topology.yaml `environments:` (infra/envs/ENV.tfvars). It names everything made here."
  type        = string
  default     = "production"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "environment: 2-12 lowercase letters or digits (it ends up in service account ids of at most 30 characters)."
  }
}

variable "project" {
  description = "Google Cloud project id (fills $${GOOGLE_CLOUD_PROJECT} in topology.yaml)."
  type        = string
}

variable "region" {
  description = "Region of the buckets, functions and the GPU service (one with Cloud Run L4 GPUs)."
  type        = string
  default     = "us-central1"
}

variable "topology_env" {
  description = "Overrides for topology.yaml placeholders, e.g. { UPLOADS_BUCKET = \"acme-pet-uploads\", STORE_ORIGINS = \"https://shop.example\" }. Unset ones take the file's defaults."
  type        = map(string)
  default     = {}
}

variable "firestore_location" {
  description = "Firestore location (a region, or a multi-region such as nam5)."
  type        = string
  default     = "us-central1"
}

variable "ops_database" {
  description = "Firestore database of operations state: must equal the code's OPS_DATABASE (settings.py, default ops)."
  type        = string
  default     = "ops"
}

variable "jobs_collection" {
  description = "Firestore collection of jobs (settings.jobs_collection)."
  type        = string
  default     = "jobs"
}

variable "job_ttl_field" {
  description = "Timestamp field of a job document after which Firestore's TTL deletes it."
  type        = string
  default     = "expire_at"
}

variable "billing_account" {
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX) the budget watches."
  type        = string
}

variable "daily_budget" {
  description = "Daily spend target. Cloud Billing budgets are monthly, so the budget is this times 31."
  type        = number
  default     = 10
}

variable "budget_currency" {
  description = "Currency of the billing account."
  type        = string
  default     = "USD"
}

variable "budget_thresholds" {
  description = "Fractions of the budget at which Cloud Billing notifies billing-alerts (and e-mail)."
  type        = list(number)
  default     = [0.5, 0.75, 1.0]
}

variable "alert_email" {
  description = "Where people get alerts; empty for none."
  type        = string
  default     = ""
}

variable "rollback_webhook_enabled" {
  description = "Create the Cloud Monitoring webhook channel to the rollback function. Needs a version of the rollback-webhook-token secret first (docs/deploy.md)."
  type        = bool
  default     = false
}

# Thresholds and durations of every alert are in topology.yaml `alerts:`, not here.
variable "alert_slack_channel" {
  description = "Slack channel (e.g. #pet-cutout-alerts) for critical and warning alerts; empty for none. Needs a version of the monitoring-slack-token secret first."
  type        = string
  default     = ""
}

variable "pager_enabled" {
  description = "Page on critical alerts through PagerDuty. Needs a version of the monitoring-pagerduty-key secret first."
  type        = bool
  default     = false
}

variable "artifact_repository" {
  description = "Artifact Registry (Docker) repository of the GPU image."
  type        = string
  default     = "pet-cutout"
}

variable "keep_image_versions" {
  description = "Most recent GPU images kept in Artifact Registry (older ones cost storage)."
  type        = number
  default     = 10
}

variable "edge_domain" {
  description = "Domain of the load balancer in front of the public functions (Cloud Armor per-IP rule, infra/edge.tf); empty: none. Point its DNS at the edge_ip output."
  type        = string
  default     = ""
}

variable "edge_requests_per_minute" {
  description = "Cloud Armor ceiling per client IP and public function, per minute; above the functions' own limit (settings.rate_limit_ip_per_minute) so it only stops floods."
  type        = number
  default     = 300
}
