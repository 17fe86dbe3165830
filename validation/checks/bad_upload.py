"""Error handling: bad uploads end with a final status and are not retried for ever, and the
service is healthy after them. A file that is no image (refused at intake by its bytes), a
truncated JPEG (its signature passes: it reaches a decode), and a size the store never takes
(refused when the signed URL is asked for). Then /health is ok and a good photo ends done."""

from __future__ import annotations

from settings import Settings
from validation.checks.health import probe
from validation.client import Refused
from validation.context import Context, timed
from validation.photos import NOT_AN_IMAGE, pet_photo, truncated_photo
from validation.report import Verdict

FINAL_BAD = {"rejected", "failed"}


@timed
def run(ctx: Context) -> Verdict:
    problems, seen = [], {}
    shopper = ctx.shopper()
    for name, data in {"not_an_image": NOT_AN_IMAGE, "truncated_jpeg": truncated_photo()}.items():
        status = shopper.follow(shopper.upload(data, "image/jpeg"), timeout=ctx.job_timeout, every=0.5)
        seen[name] = f"{status['state']}:{status.get('reason')} after {status.get('attempts')} attempt(s)"
        if status["state"] not in FINAL_BAD:
            problems.append(f"{name} ended {status['state']} (not a final refusal)")
    try:
        shopper.grant("image/jpeg", Settings().max_upload_bytes + 1)
        problems.append("an upload over the size limit was granted a URL")
        seen["too_large"] = "granted"
    except Refused as refused:
        seen["too_large"] = f"refused {refused.status}"
        if refused.status >= 500:
            problems.append(f"too_large answered {refused.status}")
    healthy, why = probe(ctx)
    if not healthy:
        problems.append(f"unhealthy after the bad uploads: {why}")
    good = shopper.follow(shopper.upload(pet_photo(), "image/jpeg"), timeout=ctx.job_timeout)
    seen["good_after"] = good["state"]
    if good["state"] != "done":
        problems.append(f"a good photo after them ended {good['state']} ({good.get('reason') or 'not final'})")
    return Verdict("bad_upload", not problems, len(seen) - len(problems), len(seen), "as expected",
                   "bad input: a clear error and a final status; service healthy after", "",
                   "; ".join(problems), figures=seen)
