"""`scheduler apply` through the real google-cloud-scheduler client against a recording
stand-in of the Cloud Scheduler REST API: idempotent, and it touches only its own jobs."""

from dataclasses import replace

import pytest
from google.cloud import scheduler_v1

from bootstrap import cloud_scheduler_client as new_client
from scheduler.__main__ import main
from scheduler.apply import apply
from scheduler.windows import ScheduledJob, default_schedule
from tests.fake_cloud_scheduler import FakeCloudScheduler

pytestmark = pytest.mark.integration

HEALTH_URL = "https://health-check-abc-uc.a.run.app"
ARGS = {"project": "demo-proj", "region": "us-central1", "target_url": "https://prewarm-abc-uc.a.run.app",
        "service_account": "scheduler@demo-proj.iam.gserviceaccount.com", "target_urls": {"health_check": HEALTH_URL}}
PARENT = "projects/demo-proj/locations/us-central1"
FOREIGN = f"{PARENT}/jobs/nightly-report"


@pytest.fixture
def fake():
    with FakeCloudScheduler() as running:
        # Somebody else's job in the same location: apply must never touch it.
        running.jobs[FOREIGN] = {"name": FOREIGN, "schedule": "0 3 * * *", "timeZone": "UTC",
                                 "httpTarget": {"uri": "https://example.com/report", "httpMethod": "POST"}}
        yield running


def test_second_run_changes_nothing(fake):
    client = new_client(fake.url)
    first = apply(client, default_schedule(), **ARGS)
    assert [c.action for c in first] == ["create"] * len(default_schedule().jobs)
    created = fake.writes()
    assert [r.method for r in created] == ["POST"] * len(first)

    job = client.get_job(name=f"{PARENT}/jobs/pet-cutout-tick")
    assert job.schedule == "*/5 * * * *" and job.time_zone == "America/New_York"
    assert job.http_target.uri == ARGS["target_url"]
    assert job.http_target.http_method == scheduler_v1.HttpMethod.POST
    assert job.http_target.oidc_token.service_account_email == ARGS["service_account"]
    assert job.http_target.oidc_token.audience == ARGS["target_url"]
    assert bytes(job.http_target.body) == b'{"job": "tick"}'
    # The morning health check goes to its own function, 07:00 New York time.
    health = client.get_job(name=f"{PARENT}/jobs/pet-cutout-morning-health")
    assert (health.schedule, health.time_zone) == ("0 7 * * *", "America/New_York")
    assert health.http_target.uri == health.http_target.oidc_token.audience == HEALTH_URL
    assert bytes(health.http_target.body) == b'{"job": "morning-health"}'

    before = len(fake.requests)
    assert apply(client, default_schedule(), **ARGS) == []
    second = fake.requests[before:]
    assert second and all(r.method == "GET" for r in second)  # only the listing
    assert fake.writes() == created
    assert FOREIGN in fake.jobs and fake.jobs[FOREIGN]["schedule"] == "0 3 * * *"


def test_a_changed_schedule_updates_only_that_job_then_settles(fake):
    client = new_client(fake.url)
    schedule = replace(default_schedule(),
                       jobs=(ScheduledJob("tick", "*/5 * * * *", "t"), ScheduledJob("evening", "50 17 * * *")))
    apply(client, schedule, **ARGS)
    changed = replace(schedule,
                      jobs=(ScheduledJob("tick", "*/10 * * * *", "t"), ScheduledJob("evening", "50 17 * * *")))
    before = len(fake.writes())
    changes = apply(client, changed, **ARGS)
    assert [str(c) for c in changes] == ["update pet-cutout-tick (schedule)"]
    patch = fake.writes()[before:]
    assert [(r.method, r.query.get("updateMask")) for r in patch] == [("PATCH", "schedule")]
    assert fake.jobs[f"{PARENT}/jobs/pet-cutout-tick"]["schedule"] == "*/10 * * * *"
    assert apply(client, changed, **ARGS) == []


def test_a_job_dropped_from_the_schedule_is_deleted_but_not_a_foreign_one(fake):
    client = new_client(fake.url)
    two = replace(default_schedule(),
                  jobs=(ScheduledJob("tick", "*/5 * * * *"), ScheduledJob("evening", "50 17 * * *")))
    apply(client, two, **ARGS)
    changes = apply(client, replace(two, jobs=two.jobs[:1]), **ARGS)
    assert [str(c) for c in changes] == ["delete pet-cutout-evening"]
    assert sorted(n.rsplit("/", 1)[-1] for n in fake.jobs) == ["nightly-report", "pet-cutout-tick"]


def test_a_new_target_or_identity_is_an_update(fake):
    client = new_client(fake.url)
    apply(client, default_schedule(), **ARGS)
    other = {**ARGS, "service_account": "other@demo-proj.iam.gserviceaccount.com"}
    changes = apply(client, default_schedule(), **other)
    assert [c.fields for c in changes] == [("http_target",)] * len(default_schedule().jobs)
    assert apply(client, default_schedule(), **other) == []


def test_a_target_without_a_url_is_refused(fake):
    with pytest.raises(ValueError, match="health_check"):
        apply(new_client(fake.url), default_schedule(), **{**ARGS, "target_urls": {}})
    assert fake.writes() == []


def test_dry_run_writes_nothing_and_the_cli_runs_twice(fake, capsys):
    argv = ["apply", "--project", ARGS["project"], "--region", ARGS["region"], "--target-url", ARGS["target_url"],
            "--service-account", ARGS["service_account"], "--endpoint", fake.url,
            "--target", f"health_check={HEALTH_URL}"]
    assert main(argv + ["--dry-run"]) == 0
    assert fake.writes() == []
    assert "would create pet-cutout-tick" in capsys.readouterr().out
    assert main(argv) == 0
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("0 change(s)")
    assert len(fake.writes()) == len(default_schedule().jobs)
