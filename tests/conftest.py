"""One pair of emulators and one local stack for the integration and end-to-end tests, always torn
down, with no process left; an environment that is the tests' own, whatever the developer's shell
exports; and each test's tier and xdist group, from where it lives.

Tiers (a folder each, a marker each): unit (the venv only), imaging (real models, photos and memory
limits), release (terraform, checkov, gcloud), integration (real clients on the emulators), e2e (the
whole local stack, the browser's included) and image (the GPU image built and run)."""

import os
from pathlib import Path

import pytest

from local_stack.emulators import Emulators
from local_stack.stack import Stack, leftover_processes
from storefront import Storefront

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "imaging", "release", "integration", "e2e", "image")
# Drills that time things (restore seconds, latency gates, leases against a clock): one xdist worker
# runs them one after another, so two of them never share the CPUs; everything else shares freely.
TIMED_DRILLS = {"e2e/test_canary_and_rollback.py", "e2e/test_long_jobs.py", "e2e/test_validation.py"}

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


def pytest_collection_modifyitems(config, items):
    """Each test gets its tier's marker and an xdist group: its module's (module-scoped stacks and
    fixtures are built once, and a module's tests keep their order), or the timed drills' one."""
    for item in items:
        module = Path(str(item.fspath)).resolve().relative_to(TESTS)
        tier = module.parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
        group = "timed-drills" if module.as_posix() in TIMED_DRILLS else module.as_posix()
        item.add_marker(pytest.mark.xdist_group(group))


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
def emulators(tmp_path_factory):
    """Google's Pub/Sub and Firestore emulators, started once per session (per xdist worker) and shared
    by every stack, each stack in a project of its own (local_stack/emulators.py)."""
    shared = Emulators(tmp_path_factory.mktemp("emulators"))
    Stack.runs_started.append(shared.run_id)
    with shared:
        yield shared
    assert leftover_processes(shared.run_id) == [], "the emulators left processes running"


@pytest.fixture(scope="session")
def stack(tmp_path_factory, emulators):
    with Stack(workdir=tmp_path_factory.mktemp("stack"), env=E2E_ENV, emulators=emulators) as running:
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
