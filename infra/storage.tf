# Buckets, their lifecycle, CORS and the uploads bucket's Pub/Sub notification, all
# from topology.yaml `buckets:`.
resource "google_storage_bucket" "topology" {
  # checkov:skip=CKV_GCP_62: access logs of customer photos are not kept; Cloud Audit Logs cover admin access.
  # checkov:skip=CKV_GCP_78: no versioning: originals are deleted on purpose after N days and results are write-once.
  for_each                    = local.buckets
  name                        = local.names.buckets[each.key]
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = { app = "pet-cutout", role = each.key, environment = var.environment }

  lifecycle_rule {
    condition {
      age = each.value.delete_after_days
    }
    action {
      type = "Delete"
    }
  }

  # The storefront PUTs to signed URLs from the browser: only its origins may.
  dynamic "cors" {
    for_each = can(each.value.cors) ? [each.value.cors] : []
    content {
      origin          = [for o in split(",", cors.value.origins) : trimspace(o) if trimspace(o) != ""]
      method          = cors.value.methods
      response_header = cors.value.response_headers
      max_age_seconds = cors.value.max_age_seconds
    }
  }

  depends_on = [google_project_service.apis]
}

data "google_storage_project_service_account" "gcs" {
  project = var.project
}

locals {
  notifications = { for k, b in local.buckets : k => b.notification if can(b.notification) }
}

# Cloud Storage's service agent publishes the notifications.
resource "google_pubsub_topic_iam_member" "gcs_publisher" {
  for_each = toset([for n in local.notifications : n.topic])
  topic    = google_pubsub_topic.topology[each.key].id
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_storage_notification" "topology" {
  for_each           = local.notifications
  bucket             = google_storage_bucket.topology[each.key].name
  topic              = google_pubsub_topic.topology[each.value.topic].id
  payload_format     = each.value.payload_format
  event_types        = each.value.event_types
  object_name_prefix = each.value.object_prefix
  depends_on         = [google_pubsub_topic_iam_member.gcs_publisher]
}
