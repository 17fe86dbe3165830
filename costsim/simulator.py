"""Replays uploads through a model of the GPU service on Cloud Run.

The model: an upload reaches the service `pipeline_s` after it lands (GCS
notification, intake, Pub/Sub push). A request goes to a ready instance with a
free slot (`concurrency`), else to one still starting, else starts a new one if
the window's max allows (it serves after `cold_start_s`), else waits for a slot.
Each instance runs its queue through the GPU in batches of up to `batch_size`.
An instance idle for `idle_timeout_s` stops unless the min instances hold it.
Every `tick_s` the pre-warm function runs the REAL `scheduler.policy.decide`:
it sets min/max and, when told to, pings /warmup (which starts an instance if
none is up, or keeps the idle one from scaling down). Instances are billed for
their whole life (instance-based billing). Deterministic for a given seed.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from costsim import upload_traffic
from costsim.cost import CostBreakdown, InstanceShape, JobFootprint, Prices, load_prices, total_cost
from scheduler.policy import decide
from scheduler.windows import Schedule


@dataclass(frozen=True)
class ServiceModel:
    """Defaults: the operating plan's 30 s cold start and ~1.0 s/image warm on an L4
    (InSPyReNet base, batch 1), until the engine benchmark (bench/) replaces them.
    Cloud Run scales a revision without traffic in to zero instances but its docs give
    no delay for it (https://cloud.google.com/run/docs/about-instance-autoscaling):
    the 15 minutes here are an assumption, not a documented bound; real scale-down may
    come sooner."""

    cold_start_s: float = 30.0
    concurrency: int = 4
    batch_size: int = 1
    batch_overhead_s: float = 0.4   # per forward pass
    per_image_s: float = 0.6        # so one image alone takes 1.0 s
    jitter: float = 0.25            # sigma of the lognormal spread of service times
    idle_timeout_s: float = 900.0
    pipeline_s: float = 1.0         # upload finalized -> request at the GPU service (assumed)
    finish_s: float = 0.3           # write the cut-out, publish the event (assumed)
    tick_s: float = 300.0           # the Cloud Scheduler job's cadence (schedules.yaml: */5)
    shape: InstanceShape = field(default_factory=InstanceShape)


@dataclass
class Result:
    name: str
    jobs: int
    days: float
    cost: CostBreakdown
    cold_jobs: int
    peak_jobs: int
    peak_cold_jobs: int
    latency_p50: float
    latency_p95: float
    latency_p99: float
    instance_hours: float
    instance_starts: int
    warmups: int

    @property
    def per_1000(self) -> float:
        return 1000 * self.cost.total / self.jobs if self.jobs else 0.0

    @property
    def per_day(self) -> float:
        return self.cost.total / self.days

    @property
    def cold_share(self) -> float:
        return self.cold_jobs / self.jobs if self.jobs else 0.0

    @property
    def peak_cold_share(self) -> float:
        return self.peak_cold_jobs / self.peak_jobs if self.peak_jobs else 0.0


def _job_jitter(uploads: np.ndarray, seed: int, sigma: float) -> np.ndarray:
    """A lognormal factor per job, a function of (seed, upload time) only, so adding
    jobs to a trace leaves the others' service times unchanged."""
    key = np.round(uploads * 1000).astype(np.int64).astype(np.uint64)

    def mix(x: np.ndarray) -> np.ndarray:  # splitmix64
        with np.errstate(over="ignore"):
            x = x + np.uint64(0x9E3779B97F4A7C15)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return x ^ (x >> np.uint64(31))

    with np.errstate(over="ignore"):
        a = mix(key ^ np.uint64(seed * 0x632BE59BD9B4E019 & 0xFFFFFFFFFFFFFFFF))
    b = mix(a)
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 0.5) / 2**53
    u2 = (b >> np.uint64(11)).astype(np.float64) / 2**53
    normal = np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)
    return np.exp(sigma * normal - sigma**2 / 2)


