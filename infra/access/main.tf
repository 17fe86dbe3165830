# Every IAM grant to this project's service accounts, as data: infra/iam.tf makes
# one resource per entry, and tests/unit/test_permissions.py evaluates this module
# (no provider) and checks it against infra/permissions.yaml, the code's needs.
# Buckets are topology keys, topics topology ids, accounts the ids of `accounts`.

variable "project" {
  description = "Project id (conditions and custom role names carry it)."
  type        = string
}

variable "ops_database" {
  description = "The Firestore database of operations state (settings.ops_database)."
  type        = string
  default     = "ops"
}

variable "name_suffix" {
  description = "The deployment's suffix (topology.yaml `environments:`): empty for production, -staging for staging."
  type        = string
  default     = ""
}

variable "databases" {
  description = "The deployment's real database names (infra/topology/names.tf) of the logical (default) and ops_database; null: production's."
  type        = object({ jobs = string, ops = string })
  default     = null
}

locals {
  # The release's own accounts are one per project, made and granted project-wide by the
  # instance that owns the project's shared resources (production, no suffix). Another
  # deployment (staging) makes its runtime accounts only, with its suffix, and grants the
  # one deployer what releasing into it takes: acting as those accounts.
  shared      = ["deployer", "fn-builder"]
  owns_shared = var.name_suffix == ""
  # Role ids allow no hyphens: -staging becomes Staging.
  role_suffix    = replace(title(replace(trimprefix(var.name_suffix, "-"), "-", " ")), " ", "")
  real_databases = coalesce(var.databases, { jobs = "(default)", ops = var.ops_database })

  # One account per group of entry points with the same needs (infra/permissions.yaml).
  all_accounts = {
    "fn-public"         = "The storefront's functions: upload URLs and job status"
    "fn-warm"           = "The storefront's warm-up on intent: reads the warm-up policy's state, records warm-ups"
    "fn-variant"        = "The storefront's variants: reads a done job's photo and mask, writes each variant once"
    "fn-pipeline"       = "Pipeline functions: intake, job events, dead letters"
    "fn-render"         = "Render function: cache hits cut out from a stored mask (no Firestore)"
    "fn-ops"            = "Operations functions: pre-warm, budget guard, rollback, cost, KPI report, health check"
    "gpu-service"       = "GPU Cloud Run service"
    "deployer"          = "Cloud Build: image, functions, GPU service, canary, schedules"
    "fn-builder"        = "Builds the functions' containers (Cloud Functions build)"
    "pubsub-pusher"     = "Identity in the OIDC token of every push subscription"
    "scheduler-invoker" = "Identity Cloud Scheduler calls the pre-warm function with"
  }
  accounts    = { for id, what in local.all_accounts : id => what if local.owns_shared || !contains(local.shared, id) }
  account_ids = { for id, _ in local.all_accounts : id => contains(local.shared, id) ? id : "${id}${var.name_suffix}" }
  emails      = { for id, real in local.account_ids : id => "${real}@${var.project}.iam.gserviceaccount.com" }

  # Firestore has no per-collection IAM, but IAM conditions on the database name
  # (resource.name "projects/P/databases/D"): operations state lives in its own
  # database, so only fn-ops and the deployer can write it. Custom roles give only
  # the document permissions the code uses (no delete, no list where unused).
  # https://cloud.google.com/firestore/docs/security/iam (permissions per method)
  # https://cloud.google.com/iam/docs/conditions-resource-attributes (resource.name)
  declared_roles = {
    "petCutoutDocuments" = {
      title       = "Pet cut-out: read and write documents (no delete, no list)"
      permissions = ["datastore.databases.get", "datastore.entities.create", "datastore.entities.get", "datastore.entities.update"]
    }
    "petCutoutDocumentReader" = {
      title       = "Pet cut-out: read and query documents"
      permissions = ["datastore.entities.get", "datastore.entities.list"]
    }
    "petCutoutOpsState" = {
      title = "Pet cut-out: operations state (claims, log, known-good, spend)"
      permissions = ["datastore.databases.get", "datastore.entities.create", "datastore.entities.delete",
      "datastore.entities.get", "datastore.entities.list", "datastore.entities.update"]
    }
    # The public warm function: it appends warm-ups and log entries and reads the
    # policy's state, but can change no existing document (no update, no delete).
    "petCutoutWarmups" = {
      title       = "Pet cut-out: read the warm-up policy's state, append warm-ups"
      permissions = ["datastore.entities.create", "datastore.entities.get", "datastore.entities.list"]
    }
    "petCutoutOpsRecorder" = {
      title       = "Pet cut-out: record releases and the known-good revision"
      permissions = ["datastore.entities.create", "datastore.entities.update"]
    }
  }
  role = { for id, _ in local.declared_roles : id => "projects/${var.project}/roles/${id}${local.role_suffix}" }
  # Only the roles this instance grants (staging grants no ops recorder: it has no canary).
  custom_roles = { for id, r in local.declared_roles : "${id}${local.role_suffix}" => r
  if contains([for g in local.project_roles : g.role], local.role[id]) }
  # Keyed by the logical name; the condition names the deployment's database.
  database = {
    for db, real in { "(default)" = local.real_databases.jobs, (var.ops_database) = local.real_databases.ops } : db => {
      title                       = "firestore-${replace(real, "/[()]/", "")}-only"
      expression                  = "resource.name == \"projects/${var.project}/databases/${real}\" || resource.name.startsWith(\"projects/${var.project}/databases/${real}/\")"
    }
  }

  bucket_roles = {
    # upload_url signs PUT URLs (the upload acts as this account); it cannot read them.
    "public-uploads-create" = { bucket = "uploads", sa = "fn-public", role = "roles/storage.objectCreator" }
    # job_status signs GET URLs of cut-outs.
    "public-results-read" = { bucket = "results", sa = "fn-public", role = "roles/storage.objectViewer" }
    # The variant function re-renders a done job from its photo and mask, writes each
    # variant once (precondition: no overwrite, no delete) and signs GET URLs of them.
    "variant-uploads-read"   = { bucket = "uploads", sa = "fn-variant", role = "roles/storage.objectViewer" }
    "variant-results-read"   = { bucket = "results", sa = "fn-variant", role = "roles/storage.objectViewer" }
    "variant-results-create" = { bucket = "results", sa = "fn-variant", role = "roles/storage.objectCreator" }
    # intake checks the uploaded bytes.
    "pipeline-uploads-read" = { bucket = "uploads", sa = "fn-pipeline", role = "roles/storage.objectViewer" }
    # The GPU worker reads originals and writes each cut-out once (precondition).
    "gpu-uploads-read"   = { bucket = "uploads", sa = "gpu-service", role = "roles/storage.objectViewer" }
    "gpu-results-create" = { bucket = "results", sa = "gpu-service", role = "roles/storage.objectCreator" }
    "gpu-results-read"   = { bucket = "results", sa = "gpu-service", role = "roles/storage.objectViewer" }
    # Masks by content (domain/cache.py): the worker stores each once, intake looks them up
    # (it reads no cut-outs), and render reads a hit's upload and mask and writes its result.
    "gpu-cache-create"      = { bucket = "cache", sa = "gpu-service", role = "roles/storage.objectCreator" }
    "pipeline-cache-read"   = { bucket = "cache", sa = "fn-pipeline", role = "roles/storage.objectViewer" }
    "render-cache-read"     = { bucket = "cache", sa = "fn-render", role = "roles/storage.objectViewer" }
    "render-uploads-read"   = { bucket = "uploads", sa = "fn-render", role = "roles/storage.objectViewer" }
    "render-results-create" = { bucket = "results", sa = "fn-render", role = "roles/storage.objectCreator" }
    "render-results-read"   = { bucket = "results", sa = "fn-render", role = "roles/storage.objectViewer" }
  }

  topic_roles = {
    "pipeline-segment"  = { topic = "segment-requests", sa = "fn-pipeline", role = "roles/pubsub.publisher" }
    "gpu-job-events"    = { topic = "job-events", sa = "gpu-service", role = "roles/pubsub.publisher" }
    "warm-requests"     = { topic = "warm-requests", sa = "fn-warm", role = "roles/pubsub.publisher" }
    "pipeline-render"   = { topic = "render-requests", sa = "fn-pipeline", role = "roles/pubsub.publisher" }
    "render-job-events" = { topic = "job-events", sa = "fn-render", role = "roles/pubsub.publisher" }
    # A hit whose entry expired (or does not fit) goes to the GPU path after all.
    "render-segment" = { topic = "segment-requests", sa = "fn-render", role = "roles/pubsub.publisher" }
  }

  declared_project_roles = {
    # Jobs, leases and rate-limit counters: the (default) database only.
    "public-documents"   = { sa = "fn-public", role = local.role.petCutoutDocuments, condition = local.database["(default)"] }
    "variant-documents"  = { sa = "fn-variant", role = local.role.petCutoutDocuments, condition = local.database["(default)"] }
    "pipeline-documents" = { sa = "fn-pipeline", role = local.role.petCutoutDocuments, condition = local.database["(default)"] }
    "gpu-documents"      = { sa = "gpu-service", role = local.role.petCutoutDocuments, condition = local.database["(default)"] }
    # The Managed Service for Prometheus sidecar in the GPU service (deploy/service.yaml,
    # container `collector`) writes the service's /metrics as gpu-service: the role Google
    # documents, https://cloud.google.com/run/docs/monitoring-managed-prometheus-sidecar
    "gpu-metrics" = { sa = "gpu-service", role = "roles/monitoring.metricWriter", condition = null }
    # The warm function: rate-limit counters and the last finished job in (default),
    # the warm-up policy's state in the ops database.
    "warm-documents"  = { sa = "fn-warm", role = local.role.petCutoutDocuments, condition = local.database["(default)"] }
    "warm-jobs-read"  = { sa = "fn-warm", role = local.role.petCutoutDocumentReader, condition = local.database["(default)"] }
    "warm-ops-append" = { sa = "fn-warm", role = local.role.petCutoutWarmups, condition = local.database[var.ops_database] }
    # fn-ops counts jobs in (default) and keeps its state in the ops database.
    "ops-jobs-read" = { sa = "fn-ops", role = local.role.petCutoutDocumentReader, condition = local.database["(default)"] }
    "ops-state"     = { sa = "fn-ops", role = local.role.petCutoutOpsState, condition = local.database[var.ops_database] }
    # kpi_report and health_check read the GPU service's request counts (monitoring.timeSeries.list).
    "ops-metrics" = { sa = "fn-ops", role = "roles/monitoring.viewer", condition = null }
    # The canary logs its steps and records the known-good revision rollback returns to.
    "deployer-ops-state" = { sa = "deployer", role = local.role.petCutoutOpsRecorder, condition = local.database[var.ops_database] }
    # The deployer creates the GPU service and the functions (which are Cloud Run
    # services) and sets their invoker policies: run.admin is the narrowest predefined
    # role with setIamPolicy (run.developer can get but not set IAM policies):
    # https://cloud.google.com/run/docs/reference/iam/roles
    # The canary's gates read Cloud Monitoring.
    "deployer-run"       = { sa = "deployer", role = "roles/run.admin", condition = null }
    "deployer-functions" = { sa = "deployer", role = "roles/cloudfunctions.developer", condition = null }
    "deployer-scheduler" = { sa = "deployer", role = "roles/cloudscheduler.admin", condition = null }
    "deployer-logs"      = { sa = "deployer", role = "roles/logging.logWriter", condition = null }
    "deployer-metrics"   = { sa = "deployer", role = "roles/monitoring.viewer", condition = null }
    # Cloud Functions builds each function's container as fn-builder; this is the
    # role Google documents for a custom build service account.
    "builder-builds" = { sa = "fn-builder", role = "roles/cloudbuild.builds.builder", condition = null }
    # The release keeps each validation report under PROJECT_cloudbuild/validation/
    # (cloudbuild.yaml validation-gate and artifacts): it creates objects there only.
    "deployer-validation-reports" = {
      sa = "deployer", role = "roles/storage.objectCreator"
      condition = {
        title      = "validation-reports-only"
        expression = "resource.name.startsWith(\"projects/_/buckets/${var.project}_cloudbuild/objects/validation/\")"
      }
    }
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

  # Project-wide roles of the shared accounts belong to the instance that owns them.
  project_roles = { for k, g in local.declared_project_roles : k => g if local.owns_shared || !contains(local.shared, g.sa) }

  # Roles on a service account (`account`) for another (`sa`).
  declared_sa_roles = merge(
    {
      # V4 signed URLs without a key file: the public account signs through IAM
      # (signBlob) as itself, and nobody else can sign as it.
      "public-signs-as-itself"  = { account = "fn-public", sa = "fn-public", role = "roles/iam.serviceAccountTokenCreator" }
      "variant-signs-as-itself" = { account = "fn-variant", sa = "fn-variant", role = "roles/iam.serviceAccountTokenCreator" }
      # The release's ID tokens (the validation's calls of staging's GPU service): Cloud
      # Build mints them only for an account holding getOpenIdToken.
      # https://cloud.google.com/build/docs/securing-builds/authorize-service-to-service-access
      "deployer-mints-id-tokens" = { account = "deployer", sa = "deployer", role = "roles/iam.serviceAccountOpenIdTokenCreator" }
      # Pre-warm and rollback update the GPU service, which runs as gpu-service.
      "ops-acts-as-gpu" = { account = "gpu-service", sa = "fn-ops", role = "roles/iam.serviceAccountUser" }
    },
    { for a in ["fn-public", "fn-warm", "fn-variant", "fn-pipeline", "fn-render", "fn-ops", "fn-builder", "gpu-service", "scheduler-invoker"] :
    "deployer-acts-as-${a}" => { account = a, sa = "deployer", role = "roles/iam.serviceAccountUser" } },
  )

  sa_roles = { for k, g in local.declared_sa_roles : k => g if local.owns_shared || !contains(local.shared, g.account) }

  secret_roles = merge(
    { for s in ["rollback-webhook-token", "slack-webhook-url"] :
    "ops-reads-${s}" => { secret = s, sa = "fn-ops", role = "roles/secretmanager.secretAccessor" } },
    # The public functions sign and check shopper sessions (domain/sessions.py).
    { "public-reads-session-signing-key" = { secret = "session-signing-key", sa = "fn-public", role = "roles/secretmanager.secretAccessor" } },
    { "warm-reads-session-signing-key" = { secret = "session-signing-key", sa = "fn-warm", role = "roles/secretmanager.secretAccessor" } },
    { "variant-reads-session-signing-key" = { secret = "session-signing-key", sa = "fn-variant", role = "roles/secretmanager.secretAccessor" } },
  )

  # The image repository is the owner's (infra/artifacts.tf).
  repository_roles = local.owns_shared ? {
    "deployer-push" = { sa = "deployer", role = "roles/artifactregistry.writer" }
  } : {}
}

output "accounts" {
  description = "The service accounts this instance makes: logical id => description."
  value       = local.accounts
}

output "account_ids" {
  description = "Every account's real id in this deployment (logical id => account id)."
  value       = local.account_ids
}

output "emails" {
  description = "Every account's e-mail in this deployment, made here or (shared ones, in staging) by production's instance."
  value       = local.emails
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
