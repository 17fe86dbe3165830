"""In-memory implementations of the operations ports (cosmicpython-style fakes): storage only.
The rules (rollback window, stale intervals, emergency mode) are OpsStore's, from domain/."""

from __future__ import annotations

from datetime import datetime

from adapters.cloud_run import CloudRun, Scaling, TrafficEntry
from adapters.metrics import RevisionMetrics, RevisionStats
from adapters.notify import Notifier, ServiceCaller
from adapters.ops_store import OpsStore, utcnow


class FakeCloudRun(CloudRun):
    def __init__(self, traffic=None, scaling=Scaling(0, 3)):
        self.split = list(traffic or [TrafficEntry("svc-00001-aaa", 100)])
        self.current_scaling = scaling
        self.changes: list[tuple] = []
        self.revisions = {e.revision for e in self.split}
        self.fail_next = False

    def traffic(self, service):
        return list(self.split)

    def set_traffic(self, service, entries):
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("operation failed")
        assert sum(e.percent for e in entries) == 100 and all(e.revision in self.revisions for e in entries)
        self.split = list(entries)
        self.changes.append(("traffic", list(entries)))

    def scaling(self, service):
        return self.current_scaling

    def set_scaling(self, service, scaling):
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("operation failed")
        self.current_scaling = scaling
        self.changes.append(("scaling", scaling))

    def deploy(self, service, *, revision, image, env, traffic, memory=""):
        self.revisions.add(revision)
        self.changes.append(("deploy", revision, image, dict(env)))
        self.set_traffic(service, traffic)

    def tag_url(self, service, tag):
        return f"http://tag.local/{tag}"


class MemoryOps(OpsStore):
    def __init__(self):
        self.claims: dict[str, dict] = {}
        self.log: list[dict] = []
        self.good: dict[str, str] = {}
        self.records: dict[str, dict] = {}
        self.spend: dict[tuple, dict] = {}
        self.warmups: list[datetime] = []

    def claim(self, key, **fields):
        if key in self.claims:
            return False
        self.claims[key] = fields
        return True

    def release(self, key):
        self.claims.pop(key, None)

    def record(self, kind, **fields):
        self.log.append({"kind": kind, **fields})

    def record_once(self, key, kind, **fields):
        if any(entry.get("key") == key for entry in self.log):
            return False
        self.log.append({"kind": kind, "key": key, **fields})
        return True

    def kinds(self, kind):
        return [entry for entry in self.log if entry["kind"] == kind]

    def known_good(self, service):
        return self.good.get(service)

    def set_known_good(self, service, revision, **fields):
        self.good[service] = revision

    def transact(self, name, change):
        new, answer = change(dict(self.records.get(name, {})))
        if new is not None:
            self.records[name] = new
        return answer

    def state(self, name):
        return dict(self.records.get(name, {}))

    def record_spend(self, budget_id, interval, **fields):
        self.spend[(budget_id, interval)] = {"budget_id": budget_id, "interval_start": interval, **fields}

    def latest_spend(self):
        return self.spend[max(self.spend, key=lambda k: k[1])] if self.spend else None

    def record_warmup(self, at):
        self.warmups.append(at)

    def warmups_since(self, since):
        return sum(1 for at in self.warmups if at >= since)

    def warmups_between(self, start, end):
        return sorted(at for at in self.warmups if start <= at < end)


class RecordingNotifier(Notifier):
    def __init__(self):
        self.texts: list[str] = []

    def announce(self, text):
        self.texts.append(text)
        return True


class FakeCaller(ServiceCaller):
    def __init__(self, answers=None):
        self.calls: list[tuple[str, str]] = []
        self.answers = answers or {}

    def call(self, method, url, *, data=None, headers=None, timeout=60.0):
        self.calls.append((method, url))
        answer = self.answers.get((method, url.rsplit("/", 1)[-1]), (200, b"{}"))
        if isinstance(answer, Exception):
            raise answer
        return answer(data) if callable(answer) else answer


class FakeMetrics(RevisionMetrics):
    def __init__(self, stats: RevisionStats):
        self.result = stats
        self.asked: list[str] = []

    def stats(self, service, revision, start, end):
        self.asked.append(revision)
        return self.result


def now() -> datetime:
    return utcnow()
