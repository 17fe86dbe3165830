"""The lease and deadline settings fit the deployed GPU service and its subscription."""

from pathlib import Path

import topology
from deploy.placeholders import fill
from settings import Settings

SERVICE = Path(__file__).resolve().parents[2] / "deploy" / "service.yaml"


def test_work_stops_before_cloud_run_drops_the_request_and_pubsub_redelivers():
    settings = Settings()
    timeout = fill(SERVICE, env={})["spec"]["template"]["spec"]["timeoutSeconds"]
    [segment] = [s for s in topology.load()["subscriptions"] if s["name"] == "segment"]
    assert settings.job_deadline_seconds < min(int(timeout), int(segment["ack_deadline_seconds"]))


def test_the_lease_is_renewed_well_before_it_runs_out():
    assert Settings().lease_renew_interval == 40  # a third of the default 120 s
    assert Settings(lease_seconds=4).lease_renew_interval < 4 / 2
    assert Settings(lease_seconds=60, lease_renew_seconds=5).lease_renew_interval == 5


def test_a_renewal_interval_longer_than_the_lease_is_refused_with_a_clear_error():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="LEASE_RENEW_SECONDS"):
        Settings(lease_seconds=10, lease_renew_seconds=30)
