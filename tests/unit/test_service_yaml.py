"""deploy/service.yaml: the GPU Cloud Run service as Cloud Run requires it and the topology names it."""

from __future__ import annotations

from pathlib import Path

import pytest

import topology
from deploy.placeholders import fill

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "deploy" / "service.yaml"


def _gib(value: str) -> float:
    return float(value.removesuffix("Gi")) if value.endswith("Gi") else float(value.removesuffix("Mi")) / 1024


@pytest.fixture
def service() -> dict:
    return fill(SERVICE, env={})


def _container(service: dict, name: str = "gpu") -> dict:
    [container] = [c for c in service["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return container


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def test_one_l4_with_the_cpu_and_memory_gpu_services_need(service):
    template = service["spec"]["template"]
    limits = _container(service)["resources"]["limits"]
    assert template["spec"]["nodeSelector"] == {"run.googleapis.com/accelerator": "nvidia-l4"}
    assert limits["nvidia.com/gpu"] == "1"
    assert float(limits["cpu"]) >= 4 and _gib(limits["memory"]) >= 16
    assert template["metadata"]["annotations"]["run.googleapis.com/cpu-throttling"] == "false"


def test_concurrency_follows_the_batcher():
    for env in ({}, {"MAX_PENDING": "12", "BATCH_MAX_SIZE": "6"}):
        service = fill(SERVICE, env=env)
        concurrency = service["spec"]["template"]["spec"]["containerConcurrency"]
        values = _env(_container(service))
        assert concurrency == int(values["MAX_PENDING"]) == int(env.get("MAX_PENDING", 16))
        assert concurrency >= int(values["BATCH_MAX_SIZE"]) == int(env.get("BATCH_MAX_SIZE", 8))


def test_startup_probe_is_the_services_ready_route(service):
    probe = _container(service)["startupProbe"]
    assert probe["httpGet"]["path"] == topology.load(env={})["services"]["gpu"]["ready_path"] == "/ready"
    assert probe["periodSeconds"] * probe["failureThreshold"] <= 240  # Cloud Run's limit


def test_names_and_timeout_agree_with_topology():
    env = {"GPU_SERVICE": "cutout", "GOOGLE_CLOUD_PROJECT": "acme", "UPLOADS_BUCKET": "u", "RESULTS_BUCKET": "r"}
    service, topo = fill(SERVICE, env=env), topology.load(env=env)
    assert service["metadata"]["name"] == topo["services"]["gpu"]["name"] == "cutout"
    values = _env(_container(service))
    assert (values["UPLOADS_BUCKET"], values["RESULTS_BUCKET"]) == (topo["buckets"]["uploads"]["name"],
                                                                   topo["buckets"]["results"]["name"])
    assert service["spec"]["template"]["spec"]["serviceAccountName"] == "gpu-service@acme.iam.gserviceaccount.com"
    segment = next(s for s in topo["subscriptions"] if s["push"].get("service") == "gpu")
    assert service["spec"]["template"]["spec"]["timeoutSeconds"] >= segment["ack_deadline_seconds"]


def test_scales_to_zero_without_zonal_redundancy(service):
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/minScale"] == "0"
    assert int(annotations["autoscaling.knative.dev/maxScale"]) >= 1
    assert annotations["run.googleapis.com/gpu-zonal-redundancy-disabled"] == "true"


def test_engine_settings_match_the_image():
    values = _env(_container(fill(SERVICE, env={})))
    dockerfile = (ROOT / "gpu_service" / "Dockerfile").read_text()
    for name in ("ENGINE", "INSPYRENET_CKPT", "INSPYRENET_MODE", "ENGINE_DEVICE", "BATCH_MAX_SIZE", "MAX_PENDING"):
        assert f"{name}={values[name]}" in dockerfile


def test_the_decode_budget_reads_the_memory_and_concurrency_deployed(service):
    from settings import Settings

    limits = _container(service)["resources"]["limits"]
    env = _env(_container(service))
    deployed = Settings(gpu_memory_mib=int(env["GPU_MEMORY_MIB"]), max_pending=int(env["MAX_PENDING"]))
    assert _gib(limits["memory"]) * 1024 == deployed.gpu_memory_mib == Settings().gpu_memory_mib
    assert service["spec"]["template"]["spec"]["containerConcurrency"] == deployed.max_pending
    share = (deployed.gpu_memory_mib - deployed.gpu_reserved_mib) * 1024 * 1024 // deployed.max_pending
    assert deployed.gpu_decode_budget.memory_bytes == share
    bigger = fill(SERVICE, env={"GPU_MEMORY_MIB": "49152"})
    assert _gib(_container(bigger)["resources"]["limits"]["memory"]) == 48


def test_metrics_reach_cloud_monitoring_through_the_prometheus_sidecar(service):
    """The collector's default RunMonitoring scrapes 0.0.0.0:8080/metrics: the gpu container's
    port and the route gpu_service/app.py serves, and only after the gpu container is up."""
    import json

    from gpu_service.app import create_app
    from gpu_service.runtime import Runtime
    from settings import Settings

    template = service["spec"]["template"]
    gpu, collector = _container(service), _container(service, "collector")
    assert collector["image"].startswith(
        "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:")
    assert "ports" not in collector  # only the ingress container listens for requests
    assert json.loads(template["metadata"]["annotations"]["run.googleapis.com/container-dependencies"]) == {
        "collector": ["gpu"]}
    assert [p["containerPort"] for p in gpu["ports"]] == [8080]
    assert template["metadata"]["annotations"]["run.googleapis.com/cpu-throttling"] == "false"
    routes = set(create_app(Runtime(Settings()), load_on_start=False).openapi()["paths"])
    assert "/metrics" in routes
    # An instance's containers share its CPU and memory: 8 CPU and 32 GiB at most with an L4.
    containers = template["spec"]["containers"]
    assert sum(float(c["resources"]["limits"]["cpu"]) for c in containers) <= 8
    assert sum(_gib(c["resources"]["limits"]["memory"]) for c in containers) <= 32


def test_the_sidecar_image_can_be_pinned_per_release():
    pinned = "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:9.9.9"
    service = fill(SERVICE, env={"METRICS_SIDECAR_IMAGE": pinned})
    assert _container(service, "collector")["image"] == pinned
