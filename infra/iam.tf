# Least-privilege identities. Project-wide roles only where the resource is made
# outside Terraform or has no narrower IAM; everything else is bound on the resource.
# Invoker bindings on the functions and the GPU service are made by the build,
# which creates those services (deploy/functions.py, cloudbuild.yaml).
locals {
  service_accounts = {
    "fn-pipeline"       = "Functions: upload URL, intake, job events, dead letters, status"
    "fn-ops"            = "Functions: pre-warm, budget guard, rollback, cost report"
    "fn-builder"        = "Builds the functions' containers (Cloud Functions build)"
    "gpu-service"       = "GPU Cloud Run service"
    "pubsub-pusher"     = "Identity in the OIDC token of every push subscription"
    "scheduler-invoker" = "Identity Cloud Scheduler calls the pre-warm function with"
    "deployer"          = "Cloud Build: tests, image, functions, canary, schedules"
  }
  uploads = google_storage_bucket.topology["uploads"].name
  results = google_storage_bucket.topology["results"].name

  bucket_roles = {
    # upload_url signs PUT URLs (the upload acts as this account); intake reads.
    "pipeline-uploads-create" = { bucket = local.uploads, sa = "fn-pipeline", role = "roles/storage.objectCreator" }
    "pipeline-uploads-read"   = { bucket = local.uploads, sa = "fn-pipeline", role = "roles/storage.objectViewer" }
    # job_status signs GET URLs of cut-outs.
    "pipeline-results-read" = { bucket = local.results, sa = "fn-pipeline", role = "roles/storage.objectViewer" }
    # The GPU worker reads originals and writes each cut-out once (precondition).
    "gpu-uploads-read"   = { bucket = local.uploads, sa = "gpu-service", role = "roles/storage.objectViewer" }
    "gpu-results-create" = { bucket = local.results, sa = "gpu-service", role = "roles/storage.objectCreator" }
    "gpu-results-read"   = { bucket = local.results, sa = "gpu-service", role = "roles/storage.objectViewer" }
  }
  topic_publishers = {
    "pipeline-segment" = { topic = "segment-requests", sa = "fn-pipeline" }
    "gpu-job-events"   = { topic = "job-events", sa = "gpu-service" }
  }
  project_roles = {
    # Firestore has no per-collection IAM.
    "pipeline-datastore" = { sa = "fn-pipeline", role = "roles/datastore.user" }
    "ops-datastore"      = { sa = "fn-ops", role = "roles/datastore.user" }
    "gpu-datastore"      = { sa = "gpu-service", role = "roles/datastore.user" }
    # The Managed Service for Prometheus sidecar in the GPU service (deploy/service.yaml)
    # writes the service's /metrics as this account; it is the role Google documents.
    # https://cloud.google.com/run/docs/monitoring-managed-prometheus-sidecar
    "gpu-metrics" = { sa = "gpu-service", role = "roles/monitoring.metricWriter" }
    # The deployer creates the GPU service and the functions (which are Cloud Run
    # services) and sets their invoker policies: run.admin is the narrowest role
    # with setIamPolicy. The canary's gates read Cloud Monitoring.
    "deployer-run"       = { sa = "deployer", role = "roles/run.admin" }
    "deployer-functions" = { sa = "deployer", role = "roles/cloudfunctions.developer" }
    "deployer-scheduler" = { sa = "deployer", role = "roles/cloudscheduler.admin" }
    "deployer-logs"      = { sa = "deployer", role = "roles/logging.logWriter" }
    "deployer-metrics"   = { sa = "deployer", role = "roles/monitoring.viewer" }
  }
  # Accounts the deployer deploys as (actAs).
  deployer_acts_as = ["fn-pipeline", "fn-ops", "fn-builder", "gpu-service", "scheduler-invoker"]
}

resource "google_service_account" "runtime" {
  for_each     = local.service_accounts
  account_id   = each.key
  display_name = each.value
  depends_on   = [google_project_service.apis]
}

resource "google_storage_bucket_iam_member" "runtime" {
  for_each = local.bucket_roles
  bucket   = each.value.bucket
  role     = each.value.role
  member   = google_service_account.runtime[each.value.sa].member
}

resource "google_pubsub_topic_iam_member" "runtime" {
  for_each = local.topic_publishers
  topic    = google_pubsub_topic.topology[each.value.topic].id
  role     = "roles/pubsub.publisher"
  member   = google_service_account.runtime[each.value.sa].member
}

resource "google_project_iam_member" "runtime" {
  for_each = local.project_roles
  project  = var.project
  role     = each.value.role
  member   = google_service_account.runtime[each.value.sa].member
}

# Cloud Functions builds each function's container as fn-builder; this is the role
# Google documents for a custom build service account.
resource "google_project_iam_member" "builder_builds" {
  # checkov:skip=CKV_GCP_49: the build identity needs Cloud Build's builder role; it runs no application code.
  project = var.project
  role    = "roles/cloudbuild.builds.builder"
  member  = google_service_account.runtime["fn-builder"].member
}

# V4 signed URLs without a key file: the pipeline account signs through IAM
# (signBlob) as itself, and nobody else can sign as it.
resource "google_service_account_iam_member" "pipeline_signs_as_itself" {
  service_account_id = google_service_account.runtime["fn-pipeline"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.runtime["fn-pipeline"].member
}

# Pre-warm and rollback update the GPU service, which runs as gpu-service.
resource "google_service_account_iam_member" "ops_acts_as_gpu" {
  service_account_id = google_service_account.runtime["gpu-service"].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.runtime["fn-ops"].member
}

resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each           = toset(local.deployer_acts_as)
  service_account_id = google_service_account.runtime[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.runtime["deployer"].member
}

resource "google_artifact_registry_repository_iam_member" "deployer_push" {
  repository = google_artifact_registry_repository.images.name
  location   = var.region
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.runtime["deployer"].member
}

# `gcloud builds submit` stages the source in PROJECT_cloudbuild; the deployer
# reads it there and nowhere else.
resource "google_project_iam_member" "deployer_reads_build_source" {
  project = var.project
  role    = "roles/storage.objectViewer"
  member  = google_service_account.runtime["deployer"].member
  condition {
    title      = "build-source-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${var.project}_cloudbuild\")"
  }
}
