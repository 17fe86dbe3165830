"""High-resolution photos (the plan's memory pressure): phone-sized JPEGs of 12 to 48 MP,
inside production's limits (settings.py: 30 MB, 64 MP), uploaded at once through signed URLs;
each must end done."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from settings import Settings
from validation.context import Context, timed
from validation.photos import megapixel_photo
from validation.report import Verdict


@timed
def run(ctx: Context) -> Verdict:
    sizes = ctx.limit("high_res_megapixels")
    settings = Settings()
    photos = {mp: megapixel_photo(mp) for mp in sizes}
    over = [mp for mp, data in photos.items()
            if len(data) > settings.max_upload_bytes or mp * 1e6 > settings.max_pixels]
    if over:
        return Verdict("high_res", False, None, None, "", detail=f"generated photos over production's limits: {over}")

    def one(mp):
        shopper = ctx.shopper()
        return mp, shopper, shopper.follow(shopper.upload(photos[mp], "image/jpeg"), timeout=ctx.job_timeout, every=0.5)

    with ThreadPoolExecutor(len(sizes)) as pool:
        results = list(pool.map(one, sizes))
    done = [(shopper, status) for _, shopper, status in results if status["state"] == "done"]
    ctx.done_jobs += done
    problems = [f"{mp} MP {s['state']} ({s.get('reason') or 'not final'})"
                for mp, _, s in results if s["state"] != "done"]
    figures = {f"{mp}_mp": {"bytes": len(photos[mp]), "state": s["state"], "timings": s.get("timings")}
               for mp, _, s in results}
    return Verdict("high_res", not problems, len(done), len(sizes), "done", ctx.limits["high_res_megapixels"].says,
                   ctx.scaled("high_res_megapixels"), "; ".join(problems) or ", ".join(
                       f"{mp} MP ({len(photos[mp]) / 1e6:.1f} MB) done" for mp in sizes), figures=figures)
