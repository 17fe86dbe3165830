"""A burst of concurrent shoppers: 100 ask for signed URLs at once (each its own session and,
where a proxy hop is trusted, its own address, as bench/load_upload_urls.py does), then the
uploading ones PUT a photo through their signed URL at once and follow it to done.

Passes when no request errs (every answer a 201 or a 429 with Retry-After), at least the
rate limits' due share is granted (targets.min_allowed_in_burst), every PUT lands and every
uploaded job ends done."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from validation.client import Refused
from validation.context import Context, timed
from validation.photos import pet_photo
from validation.report import Verdict
from validation.targets import min_allowed_in_burst


@timed
def run(ctx: Context) -> Verdict:
    shoppers, uploads = ctx.limit("burst_shoppers"), ctx.limit("burst_uploads")
    # One new photo per shopper (no mask-cache hit), made before the crowd moves; the signed URL
    # carries its exact size.
    photos = [pet_photo((640, 480)) for _ in range(shoppers)]
    crowd = [ctx.shopper(forwarded_for=f"10.{i // 250}.{i % 250}.1") for i in range(shoppers)]

    def ask(shopper, photo):
        started = time.perf_counter()
        try:
            return shopper.grant("image/jpeg", len(photo), retries=1), 201, time.perf_counter() - started
        except Refused as refused:
            return None, refused.status, time.perf_counter() - started
        except Exception as exc:  # a transport error is an error, as a 5xx is
            return None, repr(exc)[:80], time.perf_counter() - started

    with ThreadPoolExecutor(shoppers) as pool:
        answers = list(pool.map(ask, crowd, photos))
    codes: dict[str, int] = {}
    for _, code, _ in answers:
        codes[str(code)] = codes.get(str(code), 0) + 1
    errors = sum(n for code, n in codes.items() if code not in ("201", "429"))
    granted = [(s, grant, photo) for s, photo, (grant, _, _) in zip(crowd, photos, answers, strict=True)
               if grant][:uploads]

    def upload_and_follow(granted_one):
        shopper, grant, photo = granted_one
        try:
            shopper.put(grant, photo)
        except Exception as exc:
            return {"job_id": grant["job_id"], "state": "put_failed", "reason": str(exc)[:100]}, shopper
        return shopper.follow(grant["job_id"], timeout=ctx.job_timeout, every=0.5), shopper

    with ThreadPoolExecutor(max(1, len(granted))) as pool:
        finished = list(pool.map(upload_and_follow, granted))
    done = [(shopper, s) for s, shopper in finished if s["state"] == "done"]
    ctx.done_jobs += done
    must_grant = min_allowed_in_burst(ctx.target, shoppers)
    problems = []
    if errors:
        problems.append(f"{errors} signed-URL requests erred: {codes}")
    if codes.get("201", 0) < must_grant:
        problems.append(f"only {codes.get('201', 0)} granted, {must_grant} due under the rate limits")
    if len(done) < min(uploads, must_grant):
        bad = [f"{s['state']}:{s.get('reason')}" for s, _ in finished if s["state"] != "done"]
        problems.append(f"{len(done)}/{len(granted)} uploads done; others {bad[:5]}")
    url_seconds = sorted(t for _, _, t in answers)
    summary = (f"{codes.get('201', 0)}/{shoppers} signed URLs granted at once "
               f"(p95 {url_seconds[int(0.95 * (len(url_seconds) - 1))]:.2f} s), {len(done)} photos PUT and done")
    return Verdict("burst", not problems, len(done), min(uploads, must_grant), "done",
                   f"{ctx.limits['burst_shoppers'].says}", ctx.scaled("burst_uploads"),
                   "; ".join(problems) or summary,
                   figures={"shoppers": shoppers, "codes": codes, "uploads": len(granted),
                            "url_p95_seconds": round(url_seconds[int(0.95 * (len(url_seconds) - 1))], 3)})