class _Instance:
    __slots__ = ("started", "ready", "stopped", "queue", "batch", "in_flight", "idle_since")

    def __init__(self, now: float, cold_start: float):
        self.started, self.ready, self.stopped = now, now + cold_start, None
        self.queue: deque[int] = deque()
        self.batch: list[int] = []
        self.in_flight = 0
        self.idle_since: float | None = None


_READY, _DONE, _IDLE, _TICK = range(4)


class _Run:
    def __init__(self, uploads: np.ndarray, schedule: Schedule, model: ServiceModel, seed: int,
                 start: float, end: float):
        self.m, self.schedule, self.end = model, schedule, end
        self.arrive = uploads + model.pipeline_s
        self.done = np.full(len(uploads), np.nan)
        self.cold = np.zeros(len(uploads), dtype=bool)
        self.jitter = _job_jitter(uploads, seed, model.jitter)
        self.events: list = []
        self.seq = 0
        self.live: list[_Instance] = []
        self.lifetimes: list[float] = []
        self.pending: deque[int] = deque()
        self.min_instances, self.max_instances = 0, 1
        self.last_finished: float | None = None
        self.warmup_times: deque[float] = deque()
        self.warmups = self.ticks = self.starts = 0
        self._push(start, _TICK)

    def _push(self, t: float, kind: int, inst: _Instance | None = None, token: float = 0.0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, inst, token))

    # --- instances -------------------------------------------------------
    def _start_instance(self, now: float) -> _Instance:
        inst = _Instance(now, self.m.cold_start_s)
        self.live.append(inst)
        self.starts += 1
        self._push(inst.ready, _READY, inst)
        return inst

    def _stop(self, inst: _Instance, now: float) -> None:
        inst.stopped = now
        self.live.remove(inst)
        self.lifetimes.append(max(0.0, min(now, self.end) - inst.started))

    def _go_idle(self, inst: _Instance, now: float) -> None:
        inst.idle_since = now
        self._push(now + self.m.idle_timeout_s, _IDLE, inst, now)

    def _run_batch(self, inst: _Instance, now: float) -> None:
        n = min(self.m.batch_size, len(inst.queue))
        inst.batch = [inst.queue.popleft() for _ in range(n)]
        seconds = (self.m.batch_overhead_s + self.m.per_image_s * n) * self.jitter[inst.batch[0]]
        self._push(now + seconds, _DONE, inst)

    def _assign(self, inst: _Instance, job: int, now: float) -> None:
        inst.in_flight += 1
        inst.idle_since = None
        inst.queue.append(job)
        if inst.ready > now:
            self.cold[job] = True
        elif not inst.batch:
            self._run_batch(inst, now)

    def _pick(self, now: float) -> _Instance | None:
        """A ready instance with a free slot (least loaded), else one still starting."""
        open_ = [i for i in self.live if i.in_flight < self.m.concurrency]
        ready = [i for i in open_ if i.ready <= now]
        if ready:
            return min(ready, key=lambda i: i.in_flight)
        return min(open_, key=lambda i: i.ready) if open_ else None

    def _route(self, job: int, now: float) -> None:
        inst = self._pick(now)
        if inst is None and len(self.live) < self.max_instances:
            inst = self._start_instance(now)
        if inst is None:
            self.pending.append(job)
        else:
            self._assign(inst, job, now)

    def _next_batch(self, inst: _Instance, now: float) -> None:
        """The instance is free: its own queue first, then requests waiting for a slot."""
        if inst.queue:
            self._run_batch(inst, now)
        while self.pending and inst.in_flight < self.m.concurrency:
            self._assign(inst, self.pending.popleft(), now)
        if inst.in_flight == 0:
            self._go_idle(inst, now)

    # --- the pre-warm function --------------------------------------------
    def _tick(self, now: float) -> None:
        self.ticks += 1
        while self.warmup_times and self.warmup_times[0] <= now - 3600:
            self.warmup_times.popleft()
        when = datetime.fromtimestamp(now, timezone.utc)
        last = datetime.fromtimestamp(self.last_finished, timezone.utc) if self.last_finished is not None else None
        decision = decide(when, last_job_finished_at=last, warmups_last_hour=len(self.warmup_times),
                          emergency=False, schedule=self.schedule)
        lowered = decision.min_instances < self.min_instances
        self.min_instances, self.max_instances = decision.min_instances, decision.max_instances
        while len(self.live) < self.min_instances:
            self._start_instance(now)
        if lowered:  # idle instances the old min held may go now
            for inst in self.live:
                if inst.in_flight == 0 and inst.idle_since is not None:
                    self._push(max(now, inst.idle_since + self.m.idle_timeout_s), _IDLE, inst, inst.idle_since)
        if decision.warmup:
            self.warmups += 1
            self.warmup_times.append(now)
            self._ping(now)
        if now + self.m.tick_s < self.end:
            self._push(now + self.m.tick_s, _TICK)

    def _ping(self, now: float) -> None:
        """GET /warmup: a request like any other, minus the GPU work."""
        if any(i.ready > now for i in self.live):
            return
        idle = [i for i in self.live if i.in_flight == 0]
        if idle:
            self._go_idle(idle[0], now)
        elif not self.live and self.max_instances > 0:
            self._start_instance(now)

    # --- the loop ------------------------------------------------------------
    def run(self) -> None:
        arrive, n, next_job = self.arrive, len(self.arrive), 0
        events = self.events
        while next_job < n or events:
            if next_job < n and (not events or arrive[next_job] <= events[0][0]):
                self._route(next_job, float(arrive[next_job]))
                next_job += 1
                continue
            now, _, kind, inst, token = heapq.heappop(events)
            if kind == _TICK:
                self._tick(now)
            elif kind == _READY:
                self._next_batch(inst, now)
            elif kind == _DONE:
                finished = now + self.m.finish_s
                for job in inst.batch:
                    self.done[job] = finished
                inst.in_flight -= len(inst.batch)
                inst.batch = []
                self.last_finished = now
                self._next_batch(inst, now)
            elif kind == _IDLE:
                if (inst.stopped is None and inst.in_flight == 0 and inst.idle_since == token
                        and len(self.live) > self.min_instances):
                    self._stop(inst, now)
        for inst in list(self.live):
            self._stop(inst, self.end)


