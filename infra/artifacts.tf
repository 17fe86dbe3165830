# One repository per project, made by production's instance: every deployment runs the
# image the release pushed here once (cloudbuild.yaml).
resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84: Google-managed encryption is enough for an image with no secrets in it.
  count         = local.owns_shared ? 1 : 0
  repository_id = var.artifact_repository
  location      = var.region
  format        = "DOCKER"
  description   = "GPU service images (one per build)"

  # Each image is several GB: keep the recent ones (rollback targets) and delete the rest.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.keep_image_versions
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }
  depends_on = [google_project_service.apis]
}
