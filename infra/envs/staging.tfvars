# Staging: the same code as production with fewer resources (topology.yaml
# `environments.staging`: an L4 with 16 GiB, min 0 / max 1), in its own state, and
# every name with -staging (buckets acme-pet-uploads-staging, topics
# segment-requests-staging, databases jobs-staging and ops-staging, accounts
# fn-public-staging...). Apply production first: it owns the project's shared
# resources (image repository, deployer, fn-builder, budget).
#   terraform -chdir=infra init -reconfigure -backend-config="bucket=PROJECT-tfstate" -backend-config="prefix=pet-cutout-staging"
#   terraform -chdir=infra apply -var-file=project.tfvars -var-file=envs/staging.tfvars
# topology_env's bucket names are production's base names: the suffix is added here.
environment = "staging"
# Alerts of a replica page nobody; set alert_email to hear about them.
alert_email              = ""
alert_slack_channel      = ""
pager_enabled            = false
rollback_webhook_enabled = false
edge_domain              = ""
