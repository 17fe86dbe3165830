"""Storage integration, read side: every finished job's result is readable through the
signed GET URL job_status hands out, and is an image with an alpha channel (the cut-out)."""

from __future__ import annotations

import io

import requests
from PIL import Image

from validation.context import Context, timed
from validation.report import Verdict

MAX_READS = 12


def readable(url: str) -> str:
    """'' when the URL gives a cut-out, else what went wrong."""
    response = requests.get(url, timeout=60)
    if response.status_code != 200:
        return f"GET {response.status_code}"
    try:
        image = Image.open(io.BytesIO(response.content))
        image.load()
    except Exception as exc:
        return f"not an image: {exc}"[:100]
    return "" if "A" in image.getbands() else f"no alpha channel ({image.mode})"


@timed
def run(ctx: Context) -> Verdict:
    jobs = ctx.done_jobs[-MAX_READS:]
    if not jobs:
        shopper = ctx.shopper()
        from validation.photos import pet_photo

        status = shopper.follow(shopper.upload(pet_photo(), "image/jpeg"), timeout=ctx.job_timeout)
        jobs = [(shopper, status)] if status["state"] == "done" else []
    problems = []
    for shopper, status in jobs:
        # A fresh status: its URL is signed now (they are short-lived: settings.result_url_ttl_seconds).
        url = shopper.status(status["job_id"]).get("result_url")
        why = readable(url) if url else "no result_url on a done job"
        if why:
            problems.append(f"{status['job_id'][:8]}: {why}")
    read = len(jobs) - len(problems)
    return Verdict("results_signed_get", bool(jobs) and not problems, read, len(jobs) or 1, "read",
                   "storage integration: results through signed GET URLs", "", "; ".join(problems[:3]) or
                   ("" if jobs else "no finished job to read"))
