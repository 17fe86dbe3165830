"""The alert and rollback conditions of topology.yaml `alerts:`, as plain rules (no I/O).

One declaration, three readers: Terraform renders an alert policy per condition
(infra/topology/alerts.tf), the canary judges a new revision by every gate
(deploy/canary.py), and the local stack evaluates them on the local Cloud Run
(local_stack/alerts.py). Each reader measures the condition's `signal` its own way
(PromQL on Cloud Monitoring, the router's counts); what the signal means, its
threshold, its duration and its route are only here.

A GPU error is a 5xx answer other than 503. The service answers 503 on purpose when
it is busy or not ready yet (gpu_service/app.py): Pub/Sub redelivers with backoff,
nothing is lost, and at the evening peak it is the designed back-pressure, so
counting it would roll back good revisions exactly when load is highest. 503s are
not ignored: they are their own signal (`gpu_unavailable_ratio`), which rolls back
when memory is also high (an instance killed or refusing work for memory) and
pages when nearly every request fails (service down).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SEVERITY_ROUTES = {"critical": ("pager", "slack"), "warning": ("slack", "email")}


def is_gpu_error(status: int) -> bool:
    return status >= 500 and status != 503


def is_unavailable(status: int) -> bool:
    return status == 503


@dataclass(frozen=True)
class Clause:
    signal: str
    above: float

    def holds(self, value: float | None) -> bool:
        return value is not None and value > self.above


@dataclass(frozen=True)
class Condition:
    name: str
    plan: str
    clauses: tuple[Clause, ...]  # all must hold
    for_seconds: float
    severity: str
    rollback: bool
    gate: bool

    @property
    def routes(self) -> tuple[str, ...]:
        return SEVERITY_ROUTES[self.severity]

    @property
    def signals(self) -> tuple[str, ...]:
        return tuple(c.signal for c in self.clauses)

    def breached(self, values: Mapping[str, float | None]) -> bool:
        return all(c.holds(values.get(c.signal)) for c in self.clauses)

    def why(self, values: Mapping[str, float | None]) -> str:
        shown = ", ".join(f"{c.signal} {_fmt(values.get(c.signal))} > {c.above:g}" for c in self.clauses)
        return f"{self.name} ({self.plan}): {shown}"


def _fmt(value) -> str:
    return "none" if value is None else f"{value:.3f}"


def conditions(topology: Mapping) -> dict[str, Condition]:
    """Every declared condition by name; raises ValueError on a malformed entry."""
    signals = topology.get("signals", {})
    out = {}
    for name, entry in topology.get("alerts", {}).items():
        clauses = [Clause(entry["signal"], float(entry["above"]))]
        if extra := entry.get("while"):
            clauses.append(Clause(extra["signal"], float(extra["above"])))
        for clause in clauses:
            if clause.signal not in signals:
                raise ValueError(f"alert {name}: signal {clause.signal!r} is not declared under signals")
        if entry["severity"] not in SEVERITY_ROUTES:
            raise ValueError(f"alert {name}: severity must be one of {sorted(SEVERITY_ROUTES)}")
        rollback = bool(entry.get("rollback", False))
        out[name] = Condition(name, entry["plan"], tuple(clauses), float(entry["for_seconds"]), entry["severity"],
                              rollback, gate=rollback or bool(entry.get("gate", False)))
    return out


def rollback_names(declared: Mapping[str, Condition]) -> set[str]:
    return {name for name, c in declared.items() if c.rollback}


def gates(declared: Mapping[str, Condition]) -> list[Condition]:
    """What a canary step must pass: every rollback condition and every declared gate."""
    return [c for c in declared.values() if c.gate]
