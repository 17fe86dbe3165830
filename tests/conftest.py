"""One local stack for the integration and end-to-end tests, always torn down, with no process left."""

import pytest

from local_stack.stack import Stack, leftover_processes
from local_stack.storefront import Storefront

# Short leases and backoffs so crash and dead-letter drills take seconds, not minutes.
E2E_ENV = {"LEASE_SECONDS": "4", "PUSH_MIN_BACKOFF_SECONDS": "1"}


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_tests():
    """Torn down last: every stack any test started, the modules' own included, left nothing behind."""
    yield
    left = {run: pids for run in Stack.runs_started if (pids := leftover_processes(run))}
    assert left == {}, f"stack processes left running: {left}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with Stack(workdir=tmp_path_factory.mktemp("stack"), env=E2E_ENV) as running:
        yield running
    assert leftover_processes(running.run_id) == [], "the stack left processes running"


@pytest.fixture
def shop(stack) -> Storefront:
    return Storefront(stack.url("upload_url"), stack.url("job_status"))


@pytest.fixture(autouse=True)
def stack_stays_healthy(request):
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").check()
