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

output "rollback_policies" {
  description = "Alert policies whose incidents the rollback function acts on (its ROLLBACK_POLICIES)."
  value       = join(",", local.rollback_policies)
}

output "image_repository" {
  description = "Where cloudbuild.yaml pushes the GPU image."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${var.artifact_repository}"
}

# A release's --substitutions (cloudbuild.yaml), from this configuration, so the
# build deploys what Terraform made. Production's base names from either deployment's
# state: the build derives staging's from them (deploy/environments.py).
#   gcloud builds submit ... --substitutions="$(terraform output -raw build_substitutions)"
# `^;^` makes `;` the separator, as origins may hold commas (gcloud topic escaping).
output "build_substitutions" {
  description = "The --substitutions of gcloud builds submit for a release."
  value = "^;^${join(";", [
    "_REGION=${var.region}",
    "_REPOSITORY=${var.artifact_repository}",
    "_SERVICE=${local.topology.services.gpu.name}",
    "_UPLOADS_BUCKET=${local.buckets.uploads.name}",
    "_RESULTS_BUCKET=${local.buckets.results.name}",
    "_CACHE_BUCKET=${local.buckets.cache.name}",
    "_STORE_ORIGINS=${local.buckets.uploads.cors.origins}",
  ])}"
}

output "names" {
  description = "What this deployment (var.environment) calls each bucket, topic, subscription, function, database and alert policy, and its GPU instance."
  value       = local.names
}

output "edge_ip" {
  description = "The load balancer's address for var.edge_domain (empty without one)."
  value       = local.edge_enabled ? google_compute_global_address.edge[0].address : ""
}
