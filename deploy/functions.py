"""Deploy every function topology.yaml lists, as Cloud Functions (2nd gen).

Writes a shell script of `gcloud` commands (the build runs it in a Cloud SDK step);
`--dry-run` prints it. Pub/Sub functions are deployed with an HTTP trigger and
receive the push subscriptions that topology.yaml declares and Terraform makes
(one source of truth; no Eventarc triggers), so only the pubsub-pusher account may
invoke them.

    python -m deploy.functions --project P --region R --project-number N --out .deploy/functions.sh
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from local_stack import topology
from settings import Settings

RUNTIME = "python311"
# Functions that act on the GPU service, the budget and the rollback run as fn-ops;
# the rest as fn-pipeline (see infra/iam.tf).
OPS_FUNCTIONS = {"prewarm", "budget_guard", "rollback", "cost_report"}
# Env var -> Secret Manager secret (names only; infra/secrets.tf makes them).
SECRETS = {
    # Cloud Monitoring's channel uses basic auth (user below, password = the token);
    # the same token also works as ?auth_token= for a hand-made test call.
    "rollback": {"ROLLBACK_WEBHOOK_TOKEN": "rollback-webhook-token", "ROLLBACK_WEBHOOK_PASSWORD": "rollback-webhook-token",
                 "SLACK_WEBHOOK_URL": "slack-webhook-url"},
    "budget_guard": {"SLACK_WEBHOOK_URL": "slack-webhook-url"},
}
# Intake's memory is a setting (INTAKE_MEMORY_MIB): its check's decode budget is derived from it.
DECODE_BUDGET_SETTINGS = ("intake_memory_mib", "gpu_memory_mib", "gpu_reserved_mib", "max_pending",
                          "output_max_side", "decode_cpu_seconds")
MEMORY = {"upload_url": "256Mi", "job_status": "256Mi", "intake": f"{Settings().intake_memory_mib}Mi"}
TIMEOUT = {"intake": "120s", "prewarm": "300s", "rollback": "300s"}  # prewarm/rollback wait on Cloud Run operations


@dataclass
class Deploy:
    target: str  # main.py target
    name: str  # deployed name (hyphens: Cloud Run service names allow no underscores)
    service_account: str
    memory: str
    timeout: str
    public: bool
    invokers: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)


def function_name(target: str) -> str:
    return target.replace("_", "-")


def plan(topo: dict, project: str) -> list[Deploy]:
    """One Deploy per function of the topology, with who may invoke it."""
    sa = lambda account: f"{account}@{project}.iam.gserviceaccount.com"  # noqa: E731
    deploys = []
    for target, spec in topo["functions"].items():
        invokers: list[str] = []
        if spec["trigger"] == "pubsub":
            invokers.append(f"serviceAccount:{sa('pubsub-pusher')}")
        elif spec.get("invoker") == "cloud-scheduler":
            invokers.append(f"serviceAccount:{sa('scheduler-invoker')}")
        # Cloud Monitoring webhooks carry no OIDC token: such a function is public
        # and checks its own secret token (the rollback function does).
        public = bool(spec.get("public")) or spec.get("invoker") == "cloud-monitoring"
        deploys.append(Deploy(
            target=target, name=function_name(target),
            service_account=sa("fn-ops" if target in OPS_FUNCTIONS else "fn-pipeline"),
            memory=MEMORY.get(target, "512Mi"), timeout=TIMEOUT.get(target, "60s"),
            public=public, invokers=invokers, secrets=SECRETS.get(target, {})))
    return deploys


def environment(topo: dict, project: str, region: str, project_number: str) -> dict[str, str]:
    """Settings (settings.py) every function gets."""
    gpu = topo["services"]["gpu"]["name"]
    return {
        "GOOGLE_CLOUD_PROJECT": project,
        "REGION": region,
        "UPLOADS_BUCKET": topo["buckets"]["uploads"]["name"],
        "RESULTS_BUCKET": topo["buckets"]["results"]["name"],
        "STORE_ORIGINS": topo["buckets"]["uploads"]["cors"]["origins"],
        "SIGNING_SERVICE_ACCOUNT": f"fn-pipeline@{project}.iam.gserviceaccount.com",
        "GPU_SERVICE": gpu,
        "GPU_SERVICE_URL": f"https://{gpu}-{project_number}.{region}.run.app",
        # The rollback webhook's basic-auth user (infra/monitoring.tf); not a secret.
        "ROLLBACK_WEBHOOK_USER": "cloud-monitoring",
        # Google's front end appends the caller's address to X-Forwarded-For: the rate limits key on it.
        "TRUSTED_PROXY_HOPS": "1",
        # The memory intake is deployed with (MEMORY above): its check budgets from it. Intake also
        # refuses what the GPU decode would, so it needs the service's numbers (deploy/service.yaml).
        **{name.upper(): str(getattr(Settings(), name)) for name in DECODE_BUDGET_SETTINGS},
        "LOG_LEVEL": "INFO",
    }


def commands(deploys: list[Deploy], *, project: str, region: str, env_file: str) -> list[list[str]]:
    out = []
    for d in deploys:
        cmd = ["gcloud", "functions", "deploy", d.name, "--gen2", f"--project={project}", f"--region={region}",
               f"--runtime={RUNTIME}", "--source=.", f"--entry-point={d.target}", "--trigger-http",
               "--allow-unauthenticated" if d.public else "--no-allow-unauthenticated",
               f"--service-account={d.service_account}",
               f"--build-service-account=projects/{project}/serviceAccounts/fn-builder@{project}.iam.gserviceaccount.com",
               f"--memory={d.memory}", f"--timeout={d.timeout}", f"--env-vars-file={env_file}", "--quiet"]
        if d.secrets:
            cmd.append("--set-secrets=" + ",".join(f"{k}={v}:latest" for k, v in sorted(d.secrets.items())))
        out.append(cmd)
        for member in d.invokers:
            out.append(["gcloud", "functions", "add-invoker-policy-binding", d.name, f"--project={project}",
                        f"--region={region}", f"--member={member}", "--quiet"])
    return out


def script(cmds: list[list[str]]) -> str:
    return "#!/usr/bin/env bash\nset -euxo pipefail\n" + "".join(shlex.join(c) + "\n" for c in cmds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Deploy the functions topology.yaml lists.")
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--project-number", required=True)
    parser.add_argument("--out", type=Path, default=Path(".deploy/functions.sh"))
    parser.add_argument("--dry-run", action="store_true", help="print the script instead of writing it")
    args = parser.parse_args(argv)

    topo = topology.load(env={**os.environ, "GOOGLE_CLOUD_PROJECT": args.project})
    env_file = args.out.parent / "functions.env.yaml"
    text = script(commands(plan(topo, args.project), project=args.project, region=args.region,
                           env_file=str(env_file)))
    if args.dry_run:
        sys.stdout.write(text)
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(yaml.safe_dump(environment(topo, args.project, args.region, args.project_number)))
    args.out.write_text(text)
    print(args.out)


if __name__ == "__main__":
    main()
