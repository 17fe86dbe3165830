"""One local stack for the integration and end-to-end tests, always torn down, with no process left;
and an environment that is the tests' own, whatever the developer's shell exports."""

import os

import pytest

from local_stack.stack import Stack, leftover_processes
from storefront import Storefront

# Google's own variables that would point a client at a real project or account.
GOOGLE_VARIABLES = ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT",
                    "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")


def scrubbed_environment_names(environ=os.environ) -> list[str]:
    """Every variable Settings would read (its fields, case-insensitively) and Google's own."""
    from settings import Settings

    fields = {name.upper() for name in Settings.model_fields} | set(GOOGLE_VARIABLES)
    return [name for name in environ if name.upper() in fields]


def pytest_configure(config):
    # Before collection: modules build Settings() at import. A RESULTS_BUCKET or
    # GOOGLE_APPLICATION_CREDENTIALS left in a shell must not reach the tests or the stack's children.
    for name in scrubbed_environment_names():
        os.environ.pop(name)


@pytest.fixture(autouse=True)
def fresh_settings():
    """Each test reads the settings its own environment gives (monkeypatched ones included)."""
    from settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


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
