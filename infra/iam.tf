# Least-privilege identities. Every grant to our service accounts is data in
# ./access (checked against the code's needs by tests/unit/test_permissions.py);
# this file only makes one resource per entry. Invoker bindings on the functions
# and the GPU service are made by the build, which creates those services
# (deploy/functions.py, cloudbuild.yaml).
module "access" {
  source       = "./access"
  project      = var.project
  ops_database = var.ops_database
  name_suffix  = local.suffix
  databases    = local.names.databases
}

locals {
  service_accounts = module.access.accounts
  # A grant's member: an account made here, or a shared one production's instance made
  # (the deployer staging releases are made by).
  members = { for id, email in module.access.emails : id => (
    contains(keys(google_service_account.runtime), id) ? google_service_account.runtime[id].member : "serviceAccount:${email}"
  ) }
}

resource "google_service_account" "runtime" {
  for_each     = local.service_accounts
  account_id   = module.access.account_ids[each.key]
  display_name = each.value
  depends_on   = [google_project_service.apis]
}

resource "google_project_iam_custom_role" "access" {
  for_each    = module.access.custom_roles
  role_id     = each.key
  title       = each.value.title
  permissions = each.value.permissions
}

resource "google_storage_bucket_iam_member" "access" {
  for_each = module.access.bucket_roles
  bucket   = google_storage_bucket.topology[each.value.bucket].name
  role     = each.value.role
  member   = local.members[each.value.sa]
}

resource "google_pubsub_topic_iam_member" "access" {
  for_each = module.access.topic_roles
  topic    = google_pubsub_topic.topology[each.value.topic].id
  role     = each.value.role
  member   = local.members[each.value.sa]
}

resource "google_project_iam_member" "access" {
  # checkov:skip=CKV_GCP_49: fn-builder's build role is the one Google documents for a custom build account; no account gets a role on all service accounts.
  for_each   = module.access.project_roles
  project    = var.project
  role       = each.value.role
  member     = local.members[each.value.sa]
  depends_on = [google_project_iam_custom_role.access, google_firestore_database.ops]

  dynamic "condition" {
    for_each = each.value.condition == null ? [] : [each.value.condition]
    content {
      title      = condition.value.title
      expression = condition.value.expression
    }
  }
}

resource "google_service_account_iam_member" "access" {
  for_each           = module.access.sa_roles
  service_account_id = google_service_account.runtime[each.value.account].name
  role               = each.value.role
  member             = local.members[each.value.sa]
}

resource "google_secret_manager_secret_iam_member" "access" {
  for_each  = module.access.secret_roles
  secret_id = google_secret_manager_secret.app[each.value.secret].id
  role      = each.value.role
  member    = local.members[each.value.sa]
}

resource "google_artifact_registry_repository_iam_member" "access" {
  for_each   = module.access.repository_roles
  repository = google_artifact_registry_repository.images[0].name
  location   = var.region
  role       = each.value.role
  member     = local.members[each.value.sa]
}
