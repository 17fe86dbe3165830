# State addresses of grants that moved into infra/access (one resource per entry):
# `terraform apply` renames them instead of removing and re-adding the bindings.

moved {
  from = google_storage_bucket_iam_member.runtime["pipeline-uploads-read"]
  to   = google_storage_bucket_iam_member.access["pipeline-uploads-read"]
}

moved {
  from = google_storage_bucket_iam_member.runtime["gpu-uploads-read"]
  to   = google_storage_bucket_iam_member.access["gpu-uploads-read"]
}

moved {
  from = google_storage_bucket_iam_member.runtime["gpu-results-create"]
  to   = google_storage_bucket_iam_member.access["gpu-results-create"]
}

moved {
  from = google_storage_bucket_iam_member.runtime["gpu-results-read"]
  to   = google_storage_bucket_iam_member.access["gpu-results-read"]
}

moved {
  from = google_pubsub_topic_iam_member.runtime["pipeline-segment"]
  to   = google_pubsub_topic_iam_member.access["pipeline-segment"]
}

moved {
  from = google_pubsub_topic_iam_member.runtime["gpu-job-events"]
  to   = google_pubsub_topic_iam_member.access["gpu-job-events"]
}

moved {
  from = google_project_iam_member.runtime["deployer-run"]
  to   = google_project_iam_member.access["deployer-run"]
}

moved {
  from = google_project_iam_member.runtime["deployer-functions"]
  to   = google_project_iam_member.access["deployer-functions"]
}

moved {
  from = google_project_iam_member.runtime["deployer-scheduler"]
  to   = google_project_iam_member.access["deployer-scheduler"]
}

moved {
  from = google_project_iam_member.runtime["deployer-logs"]
  to   = google_project_iam_member.access["deployer-logs"]
}

moved {
  from = google_project_iam_member.runtime["deployer-metrics"]
  to   = google_project_iam_member.access["deployer-metrics"]
}

moved {
  from = google_project_iam_member.builder_builds
  to   = google_project_iam_member.access["builder-builds"]
}

moved {
  from = google_project_iam_member.deployer_reads_build_source
  to   = google_project_iam_member.access["deployer-build-source"]
}

moved {
  from = google_service_account_iam_member.ops_acts_as_gpu
  to   = google_service_account_iam_member.access["ops-acts-as-gpu"]
}

moved {
  from = google_service_account_iam_member.deployer_acts_as["fn-pipeline"]
  to   = google_service_account_iam_member.access["deployer-acts-as-fn-pipeline"]
}

moved {
  from = google_service_account_iam_member.deployer_acts_as["fn-ops"]
  to   = google_service_account_iam_member.access["deployer-acts-as-fn-ops"]
}

moved {
  from = google_service_account_iam_member.deployer_acts_as["fn-builder"]
  to   = google_service_account_iam_member.access["deployer-acts-as-fn-builder"]
}

moved {
  from = google_service_account_iam_member.deployer_acts_as["gpu-service"]
  to   = google_service_account_iam_member.access["deployer-acts-as-gpu-service"]
}

moved {
  from = google_service_account_iam_member.deployer_acts_as["scheduler-invoker"]
  to   = google_service_account_iam_member.access["deployer-acts-as-scheduler-invoker"]
}

moved {
  from = google_artifact_registry_repository_iam_member.deployer_push
  to   = google_artifact_registry_repository_iam_member.access["deployer-push"]
}

moved {
  from = google_secret_manager_secret_iam_member.ops_reads["rollback-webhook-token"]
  to   = google_secret_manager_secret_iam_member.access["ops-reads-rollback-webhook-token"]
}

moved {
  from = google_secret_manager_secret_iam_member.ops_reads["slack-webhook-url"]
  to   = google_secret_manager_secret_iam_member.access["ops-reads-slack-webhook-url"]
}

# The repository and the budget (count: production's instance only) need no block: when
# count is added to a resource, Terraform moves its object to instance [0] itself
# (checked with Terraform 1.11: plan "has moved to [0]", 0 to destroy):
# https://developer.hashicorp.com/terraform/language/modules/develop/refactoring
