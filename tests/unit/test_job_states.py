from datetime import datetime, timedelta, timezone

import pytest

from domain.jobs import Job, State, can_move

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("current,target,allowed", [
    (State.AWAITING_UPLOAD, State.QUEUED, True),
    (State.AWAITING_UPLOAD, State.REJECTED, True),
    (State.QUEUED, State.PROCESSING, True),
    (State.QUEUED, State.DONE, True),          # a "succeeded" that overtook its "started"
    (State.PROCESSING, State.FAILED, True),
    (State.PROCESSING, State.QUEUED, False),   # never backwards
    (State.PROCESSING, State.PROCESSING, False),
    (State.DONE, State.FAILED, False),         # terminal is final
    (State.FAILED, State.DONE, False),
    (State.REJECTED, State.QUEUED, False),
])
def test_transitions_only_move_forward(current, target, allowed):
    assert can_move(current, target) is allowed


def test_move_records_first_timestamp_and_fields():
    job = Job(job_id="a" * 32)
    assert job.move(State.QUEUED, T0, upload_generation="7")
    assert not job.move(State.QUEUED, T0 + timedelta(seconds=5))
    assert job.timestamps == {"queued": T0}
    assert job.upload_generation == "7"


def test_only_a_dead_letter_failure_gives_way_to_a_later_success():
    assert can_move(State.FAILED, State.DONE, "dead_letter")
    assert not can_move(State.FAILED, State.DONE, "bad_image")
    assert not can_move(State.FAILED, State.PROCESSING, "dead_letter")
    assert not can_move(State.REJECTED, State.DONE, "dead_letter")


def test_stale_event_changes_nothing():
    job = Job(job_id="a" * 32, state=State.DONE, result_object="results/x.png")
    assert not job.move(State.FAILED, T0, reason="dead_letter")
    assert job.state is State.DONE and job.reason == ""


def test_stage_seconds_between_consecutive_states():
    job = Job(job_id="a" * 32, timestamps={"awaiting_upload": T0})
    job.move(State.QUEUED, T0 + timedelta(seconds=2))
    job.move(State.PROCESSING, T0 + timedelta(seconds=3))
    job.move(State.DONE, T0 + timedelta(seconds=4.5))
    assert job.stage_seconds() == {"awaiting_upload->queued": 2.0, "queued->processing": 1.0,
                                   "processing->done": 1.5}
