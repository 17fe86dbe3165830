"""Verdicts and the report: a table for people, JSON for the build's artifacts."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Verdict:
    check: str
    passed: bool
    measured: object = None
    limit: object = None
    unit: str = ""
    plan: str = ""
    scaled: str = ""  # why the limit differs from the plan's number (local only)
    detail: str = ""
    seconds: float = 0.0
    figures: dict = field(default_factory=dict)


def _fmt(value, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "B" and isinstance(value, (int, float)):
        return f"{value / 1024 ** 3:.2f} GiB"
    if isinstance(value, float):
        return f"{value:.2f} {unit}".strip()
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) + f" {unit}"
    return f"{value} {unit}".strip()


def table(verdicts: list[Verdict], target: str, scale_notes: dict, notes: dict | None = None) -> str:
    rows = [("check", "verdict", "measured", "limit", "plan")]
    rows += [(v.check, "PASS" if v.passed else "FAIL", _fmt(v.measured, v.unit), _fmt(v.limit, v.unit), v.plan)
             for v in verdicts]
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    lines = [f"validation against {target}"]
    for i, row in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
        if i == 0:
            lines.append("-" * (sum(widths) + 8 + 30))
    for v in verdicts:
        if not v.passed or v.detail:
            lines.append(f"  {v.check}: {v.detail}")
    if scale_notes:
        lines.append("scaled for this machine (limit = plan x factor):")
        for name, (factor, why) in scale_notes.items():
            lines.append(f"  {name}: {'x' + format(factor, 'g') if factor is not None else 'sizes changed'}: {why}")
    if notes:
        lines.append("other local differences:")
        lines += [f"  {name}: {why}" for name, why in notes.items()]
    passed = sum(v.passed for v in verdicts)
    lines.append(f"{passed}/{len(verdicts)} checks passed: {'GATE OPEN' if passed == len(verdicts) else 'GATE CLOSED'}")
    return "\n".join(lines)


def write_json(path: Path, verdicts: list[Verdict], target: str, scale_notes: dict, endpoints: dict,
               notes: dict | None = None) -> None:
    body = {
        "target": target, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"host": platform.node(), "python": platform.python_version()},
        "passed": all(v.passed for v in verdicts),
        "scaled": {name: {"factor": f, "why": why} for name, (f, why) in scale_notes.items()},
        "notes": notes or {},
        "endpoints": endpoints,
        "checks": [asdict(v) for v in verdicts],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2, default=str))
