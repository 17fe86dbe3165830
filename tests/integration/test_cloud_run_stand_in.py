"""The local Cloud Run, driven by the real google-cloud-run client through adapters/cloud_run.py."""

import os
import sys
import time

import pytest
import requests
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from adapters.cloud_run import RunV2CloudRun, Scaling, TrafficEntry
from processes import Child, free_port

pytestmark = pytest.mark.integration
SERVICE = "pet-cutout-gpu"


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    admin, router = free_port(), free_port()
    logs = tmp_path_factory.mktemp("cloud-run")
    # Revisions only need emulator addresses to build their clients; nothing here calls them.
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "PUBSUB_EMULATOR_HOST": "127.0.0.1:9",
           "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9", "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9"}
    child = Child("cloud_run", [sys.executable, "-m", "local_stack.cloud_run", "--service", SERVICE,
                                "--admin-port", str(admin), "--router-port", str(router), "--logs", str(logs)],
                  env, logs / "cloud-run.log", ready_url=f"http://127.0.0.1:{admin}/_local/ready")
    child.start()
    try:
        child.wait_ready(120)
        client = run_v2.ServicesClient(transport="rest", credentials=AnonymousCredentials(),
                                       client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{admin}"))
        yield RunV2CloudRun(client, "demo-proj", "us-central1"), f"http://127.0.0.1:{admin}", \
            f"http://127.0.0.1:{router}", client
    finally:
        child.stop()


def stats(admin_url):
    return requests.get(admin_url + "/_local/stats", params={"seconds": 3600}).json()["revisions"]


def test_first_revision_serves_all_traffic_through_the_router(local_run):
    cloud_run, admin_url, router_url, _ = local_run
    [entry] = cloud_run.traffic(SERVICE)
    assert entry.percent == 100 and entry.revision.startswith(SERVICE + "-00001-")
    assert requests.get(router_url + "/ready").json() == {"ready": True}
    assert stats(admin_url)[entry.revision]["requests"] >= 1


def test_scaling_update_touches_only_scaling(local_run):
    cloud_run, *_ = local_run
    before = cloud_run.traffic(SERVICE)
    cloud_run.set_scaling(SERVICE, Scaling(1, 5))
    assert cloud_run.scaling(SERVICE) == Scaling(1, 5)
    assert cloud_run.traffic(SERVICE) == before


def test_deploy_with_a_tag_and_split_traffic(local_run):
    cloud_run, admin_url, router_url, client = local_run
    [old] = cloud_run.traffic(SERVICE)
    new = f"{SERVICE}-canary-0001"
    started = time.monotonic()
    cloud_run.deploy(SERVICE, revision=new, image="local/gpu:v2", env={"LOG_LEVEL": "WARNING"},
                     traffic=[TrafficEntry(old.revision, 100), TrafficEntry(new, 0, "canary")])
    assert time.monotonic() - started > 0.5  # the operation waited for the new process to load its model
    tag_url = cloud_run.tag_url(SERVICE, "canary")
    assert tag_url == router_url + "/_tag/canary"
    assert requests.get(tag_url + "/ready").status_code == 200
    assert stats(admin_url)[new]["requests"] == 1  # only the tagged request reached it

    revision = run_v2.RevisionsClient(transport="rest", credentials=AnonymousCredentials(),
                                      client_options=client._client_options).get_revision(
        name=f"projects/demo-proj/locations/us-central1/services/{SERVICE}/revisions/{new}")
    assert revision.containers[0].image == "local/gpu:v2"
    assert {e.name: e.value for e in revision.containers[0].env} == {"LOG_LEVEL": "WARNING"}

    cloud_run.set_traffic(SERVICE, [TrafficEntry(old.revision, 90), TrafficEntry(new, 10, "canary")])
    before = stats(admin_url)
    for _ in range(20):
        assert requests.get(router_url + "/healthz").status_code == 200
    after = stats(admin_url)
    assert after[new]["requests"] - before[new]["requests"] == 2  # exactly 10 %
    assert after[old.revision]["requests"] - before[old.revision]["requests"] == 18


def test_invalid_updates_are_refused(local_run):
    cloud_run, *_ = local_run
    before = cloud_run.traffic(SERVICE)
    with pytest.raises(exceptions.BadRequest, match="does not exist"):
        cloud_run.set_traffic(SERVICE, [TrafficEntry(f"{SERVICE}-nope", 100)])
    with pytest.raises(exceptions.BadRequest, match="add up to 100"):
        cloud_run.set_traffic(SERVICE, [TrafficEntry(before[0].revision, 50)])
    assert cloud_run.traffic(SERVICE) == before
