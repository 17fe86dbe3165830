"""The names and GPU instance of one deployment (topology.yaml `environments:`).

One rule, applied here for the release (deploy.functions, deploy.placeholders) and in
infra/topology/names.tf for Terraform (tests/release/test_environments.py keeps them equal):
every name a deployment makes carries its `name_suffix`; the release's own accounts
(deployer, fn-builder) are one per project and carry none.
"""

from __future__ import annotations

from dataclasses import dataclass

PRODUCTION = "production"
# Release machinery, made once per project by the production instance (infra/access).
SHARED_ACCOUNTS = frozenset({"deployer", "fn-builder"})
# The GPU service's metrics collector (deploy/service.yaml, container `collector`).
COLLECTOR_CPU = 1
COLLECTOR_MEMORY_MIB = 1024
DNS_SEGMENT_MAX = 63  # a run.app URL's service-and-project-number label


@dataclass(frozen=True)
class Environment:
    name: str
    suffix: str
    topology: dict

    @property
    def gpu(self) -> dict:
        return self.topology["environments"][self.name]["gpu"]

    def bucket(self, key: str) -> str:
        return self.topology["buckets"][key]["name"] + self.suffix

    def topic(self, name: str) -> str:
        return name + self.suffix

    def function(self, target: str) -> str:
        # A function's name may hold underscores, but the Cloud Run service made for it
        # has them replaced by hyphens
        # (https://cloud.google.com/functions/docs/deploying): deploying the hyphenated
        # name keeps one name for both (URLs, IAM bindings, log filters).
        return target.replace("_", "-") + self.suffix

    @property
    def gpu_service(self) -> str:
        return self.topology["services"]["gpu"]["name"] + self.suffix

    def gpu_service_url(self, *, project_number: str, region: str) -> str:
        # Cloud Run's deterministic URL, known before the service exists (infra/topology.tf
        # writes the same formula for Terraform, which cannot call this). It exists only
        # while its DNS segment (service name and project number) is 63 characters or less:
        # https://cloud.google.com/run/docs/triggering/https-request#deterministic
        segment = f"{self.gpu_service}-{project_number}"
        if len(segment) > DNS_SEGMENT_MAX:
            raise ValueError(f"{segment!r} is {len(segment)} characters: Cloud Run gives no deterministic URL over "
                             f"{DNS_SEGMENT_MAX}, so the GPU service's URL cannot be known before it exists")
        return f"https://{segment}.{region}.run.app"

    def account(self, account_id: str) -> str:
        return account_id if account_id in SHARED_ACCOUNTS else account_id + self.suffix

    def secret(self, name: str) -> str:
        return name + self.suffix

    @property
    def jobs_database(self) -> str:
        # Production's jobs live in (default); a second deployment cannot share it.
        return "(default)" if not self.suffix else f"jobs{self.suffix}"

    def ops_database(self, base: str) -> str:
        return base + self.suffix

    def alert_policy(self, name: str) -> str:
        return name + self.suffix

    def gpu_values(self) -> dict[str, str]:
        """deploy/service.yaml's placeholders for this deployment's GPU instance."""
        gpu = self.gpu
        return {
            "GPU_SERVICE": self.gpu_service,
            "GPU_SERVICE_ACCOUNT": self.account("gpu-service"),
            "GPU_TYPE": gpu["type"],
            "GPU_CPU": str(gpu["cpu"] - COLLECTOR_CPU),
            "GPU_MEMORY_MIB": str(gpu["memory_gib"] * 1024 - COLLECTOR_MEMORY_MIB),
            "GPU_MIN_INSTANCES": str(gpu["min_instances"]),
            "GPU_MAX_INSTANCES": str(gpu["max_instances"]),
            "UPLOADS_BUCKET": self.bucket("uploads"),
            "RESULTS_BUCKET": self.bucket("results"),
            "CACHE_BUCKET": self.bucket("cache"),
            "JOB_EVENTS_TOPIC": self.topic("job-events"),
            "JOBS_DATABASE": self.jobs_database,
        }


def of(topology: dict, name: str = PRODUCTION) -> Environment:
    declared = topology.get("environments", {})
    if name not in declared:
        raise ValueError(f"unknown environment {name!r}: topology.yaml declares {', '.join(sorted(declared))}")
    return Environment(name=name, suffix=declared[name]["name_suffix"] or "", topology=topology)


def shell_values(env: Environment, *, project: str, region: str, project_number: str) -> dict[str, str]:
    """What the release's shell steps need of a deployment (cloudbuild.yaml sources it),
    and the public endpoints the validation suite reads (validation/targets.py)."""
    functions = f"https://{region}-{project}.cloudfunctions.net"
    gpu_url = env.gpu_service_url(project_number=project_number, region=region)
    origins = [o.strip() for o in env.topology["buckets"]["uploads"]["cors"]["origins"].split(",") if o.strip()]
    return {
        "GPU_SERVICE": env.gpu_service,
        "GPU_SERVICE_URL": gpu_url,
        "PUSHER_ACCOUNT": env.account("pubsub-pusher"),
        "OPS_ACCOUNT": env.account("fn-ops"),
        "DEPLOYER_ACCOUNT": env.account("deployer"),
        "VALIDATION_UPLOAD_URL": f"{functions}/{env.function('upload_url')}",
        "VALIDATION_JOB_STATUS_URL": f"{functions}/{env.function('job_status')}",
        "VALIDATION_GPU_URL": gpu_url,
        "VALIDATION_STORE_ORIGIN": origins[0] if origins else "",
    }


def main(argv: list[str] | None = None) -> None:
    import argparse
    import os
    import shlex
    from pathlib import Path

    import topology

    parser = argparse.ArgumentParser(description="Write a deployment's names as shell assignments.")
    parser.add_argument("environment")
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--project-number", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    env = of(topology.load(env={**os.environ, "GOOGLE_CLOUD_PROJECT": args.project}), args.environment)
    values = shell_values(env, project=args.project, region=args.region, project_number=args.project_number)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items()))
    print(args.out)


if __name__ == "__main__":
    main()
