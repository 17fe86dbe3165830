"""The local stack's scheduler: the shipped cron jobs, fired at a local URL on a driven clock."""

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from local_stack.cron import LocalScheduler
from scheduler.windows import ScheduledJob, default_schedule

NY = ZoneInfo("America/New_York")


@pytest.fixture
def target():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((body, self.headers))
            self.send_response(503 if body.get("job") == "broken" else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_fires_the_shipped_tick_every_five_minutes(target):
    url, received = target
    clock = Clock(datetime(2026, 11, 3, 17, 58, tzinfo=NY))
    local = LocalScheduler(url, clock=clock)
    assert list(local.jobs) == [j.name for j in default_schedule().jobs]
    assert local.run_pending() == []
    clock.now = datetime(2026, 11, 3, 18, 0, 1, tzinfo=NY)
    assert local.run_pending() == [("tick", 200)]
    assert local.run_pending() == []  # once per due time
    clock.now += timedelta(minutes=5)
    assert local.run_pending() == [("tick", 200)]
    body, headers = received[0]
    assert body == {"job": "tick"}
    assert headers["X-CloudScheduler-JobName"] == "tick"
    assert headers["X-CloudScheduler-ScheduleTime"] == "2026-11-03T23:00:00+00:00"


def test_cron_is_read_in_new_york_time(target):
    url, received = target
    job = ScheduledJob("evening", "0 18 * * *")
    clock = Clock(datetime(2026, 7, 1, 21, 59, tzinfo=timezone.utc))  # 17:59 EDT
    local = LocalScheduler(url, [job], clock=clock)
    clock.now = datetime(2026, 7, 1, 22, 0, tzinfo=timezone.utc)  # 18:00 EDT
    assert local.run_pending() == [("evening", 200)]
    assert local.fired[0][1].astimezone(NY).hour == 18


def test_fire_now_returns_the_status_and_refuses_unknown_jobs(target):
    url, _ = target
    local = LocalScheduler(url, [ScheduledJob("tick", "*/5 * * * *"), ScheduledJob("broken", "0 0 1 1 *")])
    assert local.fire_now("tick") == 200
    assert local.fire_now("broken") == 503
    with pytest.raises(KeyError):
        local.fire_now("nope")


def test_an_unreachable_target_is_status_0_not_a_crash():
    local = LocalScheduler("http://127.0.0.1:9/", [ScheduledJob("tick", "* * * * *")], timeout_seconds=1)
    assert local.fire_now("tick") == 0


def test_start_and_stop_the_background_thread(target):
    url, received = target
    clock = Clock(datetime(2026, 11, 3, 9, 4, 59, tzinfo=NY))
    local = LocalScheduler(url, clock=clock, poll_seconds=0.01)
    local.start()
    try:
        clock.now = datetime(2026, 11, 3, 9, 5, 0, tzinfo=NY)
        deadline = datetime.now() + timedelta(seconds=5)
        while not received and datetime.now() < deadline:
            threading.Event().wait(0.01)
    finally:
        local.stop()
    assert len(received) == 1


def test_each_job_goes_to_its_target_function(target):
    url, received = target
    clock = Clock(datetime(2026, 11, 3, 6, 59, 30, tzinfo=NY))
    local = LocalScheduler("http://127.0.0.1:9/not-prewarm", clock=clock, urls={"health_check": url})
    clock.now = datetime(2026, 11, 3, 7, 0, 1, tzinfo=NY)
    assert dict(local.run_pending())["morning-health"] == 200
    assert received[-1][0] == {"job": "morning-health"}
    only_prewarm = LocalScheduler(url, clock=clock, urls={})
    assert only_prewarm.fire_now("morning-health") == 0  # its function is not running: not fired
