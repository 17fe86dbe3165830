output "function_urls" {
  description = "URL of each function (deployed by cloudbuild.yaml)."
  value       = local.function_urls
}

output "gpu_service_url" {
  description = "The GPU service's deterministic URL."
  value       = local.gpu_service_url
}

output "service_accounts" {
  description = "Email of each service account."
  value       = { for k, sa in google_service_account.runtime : k => sa.email }
}

output "rollback_policy" {
  description = "Alert policy whose incidents the rollback function acts on."
  value       = local.rollback_policy
}

output "image_repository" {
  description = "Where cloudbuild.yaml pushes the GPU image."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "edge_ip" {
  description = "The load balancer's address for var.edge_domain (empty without one)."
  value       = local.edge_enabled ? google_compute_global_address.edge[0].address : ""
}
