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
from tests.image.early_build import EarlyBuild, selected

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
    if hasattr(config, "workerinput"):  # an xdist worker: stacks in other workers take other ports
        from processes import PORT_SLOT, PORT_SLOTS

        os.environ[PORT_SLOT] = config.workerinput["workerid"].removeprefix("gw")
        os.environ[PORT_SLOTS] = str(config.workerinput["workercount"])
    # The one process that outlives the xdist workers starts the image build now (early_build.py says why).
    if not hasattr(config, "workerinput") and selected(config):
        config.early_build = EarlyBuild()
        config.early_build.start()


def pytest_unconfigure(config):
    if hasattr(config, "early_build"):
        config.early_build.stop()


def pytest_collection_modifyitems(config, items):
    """Each test gets its tier's marker; the longest chain runs first (the timed drills, then the
    other stacks), so the scheduler below hands it out at once and the unit modules fill in behind.
    A stable sort keeps each module's order."""
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.is_relative_to(TESTS) and (tier := path.relative_to(TESTS).parts[0]) in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
        if path.is_relative_to(TESTS) and path.relative_to(TESTS).as_posix() in TIMED_DRILLS:
            item.add_marker(pytest.mark.timed)
    items.sort(key=lambda item: _start_order(Path(str(item.fspath)).resolve()))


def xdist_group(nodeid: str) -> str:
    """A test's unit of work under xdist: its module (module-scoped stacks and fixtures are built
    once, and a module's tests keep their order), or the timed drills' one group."""
    module = nodeid.split("::", 1)[0]
    return "timed-drills" if module.removeprefix("tests/") in TIMED_DRILLS else module


def pytest_xdist_make_scheduler(config, log):
    """xdist's own loadgroup reads xdist_group markers into node ids through Item._nodeid, which
    pytest 9 no longer reads (nodeid comes from Item._id), so every test became a group of its own.
    This scheduler groups by xdist_group() instead, in collection order (not by module size)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    config.option.loadscopereorder = False
    return ByGroup(config, log)


def _start_order(path: Path) -> int:
    if not path.is_relative_to(TESTS):
        return 3
    module = path.relative_to(TESTS)
    return 0 if module.as_posix() in TIMED_DRILLS else 1 if module.parts[0] == "e2e" else 2


@pytest.fixture(autouse=True)
def fresh_settings():
    """Each test reads the settings its own environment gives (monkeypatched ones included)."""
    from settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# Short leases and backoffs so crash and dead-letter drills take seconds, not minutes.
E2E_ENV = {"LEASE_SECONDS": "4", "PUSH_MIN_BACKOFF_SECONDS": "1",
           "VARIANT_MAX_SPECS": "8"}  # a cap the variant tests can reach in a few requests


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
