"""The names and GPU instance of one deployment (topology.yaml `environments:`).

One rule, applied here for the release (deploy.functions, deploy.render) and in
infra/topology/names.tf for Terraform (tests/unit/test_environments.py keeps them equal):
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
        # Cloud Run service names allow no underscores.
        return target.replace("_", "-") + self.suffix

    @property
    def gpu_service(self) -> str:
        return self.topology["services"]["gpu"]["name"] + self.suffix

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
            "JOB_EVENTS_TOPIC": self.topic("job-events"),
            "JOBS_DATABASE": self.jobs_database,
        }


def of(topology: dict, name: str = PRODUCTION) -> Environment:
    declared = topology.get("environments", {})
    if name not in declared:
        raise ValueError(f"unknown environment {name!r}: topology.yaml declares {', '.join(sorted(declared))}")
    return Environment(name=name, suffix=declared[name]["name_suffix"] or "", topology=topology)
