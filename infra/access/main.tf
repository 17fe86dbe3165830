# Every IAM grant to this project's service accounts, as data: infra/iam.tf makes
# one resource per entry, and tests/unit/test_permissions.py evaluates this module
# (no provider) and checks it against infra/permissions.yaml, the code's needs.
# Buckets are topology keys, topics topology ids, accounts the ids of `accounts`.

variable "project" {
  description = "Project id (conditions and custom role names carry it)."
  type        = string
}

locals {
  accounts = {
    "fn-pipeline"       = "Functions: upload URL, intake, job events, dead letters, status"
    "fn-ops"            = "Functions: pre-warm, budget guard, rollback, cost report"
    "fn-builder"        = "Builds the functions' containers (Cloud Functions build)"
    "gpu-service"       = "GPU Cloud Run service"
    "pubsub-pusher"     = "Identity in the OIDC token of every push subscription"
    "scheduler-invoker" = "Identity Cloud Scheduler calls the pre-warm function with"
    "deployer"          = "Cloud Build: tests, image, functions, canary, schedules"
  }

  custom_roles = {}

  bucket_roles = {
    # upload_url signs PUT URLs (the upload acts as this account); intake reads.
    "pipeline-uploads-create" = { bucket = "uploads", sa = "fn-pipeline", role = "roles/storage.objectCreator" }
    "pipeline-uploads-read"   = { bucket = "uploads", sa = "fn-pipeline", role = "roles/storage.objectViewer" }
    # job_status signs GET URLs of cut-outs.
    "pipeline-results-read" = { bucket = "results", sa = "fn-pipeline", role = "roles/storage.objectViewer" }
    # The GPU worker reads originals and writes each cut-out once (precondition).
    "gpu-uploads-read"   = { bucket = "uploads", sa = "gpu-service", role = "roles/storage.objectViewer" }
    "gpu-results-create" = { bucket = "results", sa = "gpu-service", role = "roles/storage.objectCreator" }
    "gpu-results-read"   = { bucket = "results", sa = "gpu-service", role = "roles/storage.objectViewer" }
  }

  topic_roles = {
    "pipeline-segment" = { topic = "segment-requests", sa = "fn-pipeline", role = "roles/pubsub.publisher" }
    "gpu-job-events"   = { topic = "job-events", sa = "gpu-service", role = "roles/pubsub.publisher" }
  }

  project_roles = {
    # Firestore has no per-collection IAM.
    "pipeline-datastore" = { sa = "fn-pipeline", role = "roles/datastore.user", condition = null }
    "ops-datastore"      = { sa = "fn-ops", role = "roles/datastore.user", condition = null }
    "gpu-datastore"      = { sa = "gpu-service", role = "roles/datastore.user", condition = null }
    # The canary records its steps and the known-good revision (adapters/ops.py).
    "deployer-datastore" = { sa = "deployer", role = "roles/datastore.user", condition = null }
    # The deployer creates the GPU service and the functions (which are Cloud Run
    # services) and sets their invoker policies: run.admin is the narrowest role
    # with setIamPolicy. The canary's gates read Cloud Monitoring.
    "deployer-run"       = { sa = "deployer", role = "roles/run.admin", condition = null }
    "deployer-functions" = { sa = "deployer", role = "roles/cloudfunctions.developer", condition = null }
    "deployer-scheduler" = { sa = "deployer", role = "roles/cloudscheduler.admin", condition = null }
    "deployer-logs"      = { sa = "deployer", role = "roles/logging.logWriter", condition = null }
    "deployer-metrics"   = { sa = "deployer", role = "roles/monitoring.viewer", condition = null }
    # Cloud Functions builds each function's container as fn-builder; this is the
    # role Google documents for a custom build service account.
    "builder-builds" = { sa = "fn-builder", role = "roles/cloudbuild.builds.builder", condition = null }
    # `gcloud builds submit` stages the source in PROJECT_cloudbuild; the deployer
    # reads it there and nowhere else.
    "deployer-build-source" = {
      sa = "deployer", role = "roles/storage.objectViewer"
      condition = {
        title      = "build-source-only"
        expression = "resource.name.startsWith(\"projects/_/buckets/${var.project}_cloudbuild\")"
      }
    }
  }

  # Roles on a service account (the key's `account`) for another (`sa`).
  sa_roles = merge(
    {
      # V4 signed URLs without a key file: the pipeline account signs through IAM
      # (signBlob) as itself, and nobody else can sign as it.
      "pipeline-signs-as-itself" = { account = "fn-pipeline", sa = "fn-pipeline", role = "roles/iam.serviceAccountTokenCreator" }
      # Pre-warm and rollback update the GPU service, which runs as gpu-service.
      "ops-acts-as-gpu" = { account = "gpu-service", sa = "fn-ops", role = "roles/iam.serviceAccountUser" }
    },
    { for a in ["fn-pipeline", "fn-ops", "fn-builder", "gpu-service", "scheduler-invoker"] :
    "deployer-acts-as-${a}" => { account = a, sa = "deployer", role = "roles/iam.serviceAccountUser" } },
  )

  secret_roles = {
    for s in ["rollback-webhook-token", "slack-webhook-url"] :
    "ops-reads-${s}" => { secret = s, sa = "fn-ops", role = "roles/secretmanager.secretAccessor" }
  }

  repository_roles = {
    "deployer-push" = { sa = "deployer", role = "roles/artifactregistry.writer" }
  }
}

output "accounts" {
  description = "Service account id => description."
  value       = local.accounts
}

output "custom_roles" {
  description = "Custom role id => title and permissions."
  value       = local.custom_roles
}

output "bucket_roles" {
  description = "Roles on topology buckets."
  value       = local.bucket_roles
}

output "topic_roles" {
  description = "Roles on topology topics."
  value       = local.topic_roles
}

output "project_roles" {
  description = "Project-wide roles, each with an optional IAM condition."
  value       = local.project_roles
}

output "sa_roles" {
  description = "Roles on service accounts."
  value       = local.sa_roles
}

output "secret_roles" {
  description = "Roles on Secret Manager secrets."
  value       = local.secret_roles
}

output "repository_roles" {
  description = "Roles on the image repository."
  value       = local.repository_roles
}
