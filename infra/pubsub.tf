# Topics and push subscriptions from topology.yaml. Every push carries an OIDC token
# of the pubsub-pusher account; the functions and the GPU service accept only it
# (invoker bindings: deploy/functions.py and the build's service step).
resource "google_pubsub_topic" "topology" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption; messages hold ids and object names, no photo bytes.
  for_each                   = toset(local.topology.topics)
  name                       = local.names.topics[each.key]
  message_retention_duration = "86400s"
  labels                     = { app = "pet-cutout", environment = var.environment }
  depends_on                 = [google_project_service.apis]
}

resource "google_pubsub_subscription" "topology" {
  for_each                   = local.subscriptions
  name                       = local.names.subscriptions[each.key]
  topic                      = google_pubsub_topic.topology[each.value.topic].id
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = "${try(each.value.message_retention_seconds, 604800)}s"
  labels                     = { app = "pet-cutout", environment = var.environment }

  expiration_policy {
    ttl = "" # never expires, however quiet the store is
  }

  retry_policy {
    minimum_backoff = "${each.value.retry.minimum_backoff_seconds}s"
    maximum_backoff = "${each.value.retry.maximum_backoff_seconds}s"
  }

  push_config {
    push_endpoint = local.push_endpoint[each.key]
    oidc_token {
      service_account_email = google_service_account.runtime["pubsub-pusher"].email
      audience              = local.push_audience[each.key]
    }
  }

  dynamic "dead_letter_policy" {
    for_each = can(each.value.dead_letter) ? [each.value.dead_letter] : []
    content {
      dead_letter_topic     = google_pubsub_topic.topology[dead_letter_policy.value.topic].id
      max_delivery_attempts = dead_letter_policy.value.max_delivery_attempts
    }
  }
}

# Dead-lettering is done by Pub/Sub's own service agent: it must publish to the
# dead-letter topic and subscribe (to acknowledge) on each source subscription.
locals {
  dead_lettered = { for name, s in local.subscriptions : name => s.dead_letter if can(s.dead_letter) }
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = toset([for d in local.dead_lettered : d.topic])
  topic    = google_pubsub_topic.topology[each.key].id
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = local.dead_lettered
  subscription = google_pubsub_subscription.topology[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# The service agent mints the pushes' OIDC tokens for the pusher account.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.runtime["pubsub-pusher"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}
