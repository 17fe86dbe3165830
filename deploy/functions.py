"""Deploy every function topology.yaml lists, as Cloud Functions (2nd gen).

Writes a shell script of `gcloud` commands (the build runs it in a Cloud SDK step);
`--dry-run` prints it. Pub/Sub functions are deployed with an HTTP trigger and
receive the push subscriptions that topology.yaml declares and Terraform makes
(one source of truth; no Eventarc triggers), so only the pubsub-pusher account may
invoke them.

    python -m deploy.functions --project P --region R --project-number N --out .deploy/functions.sh
    python -m deploy.functions --environment staging ... --out .deploy/staging/functions.sh

`--environment` picks a deployment of topology.yaml `environments:`: its functions,
accounts, topics, buckets, databases and secrets carry its suffix (deploy/environments.py),
so staging's functions run beside production's in one project and reach only staging's.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import topology
from deploy import environments
from settings import Settings

RUNTIME = "python311"
# Which service account runs each function: infra/permissions.yaml, the declaration
# tests/release/test_permissions.py proves against the code and infra/.
PERMISSIONS = Path(__file__).resolve().parents[1] / "infra" / "permissions.yaml"
SERVICE_YAML = Path(__file__).resolve().parent / "service.yaml"
# Env var -> Secret Manager secret (names only; infra/secrets.tf makes them).
SECRETS = {
    # Cloud Monitoring's channel uses basic auth (user below, password = the token);
    # the function refuses a token in the URL (request logs keep URLs).
    "rollback": {"ROLLBACK_WEBHOOK_PASSWORD": "rollback-webhook-token", "SLACK_WEBHOOK_URL": "slack-webhook-url"},
    "budget_guard": {"SLACK_WEBHOOK_URL": "slack-webhook-url"},
    # Shopper sessions are signed with it (domain/sessions.py); both public functions verify them.
    "upload_url": {"SESSION_SIGNING_KEY": "session-signing-key"},
    "job_status": {"SESSION_SIGNING_KEY": "session-signing-key"},
    "warm": {"SESSION_SIGNING_KEY": "session-signing-key"},
    "variant": {"SESSION_SIGNING_KEY": "session-signing-key"},
    "health_check": {"SLACK_WEBHOOK_URL": "slack-webhook-url"},
}
# The store's page calls these; behind the load balancer (infra/edge.tf) they take traffic
# only through it and its Cloud Armor rule: https://docs.cloud.google.com/run/docs/securing/ingress
EDGE_FUNCTIONS = {"upload_url", "job_status", "warm", "variant"}
# Intake's memory is a setting (INTAKE_MEMORY_MIB): its check's decode budget is derived from it.
DECODE_BUDGET_SETTINGS = ("intake_memory_mib", "render_memory_mib", "variant_memory_mib", "gpu_memory_mib",
                          "gpu_reserved_mib", "max_pending", "output_max_side", "decode_cpu_seconds")
MEMORY = {"upload_url": "256Mi", "job_status": "256Mi", "warm": "256Mi",
          "intake": f"{Settings().intake_memory_mib}Mi", "render": f"{Settings().render_memory_mib}Mi",
          # The variant re-decodes the photo and renders it (numpy, OpenCV): its decode budget is
          # half of this (settings.variant_decode_budget; tests/imaging/test_variant_memory.py).
          "variant": f"{Settings().variant_memory_mib}Mi"}
# Functions whose signed URLs act as their own account rather than fn-public's (the
# SIGNING_SERVICE_ACCOUNT every function gets): each gets its own env file with it.
SIGNS_AS_ITSELF = {"variant"}
# Each Pub/Sub function's timeout is at most its push subscription's ack deadline
# (topology.yaml; tests/unit/test_ack_deadlines.py), else Pub/Sub redelivers while
# the first attempt still runs. Intake keeps the 60 s default: its checks are bounded
# to a few seconds of decode work, so 60 s is ample, and matching the ack deadline
# (rather than raising it to 120 s) keeps a stuck attempt from delaying the retry.
# prewarm/rollback/budget_guard wait on Cloud Run operations (up to 300 s).
# health_check may wait for the GPU service to start to read its /health.
# render cuts out up to 4096 px on 1 vCPU, well inside its 120 s (its subscription's ack deadline).
TIMEOUT = {"render": "120s", "prewarm": "300s", "rollback": "300s", "budget_guard": "300s", "health_check": "300s"}


@dataclass
class Deploy:
    target: str  # main.py target
    name: str  # deployed name: hyphens, the name of the function's Cloud Run service (Environment.function)
    service_account: str
    memory: str
    timeout: str
    public: bool
    invokers: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    ingress: str = "all"
    env: dict[str, str] = field(default_factory=dict)  # over the shared env file (its own file)


def service_engine(path: Path = SERVICE_YAML) -> str:
    """The ENGINE the GPU service's container runs (deploy/service.yaml)."""
    spec = yaml.safe_load(path.read_text())["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", "") for c in spec for e in c.get("env", [])}
    return env.get("ENGINE", Settings().engine)


