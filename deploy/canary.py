"""Canary roll-out of the GPU service.

python -m deploy.canary --project P --region R --service S --image IMAGE --tag TAG
    [--steps 10,50,100] [--gate-seconds N] [--min-requests 0] [--max-gate-seconds N]
    [--env KEY=VALUE ...] [--memory 16Gi] [--smoke-image FILE]

1. deploy a new revision with no traffic, under TAG;
2. smoke-test it through the tag's URL (/ready, then one real segmentation);
3. shift traffic step by step; after each step's gate, read the new revision's
   signals (Cloud Monitoring; the local Cloud Run's counts when CLOUD_RUN_ENDPOINT
   is set) and revert to the previous split if any gate of topology.yaml `alerts:`
   holds (every rollback condition, and those marked `gate`), at its declared threshold;
4. at 100 %, record the revision as known-good (what automatic rollback returns to).

Exit status: 0 rolled out, 1 reverted or stopped, 2 bad arguments.
The same code runs in Cloud Build against Cloud Run and in tests against the stand-in.
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from adapters import logs
from adapters.cloud_run import CloudRun, TrafficEntry
from adapters.logs import log
from adapters.metrics import RevisionMetrics, RevisionStats
from adapters.notify import ServiceCaller
from adapters.ops_store import OpsStore
from deploy.traffic_split import same_split, shifted, without_tag
from domain import alerts

logger = logging.getLogger("deploy.canary")


@dataclass
class Options:
    service: str
    image: str
    tag: str
    steps: list[int] = field(default_factory=lambda: [10, 50, 100])
    gate_seconds: float = 300.0
    gates: list[alerts.Condition] = field(default_factory=lambda: declared_gates())
    min_requests: int = 0
    max_gate_seconds: float | None = None  # a quiet gate waits for min_requests up to this long (3 gates)
    env: dict[str, str] = field(default_factory=dict)
    memory: str = ""  # the new revision's memory limit ("16Gi"); empty keeps the service's
    smoke_image: bytes = b""


class Stop(Exception):
    """The roll-out stops here (reason in the message)."""


def declared_gates(topology: dict | None = None) -> list[alerts.Condition]:
    """The gates of topology.yaml (the process's environment fills its placeholders)."""
    import topology as topo  # the one loader of topology.yaml

    return alerts.gates(alerts.conditions(topology if topology is not None else topo.load()))


def judge(stats: RevisionStats, options: Options) -> str | None:
    """Why the gate fails, or None when it passes. A gate judges the step's values,
    whatever its declared duration: the step's own wait is the duration here."""
    if stats.requests < options.min_requests:
        return f"only {stats.requests} requests (need {options.min_requests})"
    values = stats.signals()
    failed = [gate.why(values) for gate in options.gates if gate.breached(values)]
    return "; ".join(failed) or None


def smoke_image() -> bytes:
    """A synthetic photo (an animal-ish blob on a floor) so the smoke test needs no file."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 480), (200, 190, 170))
    draw = ImageDraw.Draw(image)
    draw.ellipse((200, 150, 460, 400), fill=(120, 80, 40))
    draw.ellipse((380, 100, 500, 220), fill=(110, 70, 35))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def smoke(caller: ServiceCaller, url: str, image: bytes, ready_timeout: float = 60.0) -> None:
    """Raises Stop unless the revision answers /ready and cuts out one photo."""
    from PIL import Image

    deadline = time.monotonic() + ready_timeout
    while True:
        try:
            status, _ = caller.call("GET", url + "/ready", timeout=10)
        except Exception as exc:  # noqa: BLE001 - not up yet
            status = f"{type(exc).__name__}"
        if status == 200:
            break
        if time.monotonic() > deadline:
            raise Stop(f"smoke: {url}/ready answered {status} for {ready_timeout:.0f}s")
        time.sleep(1)
    status, body = caller.call("POST", url + "/segment", data=image, headers={"Content-Type": "image/jpeg"},
                               timeout=120)
    if status != 200:
        raise Stop(f"smoke: POST {url}/segment answered {status}: {body[:200]!r}")
    try:
        cut_out, original = Image.open(io.BytesIO(body)), Image.open(io.BytesIO(image))
    except Exception as exc:  # noqa: BLE001
        raise Stop(f"smoke: /segment did not return an image: {exc}") from exc
    if cut_out.format != "PNG" or cut_out.mode != "RGBA" or cut_out.size != original.size:
        raise Stop(f"smoke: /segment returned {cut_out.format} {cut_out.mode} {cut_out.size}, "
                   f"expected PNG RGBA {original.size}")


def roll_out(options: Options, *, cloud_run: CloudRun, metrics: RevisionMetrics, store: OpsStore,
             caller: ServiceCaller, sleep=time.sleep) -> int:
    service = options.service
    before = without_tag(cloud_run.traffic(service), options.tag)
    revision = f"{service}-{options.tag}-{secrets.token_hex(2)}"[:63]
    log(logger, logging.INFO, "deploying", revision=revision, image=options.image, before=_show(before))
    cloud_run.deploy(service, revision=revision, image=options.image, env=options.env, memory=options.memory,
                     traffic=[*before, TrafficEntry(revision, 0, options.tag)])
    store.record("canary_deployed", service=service, revision=revision, image=options.image, tag=options.tag)
    parked = [*before, TrafficEntry(revision, 0, options.tag)]  # the previous split; the tag stays to debug
    current = parked
    try:
        smoke(caller, cloud_run.tag_url(service, options.tag), options.smoke_image or smoke_image())
        log(logger, logging.INFO, "smoke test passed", revision=revision)
        for percent in options.steps:
            current = shifted(before, revision, percent, options.tag)
            cloud_run.set_traffic(service, current)
            log(logger, logging.INFO, "traffic shifted", revision=revision, percent=percent, split=_show(current))
            stats = _gate(options, revision, current, cloud_run=cloud_run, metrics=metrics, sleep=sleep)
            log(logger, logging.INFO, "gate", revision=revision, percent=percent, requests=stats.requests,
                errors=stats.errors, error_rate=round(stats.error_rate, 4), p95_seconds=stats.p95_seconds,
                unavailable=stats.unavailable, mean_seconds=stats.mean_seconds,
                memory_utilization=stats.memory_utilization, startup_seconds=stats.startup_seconds)
            if reason := judge(stats, options):
                raise Stop(f"gate at {percent}%: {reason}")
    except Stop as stop:
        return _stop(str(stop), options, revision, current, parked, cloud_run=cloud_run, store=store)
    store.set_known_good(service, revision, image=options.image, tag=options.tag)
    store.record("canary_done", service=service, revision=revision, image=options.image)
    log(logger, logging.INFO, "rolled out; known-good", revision=revision)
    return 0


def _gate(options: Options, revision: str, split: list[TrafficEntry], *, cloud_run, metrics, sleep) -> RevisionStats:
    """Wait out the gate; a gate that saw too few requests to judge waits longer, up to the limit."""
    started = datetime.now(timezone.utc)
    limit = options.max_gate_seconds if options.max_gate_seconds is not None else 3 * options.gate_seconds
    waited, step = options.gate_seconds, max(1.0, options.gate_seconds / 4)
    _watch(cloud_run, options.service, split, options.gate_seconds, sleep)
    stats = metrics.stats(options.service, revision, started, datetime.now(timezone.utc))
    while stats.requests < options.min_requests and waited < limit:
        _watch(cloud_run, options.service, split, step, sleep)
        waited += step
        stats = metrics.stats(options.service, revision, started, datetime.now(timezone.utc))
    return stats


def _watch(cloud_run: CloudRun, service: str, expected: list[TrafficEntry], seconds: float, sleep) -> None:
    """Wait out `seconds`, stopping early if someone else (an automatic rollback) moved traffic."""
    waited, every = 0.0, max(1.0, min(15.0, seconds / 10))
    while waited < seconds:
        pause = min(every, seconds - waited)
        sleep(pause)
        waited += pause
        if not same_split(cloud_run.traffic(service), expected):
            raise Stop("traffic was changed by someone else during the gate")


def _stop(reason, options, revision, current, parked, *, cloud_run, store) -> int:
    reverted = False
    if same_split(cloud_run.traffic(options.service), current):
        cloud_run.set_traffic(options.service, parked)
        reverted = True
    store.record("canary_stopped", service=options.service, revision=revision, reason=reason, reverted=reverted)
    log(logger, logging.ERROR, "roll-out stopped", revision=revision, reason=reason, reverted=reverted,
        split=_show(parked if reverted else cloud_run.traffic(options.service)))
    return 1


def _show(split: list[TrafficEntry]) -> str:
    return ", ".join(f"{e.revision}={e.percent}%" + (f"[{e.tag}]" if e.tag else "") for e in split)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.canary", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--tag", required=True, type=_tag)
    parser.add_argument("--steps", default="10,50,100", type=_steps)
    parser.add_argument("--gate-seconds", type=float, default=300.0)
    parser.add_argument("--min-requests", type=int, default=0, help="requests a gate needs to judge")
    parser.add_argument("--max-gate-seconds", type=float, help="how long a quiet gate may wait (3 gates)")
    parser.add_argument("--memory", default="", help="memory limit of the new revision, e.g. 16Gi")
    parser.add_argument("--env", action="append", default=[], type=_env, help="KEY=VALUE for the new revision")
    parser.add_argument("--smoke-image", type=Path, help="a photo for the smoke test (default: a synthetic one)")
    return parser.parse_args(argv)


def _tag(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,45}", value):
        raise argparse.ArgumentTypeError("a tag is lower-case letters, digits and dashes, starting with a letter")
    return value


def _steps(value: str) -> list[int]:
    steps = [int(s) for s in value.split(",") if s.strip()]
    if not steps or steps != sorted(set(steps)) or steps[-1] != 100 or steps[0] <= 0:
        raise argparse.ArgumentTypeError("steps must rise strictly from above 0 to 100, e.g. 10,50,100")
    return steps


def _env(value: str) -> tuple[str, str]:
    name, sep, setting = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return name, setting


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from bootstrap import Operations, revision_metrics
    from settings import Settings

    settings = Settings(google_cloud_project=args.project, region=args.region, gpu_service=args.service)
    logs.setup(settings.log_level)
    ops = Operations(settings)
    options = Options(service=args.service, image=args.image, tag=args.tag, steps=args.steps,
                      gate_seconds=args.gate_seconds, min_requests=args.min_requests,
                      max_gate_seconds=args.max_gate_seconds, env=dict(args.env), memory=args.memory,
                      smoke_image=args.smoke_image.read_bytes() if args.smoke_image else b"")
    return roll_out(options, cloud_run=ops.cloud_run, metrics=revision_metrics(settings), store=ops.store,
                    caller=ops.caller)


if __name__ == "__main__":
    sys.exit(main())
