"""The local stack's Cloud Scheduler: the same jobs and cron expressions, fired at a local URL.

It sends what Cloud Scheduler sends (POST {"job": NAME} as JSON, with the
X-CloudScheduler-* headers) without the OIDC token. `clock` returns the current
tz-aware time, so a test can drive it; `run_pending()` fires whatever is due,
and `start()` calls it from a background thread.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Callable

from croniter import croniter

from adapters.logs import log
from scheduler.windows import ScheduledJob, default_schedule

logger = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class LocalScheduler:
    def __init__(self, target_url: str, schedules=None, clock: Callable[[], datetime] = _utc_now, *,
                 poll_seconds: float = 1.0, timeout_seconds: float = 30.0, urls: dict[str, str] | None = None):
        schedule = default_schedule() if schedules is None or isinstance(schedules, (list, tuple)) else schedules
        self.jobs: dict[str, ScheduledJob] = {j.name: j for j in (schedules if isinstance(schedules, (list, tuple))
                                                         else schedule.jobs)}
        self.tz = schedule.tz
        self.target_url = target_url
        # With `urls` (target function -> URL), a job whose target has none is not fired;
        # without, every job goes to `target_url`.
        self.urls = None if urls is None else {"prewarm": target_url, **urls}
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.fired: list[tuple[str, datetime, int]] = []  # (job, scheduled time, HTTP status)
        self._next = {name: self._after(job, clock()) for name, job in self.jobs.items()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _after(self, job: ScheduledJob, when: datetime) -> datetime:
        """The job's next fire time after `when`, evaluated in the schedule's time zone."""
        return croniter(job.cron, when.astimezone(self.tz)).get_next(datetime)

    def url_for(self, name: str) -> str | None:
        return self.target_url if self.urls is None else self.urls.get(self.jobs[name].target)

    def _post(self, name: str, scheduled: datetime) -> int:
        url = self.url_for(name)
        if url is None:
            log(logger, logging.INFO, "local scheduler: job's target function is not running", job=name)
            return 0
        request = urllib.request.Request(
            url, method="POST", data=json.dumps({"job": name}, sort_keys=True).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "Google-Cloud-Scheduler",
                     "X-CloudScheduler": "true", "X-CloudScheduler-JobName": name,
                     "X-CloudScheduler-ScheduleTime": scheduled.astimezone(timezone.utc).isoformat()})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            log(logger, logging.WARNING, "local scheduler could not reach its target", job=name, error=str(exc))
            status = 0
        self.fired.append((name, scheduled, status))
        log(logger, logging.INFO, "local scheduler fired", job=name, status=status, scheduled=scheduled.isoformat())
        return status

    def fire_now(self, job_name: str) -> int:
        """Fire one job at once, as `gcloud scheduler jobs run` would; returns the HTTP status."""
        if job_name not in self.jobs:
            raise KeyError(f"no job {job_name!r}; jobs: {sorted(self.jobs)}")
        return self._post(job_name, self.clock())

    def run_pending(self) -> list[tuple[str, int]]:
        """Fire each job whose time has come (once, even if several runs were missed)."""
        now = self.clock()
        out = []
        for name, job in self.jobs.items():
            due = self._next[name]
            if due <= now:
                out.append((name, self._post(name, due)))
                self._next[name] = self._after(job, now)
        return out

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self.poll_seconds):
                self.run_pending()

        self._thread = threading.Thread(target=loop, name="local-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_seconds + 5)
            self._thread = None