def accounts(path: Path | None = None) -> dict[str, str]:
    """main.py target -> the account id infra/permissions.yaml runs it as."""
    entries = yaml.safe_load((path or PERMISSIONS).read_text())["entry_points"]
    return {e["runs"].split(":", 1)[1]: e["account"] for e in entries.values()
            if str(e.get("runs", "")).startswith("main:")}


# Google's external Application Load Balancer appends "<immediate client IP>, <global forwarding
# rule external IP>" to X-Forwarded-For, so the caller is the second entry from the end; with one
# hop every shopper behind it would share the load balancer's address, and its rate limit.
# https://cloud.google.com/load-balancing/docs/https#x-forwarded-for_header
BEHIND_LB_HOPS = "2"


def plan(topo: dict, project: str, behind_load_balancer: bool = False,
         environment: str = environments.PRODUCTION) -> list[Deploy]:
    """One Deploy per function of the topology, with who may invoke it."""
    env = environments.of(topo, environment)
    sa = lambda account: f"{env.account(account)}@{project}.iam.gserviceaccount.com"  # noqa: E731
    runs_as = accounts()
    if missing := sorted(set(topo["functions"]) - set(runs_as)):
        raise ValueError(f"no account for {', '.join(missing)} in {PERMISSIONS.name}: declare the entry point")
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
            target=target, name=env.function(target),
            service_account=sa(runs_as[target]),
            memory=MEMORY.get(target, "512Mi"), timeout=TIMEOUT.get(target, "60s"),
            public=public, invokers=invokers,
            secrets={var: env.secret(name) for var, name in SECRETS.get(target, {}).items()},
            ingress="internal-and-gclb" if behind_load_balancer and target in EDGE_FUNCTIONS else "all",
            env={**({"SIGNING_SERVICE_ACCOUNT": sa(runs_as[target])} if target in SIGNS_AS_ITSELF else {}),
                 **({"TRUSTED_PROXY_HOPS": BEHIND_LB_HOPS} if behind_load_balancer and target in EDGE_FUNCTIONS
                    else {})}))
    return deploys