def simulate(uploads: np.ndarray, schedule: Schedule, *, model: ServiceModel = ServiceModel(),
             prices: Prices | None = None, footprint: JobFootprint = JobFootprint(), seed: int = 0,
             span: tuple[float, float] | None = None, name: str = "") -> Result:
    """Replay `uploads` (sorted Unix seconds) under `schedule`; cost and latency figures."""
    uploads = np.asarray(uploads, dtype=float)
    if len(uploads) == 0:
        raise ValueError("no uploads to simulate")
    start, end = span or upload_traffic.day_span(uploads)
    run = _Run(uploads, schedule, model, seed, start, end)
    run.run()
    prices = prices or load_prices()
    cost = total_cost(run.lifetimes, len(uploads), prices, shape=model.shape, footprint=footprint,
                      extra_invocations=run.ticks + run.warmups)
    latency = run.done - uploads
    peak = upload_traffic.in_peak(uploads)
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return Result(
        name=name, jobs=len(uploads), days=(end - start) / 86400, cost=cost,
        cold_jobs=int(run.cold.sum()), peak_jobs=int(peak.sum()), peak_cold_jobs=int((run.cold & peak).sum()),
        latency_p50=float(p50), latency_p95=float(p95), latency_p99=float(p99),
        instance_hours=sum(run.lifetimes) / 3600, instance_starts=run.starts, warmups=run.warmups,
    )
