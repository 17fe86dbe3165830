import io

import pytest
from PIL import Image

from adapters.cloud_run import TrafficEntry
from adapters.metrics import RevisionStats
from deploy import canary
from deploy.traffic_split import shifted, without_tag
from tests.unit.ops_fakes import FakeCaller, FakeCloudRun, FakeMetrics, MemoryOps

A = "svc-00001-aaa"


def png_of(data: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGBA").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("before, percent, expected", [
    ([TrafficEntry(A, 100)], 10, [TrafficEntry(A, 90), TrafficEntry("new", 10, "c")]),
    ([TrafficEntry(A, 100)], 100, [TrafficEntry("new", 100, "c")]),
    ([TrafficEntry("x", 50), TrafficEntry("y", 50, "old")], 33,
     [TrafficEntry("x", 34), TrafficEntry("y", 33, "old"), TrafficEntry("new", 33, "c")]),
    ([TrafficEntry(A, 100), TrafficEntry("z", 0, "debug")], 50,
     [TrafficEntry(A, 50), TrafficEntry("z", 0, "debug"), TrafficEntry("new", 50, "c")]),
])
def test_shifted_splits_add_up_to_100(before, percent, expected):
    split = shifted(before, "new", percent, "c")
    assert split == expected and sum(e.percent for e in split) == 100


def test_a_reused_tag_is_freed():
    assert without_tag([TrafficEntry(A, 100), TrafficEntry("old", 0, "c")], "c") == [TrafficEntry(A, 100)]


@pytest.mark.parametrize("stats, reason", [
    (RevisionStats(100, 1, 1.0), None),
    (RevisionStats(0, 0, None), None),
    (RevisionStats(20, 2, 1.0), "gpu-error-rate (rollback: error rate > 5 % for 5 minutes): gpu_error_ratio 0.100"),
    (RevisionStats(20, 0, 7.5), "gpu-p95-latency"),
    (RevisionStats(20, 0, 1.0, mean_seconds=16.0), "gpu-processing-time"),
    (RevisionStats(20, 0, 1.0, unavailable=5, memory_utilization=0.97), "gpu-memory-503"),
    (RevisionStats(20, 0, 1.0, unavailable=5, memory_utilization=0.5), None),  # busy, not out of memory
    (RevisionStats(20, 0, 1.0, unavailable=20), None),  # 503 is back-pressure, not a GPU error
    (RevisionStats(20, 0, 1.0, startup_seconds=50.0), "gpu-slow-cold-start"),
])
def test_judge_by_the_declared_gates(stats, reason):
    found = canary.judge(stats, canary.Options("svc", "img", "c"))
    assert (found is None) if reason is None else reason in found


@pytest.fixture
def world():
    cloud_run, store = FakeCloudRun([TrafficEntry(A, 100)]), MemoryOps()
    caller = FakeCaller({("POST", "segment"): lambda data: (200, png_of(data))})

    def run(stats, **options):
        metrics = FakeMetrics(stats)
        code = canary.roll_out(canary.Options("svc", "img:v2", "c", gate_seconds=0, **options), cloud_run=cloud_run,
                               metrics=metrics, store=store, caller=caller, sleep=lambda s: None)
        return code, metrics

    return cloud_run, store, caller, run


def test_a_good_revision_reaches_100_and_becomes_known_good(world):
    cloud_run, store, caller, run = world
    code, metrics = run(RevisionStats(50, 0, 0.8))
    new = cloud_run.changes[0][1]
    assert code == 0 and store.known_good("svc") == new
    splits = [change[1] for change in cloud_run.changes[1:]]
    assert [[(e.revision, e.percent) for e in split if e.revision == new] for split in splits] == \
        [[(new, 0)], [(new, 10)], [(new, 50)], [(new, 100)]]
    assert ("GET", "http://tag.local/c/ready") in caller.calls and metrics.asked == [new] * 3


def test_a_bad_revision_is_reverted_at_the_first_gate(world):
    cloud_run, store, caller, run = world
    code, metrics = run(RevisionStats(10, 10, 0.5))
    new = cloud_run.changes[0][1]
    assert code == 1 and store.known_good("svc") is None and metrics.asked == [new]
    assert cloud_run.split == [TrafficEntry(A, 100), TrafficEntry(new, 0, "c")]
    assert "gate at 10%" in store.kinds("canary_stopped")[0]["reason"]


def test_a_failed_smoke_test_never_gets_traffic(world):
    cloud_run, store, caller, run = world
    caller.answers[("POST", "segment")] = (500, b"boom")
    code, metrics = run(RevisionStats(1, 0, 0.1))
    assert code == 1 and metrics.asked == [] and cloud_run.split[0] == TrafficEntry(A, 100)


def test_traffic_moved_by_someone_else_stops_without_touching_it(world):
    cloud_run, store, caller, run = world
    original = cloud_run.set_traffic
    shifts = []

    def set_traffic(service, entries):  # an automatic rollback lands during the first gate
        original(service, entries)
        shifts.append(entries)
        if len(shifts) == 2:
            cloud_run.split = [TrafficEntry(A, 100)]

    cloud_run.set_traffic = set_traffic
    code = canary.roll_out(canary.Options("svc", "img", "c", gate_seconds=1), cloud_run=cloud_run,
                           metrics=FakeMetrics(RevisionStats(1, 0, 0.1)), store=store, caller=caller,
                           sleep=lambda s: None)
    assert code == 1 and cloud_run.split == [TrafficEntry(A, 100)] and len(shifts) == 2
    assert store.kinds("canary_stopped")[0]["reverted"] is False


@pytest.mark.parametrize("argv", [["--steps", "50,10,100"], ["--steps", "10,50"], ["--tag", "Bad_Tag"],
                                  ["--env", "NOVALUE"]])
def test_bad_arguments_exit_2(argv):
    base = ["--project", "p", "--region", "r", "--service", "s", "--image", "i", "--tag", "c"]
    with pytest.raises(SystemExit) as exit_:
        canary.parse_args(base + argv)
    assert exit_.value.code == 2


def test_a_quiet_gate_waits_for_enough_requests_then_judges(world):
    cloud_run, store, caller, run = world

    class Trickle(FakeMetrics):
        def stats(self, service, revision, start, end):
            self.asked.append(revision)
            return RevisionStats(len(self.asked) // 2, len(self.asked) // 2, 0.1)  # 0, 1, 1, 2 ... requests

    metrics = Trickle(None)
    code = canary.roll_out(canary.Options("svc", "img", "c", gate_seconds=0.01, min_requests=2, max_gate_seconds=10),
                           cloud_run=cloud_run, metrics=metrics, store=store, caller=caller, sleep=lambda s: None)
    assert code == 1 and len(metrics.asked) == 4
    assert "gpu_error_ratio 1.000 > 0.05" in store.kinds("canary_stopped")[0]["reason"]
