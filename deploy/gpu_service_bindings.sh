#!/usr/bin/env bash
# Who may call the GPU service, and as what: the roles cloudbuild.yaml's
# deploy-staging-service and bootstrap-service grant on the service they deploy (one copy
# for both; each Cloud Build step is its own container, and the repository is in every
# step's /workspace). The accounts come from the environment: staging's from
# .deploy/staging/names.sh (deploy/environments.py), production's set by its step.
#
#   PUSHER_ACCOUNT=... OPS_ACCOUNT=... DEPLOYER_ACCOUNT=... bash deploy/gpu_service_bindings.sh SERVICE REGION PROJECT
set -euo pipefail
service=$1 region=$2 project=$3
bind() {
  gcloud run services add-iam-policy-binding "$service" --region="$region" \
    --member="serviceAccount:$1@$project.iam.gserviceaccount.com" --role="$2" --quiet >/dev/null
}
bind "$PUSHER_ACCOUNT" roles/run.invoker     # the segment subscription's pushes
bind "$OPS_ACCOUNT" roles/run.invoker        # pre-warm pings /warmup
bind "$OPS_ACCOUNT" roles/run.developer      # pre-warm scaling, rollback traffic
bind "$DEPLOYER_ACCOUNT" roles/run.invoker   # production: the canary's smoke test via the tag URL; staging: the validation suite
