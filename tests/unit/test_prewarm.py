from datetime import datetime, timedelta, timezone

import pytest

from adapters.cloud_run import Scaling
from domain.jobs import Job, State
from functions import prewarm
from scheduler.policy import ScalingDecision
from scheduler.windows import Window
from settings import Settings
from tests.fakes import FakeJobs
from tests.unit.ops_fakes import FakeCaller, FakeCloudRun, MemoryOps

NOW = datetime(2026, 11, 20, 23, 30, tzinfo=timezone.utc)  # 18:30 in New York: peak


class Policy:
    """A policy that answers one fixed decision (so these tests do not depend on the schedule's tables)."""

    def __init__(self, decision):
        self.decision = decision
        self.asked = []

    def __call__(self, now, *, last_job_finished_at, warmups_last_hour, emergency):
        self.asked.append(dict(now=now, last_job_finished_at=last_job_finished_at,
                               warmups_last_hour=warmups_last_hour, emergency=emergency))
        return self.decision


PEAK = ScalingDecision(Window("peak", 1, 5, True), 1, 5, True, "peak window")


@pytest.fixture
def jobs():
    return FakeJobs()


@pytest.fixture
def world(jobs):
    store, cloud_run, caller = MemoryOps(), FakeCloudRun(scaling=Scaling(0, 2)), FakeCaller()

    def tick(decision=PEAK, at=NOW):
        policy = Policy(decision)
        summary = prewarm.handle(at, store=store, jobs=jobs, cloud_run=cloud_run, caller=caller, settings=Settings(),
                                 decide=policy)
        return summary, policy.asked[0]

    return store, cloud_run, caller, tick


def test_applies_the_windows_scaling_and_warms_up(world):
    store, cloud_run, caller, tick = world
    summary, _ = tick()
    assert cloud_run.current_scaling == Scaling(1, 5)
    assert summary["scaling_changed"] and summary["warmup"] == "ok"
    assert caller.calls == [("POST", "http://127.0.0.1:8080/warmup")]
    assert store.warmups == [NOW] and store.kinds("prewarm")[0]["window"] == "peak"


def test_unchanged_scaling_is_not_updated_again(world):
    store, cloud_run, caller, tick = world
    tick()
    summary, _ = tick()
    assert not summary["scaling_changed"] and len(cloud_run.changes) == 1


def test_the_policy_sees_last_job_warmups_and_emergency(world, jobs):
    store, cloud_run, caller, tick = world
    # The newest done time counts; a job still processing has none.
    for job_id, minutes in (("older", 40), ("newest", 3)):
        jobs.create(Job(job_id, State.DONE, timestamps={"queued": NOW - timedelta(minutes=minutes + 1),
                                                        "done": NOW - timedelta(minutes=minutes)}))
    jobs.create(Job("running", State.PROCESSING, timestamps={"queued": NOW - timedelta(minutes=1)}))
    store.warmups = [NOW - timedelta(minutes=70), NOW - timedelta(minutes=20), NOW - timedelta(minutes=5)]
    _, asked = tick()
    assert asked == dict(now=NOW, last_job_finished_at=NOW - timedelta(minutes=3), warmups_last_hour=2,
                         emergency=False)


def test_emergency_mode_caps_scaling_and_never_warms(world):
    store, cloud_run, caller, tick = world
    store.enter_emergency("budget", NOW, saved_min_instances=1, saved_max_instances=5)
    summary, asked = tick()
    assert asked["emergency"] is True
    assert cloud_run.current_scaling == Scaling(0, 2) and not summary["scaling_changed"]
    assert summary["warmup"] == "skipped" and caller.calls == []


def test_no_warmup_when_the_policy_says_so(world):
    store, cloud_run, caller, tick = world
    summary, _ = tick(ScalingDecision(Window("business", 0, 3, True), 0, 3, False, "a job finished 2 min ago"))
    assert summary["warmup"] == "skipped" and caller.calls == [] and cloud_run.current_scaling == Scaling(0, 3)


@pytest.mark.parametrize("answer, expected", [((503, b""), "error: HTTP 503"),
                                              (ConnectionError("refused"), "error: refused")])
def test_a_failed_warmup_is_reported_not_counted(world, answer, expected):
    store, cloud_run, caller, tick = world
    caller.answers[("POST", "warmup")] = answer
    summary, _ = tick()
    assert summary["warmup"] == expected and store.warmups == []
