# The one declaration of buckets, topics, subscriptions and functions: the same
# topology.yaml the local stack applies (see ./topology). Every bucket, topic and
# subscription below is made for_each over it; tests/unit/test_infra.py fails if
# one exists here that topology.yaml does not declare, or the other way round.
module "topology" {
  source       = "./topology"
  env          = merge({ GOOGLE_CLOUD_PROJECT = var.project }, var.topology_env)
  environment  = var.environment
  ops_database = var.ops_database
}

data "google_project" "this" {
  project_id = var.project
}

locals {
  topology      = module.topology.topology
  buckets       = local.topology.buckets
  subscriptions = { for s in local.topology.subscriptions : s.name => s }
  functions     = local.topology.functions
  # What this deployment calls each of them (infra/topology/names.tf: the environment's
  # suffix on every name, so staging and production in one project never meet).
  names  = module.topology.names
  suffix = local.names.suffix
  # Production's instance (no suffix) makes what a project has once: the image
  # repository, the release's accounts and their project-wide roles, the budget.
  owns_shared = local.suffix == ""
  gpu_service = local.names.gpu_service

  # Deployed function names: the main.py target with hyphens and the suffix (deploy/functions.py).
  function_names = local.names.functions
  function_urls  = { for f, n in local.function_names : f => "https://${var.region}-${var.project}.cloudfunctions.net/${n}" }
  # Cloud Run's deterministic URL: known before the first build creates the service.
  gpu_service_url = "https://${local.gpu_service}-${data.google_project.this.number}.${var.region}.run.app"

  # Push target of each subscription and the audience of its OIDC token.
  push_audience = {
    for name, s in local.subscriptions : name => (
      can(s.push.function) ? local.function_urls[s.push.function] : local.gpu_service_url
    )
  }
  push_endpoint = {
    for name, s in local.subscriptions : name => (
      can(s.push.function) ? local.push_audience[name] : "${local.gpu_service_url}${s.push.path}"
    )
  }

  billing_topic = "billing-alerts"
  pubsub_agent  = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
