# The names one deployment gives what it makes: topology.yaml `environments:` picks the
# suffix (production none, staging -staging). The same rule as deploy/environments.py
# (tests/unit/test_environments.py renders both deployments with terraform and
# compares): every resource below carries the suffix, so two deployments in one project
# share no bucket, topic, subscription, database, function, service or secret.

variable "environment" {
  description = "Which deployment of topology.yaml `environments:` this is."
  type        = string
  default     = "production"
}

variable "ops_database" {
  description = "Base name of the operations database (settings.ops_database)."
  type        = string
  default     = "ops"
}

locals {
  deployment = local.topology.environments[var.environment]
  suffix     = local.deployment.name_suffix

  names = {
    environment   = var.environment
    suffix        = local.suffix
    buckets       = { for k, b in local.topology.buckets : k => "${b.name}${local.suffix}" }
    topics        = { for t in local.topology.topics : t => "${t}${local.suffix}" }
    subscriptions = { for s in local.topology.subscriptions : s.name => "${s.name}${local.suffix}" }
    functions     = { for f, _ in local.topology.functions : f => "${replace(f, "_", "-")}${local.suffix}" }
    gpu_service   = "${local.topology.services.gpu.name}${local.suffix}"
    # Production's jobs live in (default); a second deployment cannot share it.
    databases = {
      jobs = local.suffix == "" ? "(default)" : "jobs${local.suffix}"
      ops  = "${var.ops_database}${local.suffix}"
    }
    alert_policies = { for a, _ in local.topology.alerts : a => "${a}${local.suffix}" }
    gpu            = local.deployment.gpu
  }
}

output "names" {
  description = "This deployment's name for each bucket, topic, subscription, function, database and alert policy, and its GPU instance."
  value       = local.names
}
