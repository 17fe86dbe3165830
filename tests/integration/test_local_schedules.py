"""The store's schedules fired by the local stack, through the pre-warm function, onto the local Cloud Run."""

from datetime import datetime, timezone

import pytest
import requests

from local_stack.stack import Stack
from scheduler.policy import decide

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, emulators):
    with Stack(workdir=tmp_path_factory.mktemp("schedules"), functions=["prewarm"], cloud_run=True,
               emulators=emulators) as running:
        yield running


def test_firing_the_tick_applies_the_policy_to_the_gpu_service(stack):
    from adapters.cloud_run import Scaling
    from bootstrap import Operations
    from settings import Settings

    now = datetime.now(timezone.utc)
    expected = decide(now, last_job_finished_at=None, warmups_last_hour=0, emergency=False)
    with stack.client_env():
        settings = Settings()
        ops = Operations(settings)
        ops.cloud_run.set_scaling(settings.gpu_service, Scaling(7, 9))  # what no window asks for
        assert stack.scheduler.fire_now("tick") == 200
        scaling = ops.cloud_run.scaling(settings.gpu_service)
        assert (scaling.min_instances, scaling.max_instances) == (expected.min_instances, expected.max_instances)
        assert ops.store.warmups_since(now) == (1 if expected.warmup else 0)
    assert requests.get(stack.url("gpu") + "/ready", timeout=10).status_code == 200
    assert [name for name, _, status in stack.scheduler.fired] == ["tick"]


def test_an_unknown_job_is_refused(stack):
    with pytest.raises(KeyError):
        stack.scheduler.fire_now("no-such-job")
