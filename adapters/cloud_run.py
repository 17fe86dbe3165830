"""Cloud Run services: traffic, scaling and new revisions, through the Admin API v2.

Every change names only the fields it changes (an update mask) and waits for the
long-running operation, so the caller knows the change is live when it returns.
Revisions are named by their short name (`svc-00002-abc`), as traffic entries take them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass


@dataclass(frozen=True)
class TrafficEntry:
    revision: str
    percent: int
    tag: str = ""


@dataclass(frozen=True)
class Scaling:
    min_instances: int
    max_instances: int


class CloudRun(abc.ABC):
    @abc.abstractmethod
    def traffic(self, service: str) -> list[TrafficEntry]:
        """The split as concrete revisions ("latest" resolved to its revision)."""

    @abc.abstractmethod
    def set_traffic(self, service: str, entries: list[TrafficEntry]) -> None: ...

    @abc.abstractmethod
    def scaling(self, service: str) -> Scaling: ...

    @abc.abstractmethod
    def set_scaling(self, service: str, scaling: Scaling) -> None:
        """Service-level min/max instances: no new revision, traffic untouched."""

    @abc.abstractmethod
    def deploy(self, service: str, *, revision: str, image: str, env: dict[str, str],
               traffic: list[TrafficEntry], memory: str = "") -> None:
        """A new revision from the current template with `image` and `env` changes (and the
        serving container's memory limit, e.g. "16Gi", when given), and `traffic`."""

    @abc.abstractmethod
    def tag_url(self, service: str, tag: str) -> str: ...


def short_name(revision: str) -> str:
    return revision.rsplit("/", 1)[-1]


class RunV2CloudRun(CloudRun):
    def __init__(self, client, project: str, region: str, timeout: float = 300.0):
        self._client = client
        self._parent = f"projects/{project}/locations/{region}"
        self._timeout = timeout

    def _name(self, service: str) -> str:
        return f"{self._parent}/services/{service}"

    def _update(self, service, paths: list[str]):
        from google.protobuf import field_mask_pb2

        operation = self._client.update_service(
            request={"service": service, "update_mask": field_mask_pb2.FieldMask(paths=paths)})
        return operation.result(timeout=self._timeout)

    def _get(self, service: str):
        return self._client.get_service(name=self._name(service))

    def traffic(self, service: str) -> list[TrafficEntry]:
        from google.cloud import run_v2

        current = self._get(service)
        latest = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
        return [TrafficEntry(short_name(current.latest_ready_revision) if t.type_ == latest else t.revision,
                             t.percent, t.tag) for t in current.traffic]

    def _targets(self, entries: list[TrafficEntry]):
        from google.cloud import run_v2

        kind = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
        return [run_v2.TrafficTarget(type_=kind, revision=e.revision, percent=e.percent, tag=e.tag) for e in entries]

    def set_traffic(self, service: str, entries: list[TrafficEntry]) -> None:
        from google.cloud import run_v2

        self._update(run_v2.Service(name=self._name(service), traffic=self._targets(entries)), ["traffic"])

    def scaling(self, service: str) -> Scaling:
        current = self._get(service).scaling
        return Scaling(current.min_instance_count, current.max_instance_count)

    def set_scaling(self, service: str, scaling: Scaling) -> None:
        from google.cloud import run_v2

        body = run_v2.Service(name=self._name(service), scaling=run_v2.ServiceScaling(
            min_instance_count=scaling.min_instances, max_instance_count=scaling.max_instances))
        self._update(body, ["scaling.min_instance_count", "scaling.max_instance_count"])

    def deploy(self, service: str, *, revision: str, image: str, env: dict[str, str],
               traffic: list[TrafficEntry], memory: str = "") -> None:
        from google.cloud import run_v2

        template = self._get(service).template
        template.revision = revision
        container = template.containers[0]
        container.image = image
        merged = {e.name: e for e in container.env}
        merged.update({name: run_v2.EnvVar(name=name, value=value) for name, value in env.items()})
        container.env = list(merged.values())
        if memory:
            container.resources.limits["memory"] = memory
        body = run_v2.Service(name=self._name(service), template=template, traffic=self._targets(traffic))
        self._update(body, ["template", "traffic"])

    def tag_url(self, service: str, tag: str) -> str:
        for status in self._get(service).traffic_statuses:
            if status.tag == tag:
                return status.uri
        raise LookupError(f"service {service} has no tag {tag!r}")
