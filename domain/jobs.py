"""A job's life: awaiting_upload -> queued -> processing -> done | failed | rejected.

States only move forward. A stale or repeated event is a no-op, never an error,
because Pub/Sub delivers at least once and out of order.

One exception, on purpose: a job failed with reason `dead_letter` may still end
`done`. A dead letter says the pipeline gave up waiting (every delivery was
refused or timed out), not that the photo is bad; when a slow attempt finishes
after all and its cut-out exists, the cut-out wins (docs/failures.md).
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from datetime import datetime


class State(str, enum.Enum):
    AWAITING_UPLOAD = "awaiting_upload"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"


_RANK = {
    State.AWAITING_UPLOAD: 0,
    State.QUEUED: 1,
    State.PROCESSING: 2,
    State.DONE: 3,
    State.FAILED: 3,
    State.REJECTED: 3,
}
TERMINAL = frozenset({State.DONE, State.FAILED, State.REJECTED})
# Failures that a cut-out arriving later overrides (see the module's docstring).
SUPERSEDED_BY_SUCCESS = frozenset({"dead_letter"})


def can_move(current: State, target: State, reason: str = "") -> bool:
    """True when `target` is later than `current`; a terminal state is final, except that
    a job `failed` for one of SUPERSEDED_BY_SUCCESS (its `reason`) may still end `done`."""
    if current is State.FAILED and target is State.DONE:
        return reason in SUPERSEDED_BY_SUCCESS
    if current in TERMINAL:
        return False
    return _RANK[target] > _RANK[current]


@dataclass
class Job:
    job_id: str
    state: State = State.AWAITING_UPLOAD
    content_type: str = ""
    declared_size: int = 0
    output_format: str = "png"
    effect: str = "none"
    session_id: str = ""
    upload_object: str = ""
    upload_generation: str = ""
    request_published: bool = False
    result_object: str = ""
    reason: str = ""
    detail: str = ""
    attempts: int = 0
    # The worker started it on an instance that became ready after the job was queued:
    # the job waited for a cold start (the KPI report splits cold and warm latencies on it).
    cold_start: bool = False
    # Done, but the subject gate found only a weak subject (domain/subject.py): the widget
    # says so and the KPI report counts these jobs.
    low_confidence: bool = False
    # Intake found a mask for these bytes (domain/cache.py): the entry it routed the job to.
    cache_entry: str = ""
    # Served from the cache without the GPU (set with `done`), and what that saved.
    cache_hit: bool = False
    gpu_seconds_saved: float = 0.0
    # The spec hashes of the variants rendered for it (domain/variants.py admit_spec): the cap counts these.
    variant_specs: list[str] = field(default_factory=list)
    # Firestore's TTL policy deletes the job after this (infra/firestore.tf).
    expire_at: datetime | None = None
    # Stage name -> when the job entered it (UTC).
    timestamps: dict[str, datetime] = field(default_factory=dict)
    # Stage name -> seconds, as measured by the worker.
    timings: dict[str, float] = field(default_factory=dict)

    def move(self, target: State, at: datetime, **changes) -> bool:
        """Apply a transition if allowed; returns whether anything changed."""
        if not can_move(self.state, target, self.reason):
            return False
        if self.state is State.FAILED:  # a late success: the failure was only "gave up waiting"
            self.timestamps.pop(State.FAILED.value, None)
            changes = {"reason": "", "detail": "finished after its message was dead-lettered", **changes}
        self.state = target
        self.timestamps.setdefault(target.value, at)
        for name, value in changes.items():
            setattr(self, name, value)
        return True

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    def stage_seconds(self) -> dict[str, float]:
        """Seconds spent between consecutive recorded states."""
        order = [s.value for s in State if s.value in self.timestamps]
        out = {}
        for earlier, later in itertools.pairwise(order):
            out[f"{earlier}->{later}"] = (self.timestamps[later] - self.timestamps[earlier]).total_seconds()
        return out