def environment(topo: dict, project: str, region: str, project_number: str,
                name: str = environments.PRODUCTION) -> dict[str, str]:
    """Settings (settings.py) every function of the deployment `name` gets."""
    env = environments.of(topo, name)
    # The intake check refuses what the deployment's GPU decode would (its memory share).
    deployed = Settings(gpu_memory_mib=int(env.gpu_values()["GPU_MEMORY_MIB"]))
    return {
        "GOOGLE_CLOUD_PROJECT": project,
        "REGION": region,
        "UPLOADS_BUCKET": env.bucket("uploads"),
        "RESULTS_BUCKET": env.bucket("results"),
        "CACHE_BUCKET": env.bucket("cache"),
        "SEGMENT_TOPIC": env.topic(Settings().segment_topic),
        "JOB_EVENTS_TOPIC": env.topic(Settings().job_events_topic),
        "WARM_TOPIC": env.topic(Settings().warm_topic),
        "RENDER_TOPIC": env.topic(Settings().render_topic),
        "JOBS_DATABASE": env.jobs_database,
        "OPS_DATABASE": env.ops_database(Settings().ops_database),
        # The rollback function acts on this deployment's alert policies only (infra/monitoring.tf).
        "ROLLBACK_POLICIES": ",".join(env.alert_policy(n) for n in sorted(Settings().rollback_policy_names)),
        # Intake keys cache lookups on the GPU service's engine and checkpoint (domain/cache.py):
        # the engine deploy/service.yaml runs, and ENGINE_CHECKSUM, the SHA-256 of the checkpoint
        # baked into the image, from the build. Without it lookups are off (every job a miss).
        "ENGINE": service_engine(),
        "ENGINE_CHECKSUM": os.environ.get("ENGINE_CHECKSUM", ""),
        "STORE_ORIGINS": topo["buckets"]["uploads"]["cors"]["origins"],
        # The public functions sign URLs as themselves (signBlob on their own account).
        "SIGNING_SERVICE_ACCOUNT": f"{env.account(accounts()['upload_url'])}@{project}.iam.gserviceaccount.com",
        "GPU_SERVICE": env.gpu_service,
        "GPU_SERVICE_URL": env.gpu_service_url(project_number=project_number, region=region),
        # The rollback webhook's basic-auth user (infra/monitoring.tf); not a secret.
        "ROLLBACK_WEBHOOK_USER": "cloud-monitoring",
        # The per-IP rate limits key on the last X-Forwarded-For entry, taken to be the caller's
        # address as Google's front end appended it. No Google page seen here documents that for a
        # function reached directly: confirm it on a deployment. Behind the load balancer the
        # public functions take the entry before the last instead (plan(), BEHIND_LB_HOPS).
        "TRUSTED_PROXY_HOPS": "1",
        # The memory intake is deployed with (MEMORY above): its check budgets from it. Intake also
        # refuses what the GPU decode would, so it needs the service's numbers (deploy/service.yaml).
        **{setting.upper(): str(getattr(deployed, setting)) for setting in DECODE_BUDGET_SETTINGS},
        "LOG_LEVEL": "INFO",
    }


def env_file_of(deploy: Deploy, env_file: str) -> str:
    """The shared env file, or this function's own beside it (functions.variant.env.yaml) when it has overrides.
    A file sets the function's whole environment, so an override is a whole file, not a flag beside it:
    https://cloud.google.com/functions/docs/configuring/env-var"""
    if not deploy.env:
        return env_file
    path = Path(env_file)
    return str(path.with_name(f"{path.name.split('.')[0]}.{deploy.target}.{'.'.join(path.name.split('.')[1:])}"))


def commands(deploys: list[Deploy], *, project: str, region: str, env_file: str) -> list[list[str]]:
    # fn-builder is one per project (deploy/environments.py SHARED_ACCOUNTS): every deployment builds as it.
    out = []
    for d in deploys:
        cmd = ["gcloud", "functions", "deploy", d.name, "--gen2", f"--project={project}", f"--region={region}",
               f"--runtime={RUNTIME}", "--source=.", f"--entry-point={d.target}", "--trigger-http",
               "--allow-unauthenticated" if d.public else "--no-allow-unauthenticated",
               f"--service-account={d.service_account}",
               f"--build-service-account=projects/{project}/serviceAccounts/fn-builder@{project}.iam.gserviceaccount.com",
               f"--memory={d.memory}", f"--timeout={d.timeout}", f"--env-vars-file={env_file_of(d, env_file)}",
               f"--ingress-settings={d.ingress}", "--quiet"]
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
    parser.add_argument("--environment", default=environments.PRODUCTION,
                        help="a deployment of topology.yaml `environments:` (default: production)")
    parser.add_argument("--dry-run", action="store_true", help="print the script instead of writing it")
    parser.add_argument("--behind-load-balancer", action="store_true",
                        help="the public functions take traffic only through the load balancer (infra/edge.tf)")
    args = parser.parse_args(argv)

    topo = topology.load(env={**os.environ, "GOOGLE_CLOUD_PROJECT": args.project})
    env_file = args.out.parent / "functions.env.yaml"
    deploys = plan(topo, args.project, args.behind_load_balancer, args.environment)
    text = script(commands(deploys, project=args.project, region=args.region, env_file=str(env_file)))
    if args.dry_run:
        sys.stdout.write(text)
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shared = environment(topo, args.project, args.region, args.project_number, args.environment)
    env_file.write_text(yaml.safe_dump(shared))
    for d in deploys:
        if d.env:
            Path(env_file_of(d, str(env_file))).write_text(yaml.safe_dump({**shared, **d.env}))
    args.out.write_text(text)
    print(args.out)


if __name__ == "__main__":
    main()
