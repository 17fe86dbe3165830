# Jobs, leases and rate-limit counters: production's (default), staging's jobs-staging
# (settings.jobs_database; infra/topology/names.tf).
resource "google_firestore_database" "default" {
  name                    = local.names.databases.jobs
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"
  depends_on              = [google_project_service.apis]
}

# Operations state (claims, the ops log, known-good revisions, spend, emergency
# mode) in a database of its own: Firestore has no per-collection IAM, but IAM
# conditions on the database name do hold (infra/access), so the GPU service and
# the public functions, which write only (default), cannot touch it.
# https://cloud.google.com/firestore/docs/manage-databases
resource "google_firestore_database" "ops" {
  name                    = local.names.databases.ops
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"
  depends_on              = [google_project_service.apis]
}

# Old jobs go by themselves: Firestore's TTL deletes a job once its `expire_at`
# timestamp has passed (the functions set it when they create a job).
resource "google_firestore_field" "job_ttl" {
  database   = google_firestore_database.default.name
  collection = var.jobs_collection
  field      = var.job_ttl_field
  ttl_config {}
  # No single-field index on the TTL field: it is never queried.
  index_config {}
}

# Rate-limit counters (functions/http.py) nobody has used for an hour carry a
# passed `expires_at`; the TTL policy removes them.
resource "google_firestore_field" "rate_limit_ttl" {
  database   = google_firestore_database.default.name
  collection = "rate_limits"
  field      = "expires_at"
  ttl_config {}
  index_config {}
}

# The cost report's cache figures (adapters/jobs.py cache_hits_since): count and sum over
# the hits of a budget period, equality on cache_hit and a range on the done time. An
# aggregation is answered from an index holding every field it filters on or sums:
# https://cloud.google.com/firestore/docs/query-data/aggregation-queries
resource "google_firestore_index" "cache_hits" {
  database   = google_firestore_database.default.name
  collection = var.jobs_collection
  fields {
    field_path = "cache_hit"
    order      = "ASCENDING"
  }
  fields {
    field_path = "timestamps.done"
    order      = "ASCENDING"
  }
  fields {
    field_path = "gpu_seconds_saved"
    order      = "ASCENDING"
  }
}
