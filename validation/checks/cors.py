"""CORS as the storefront's browser meets it: preflights (OPTIONS with Origin and
Access-Control-Request-*) against the public functions and against a signed PUT URL of the
uploads bucket. The store's origin must be allowed, by name; a foreign origin must not.
Cloud Storage answers a preflight from the bucket's CORS configuration:
https://cloud.google.com/storage/docs/cross-origin"""

from __future__ import annotations

import requests

from validation.context import Context, timed
from validation.report import Verdict


def preflight(url: str, origin: str, method: str, headers: list[str]) -> str:
    """The Access-Control-Allow-Origin the preflight got ('' for none)."""
    response = requests.options(url, timeout=30, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": ",".join(h.lower() for h in headers)})
    allowed = response.headers.get("Access-Control-Allow-Origin", "")
    return allowed if response.status_code < 400 else ""


@timed
def run(ctx: Context) -> Verdict:
    e = ctx.endpoints
    grant = ctx.shopper().grant("image/jpeg", 1000)
    targets = {
        "upload_url": (e.upload_url, "POST", ["Content-Type"]),
        "job_status": (e.job_status, "GET", []),
        "uploads bucket (signed PUT)": (grant["upload_url"], "PUT", list(grant["headers"])),
    }
    problems, seen = [], {}
    for name, (url, method, headers) in targets.items():
        store = preflight(url, e.store_origin, method, headers)
        foreign = preflight(url, e.foreign_origin, method, headers)
        seen[name] = {"store": store, "foreign": foreign}
        if store != e.store_origin:
            problems.append(f"{name}: store origin not allowed (got {store!r})")
        if foreign in (e.foreign_origin, "*"):
            problems.append(f"{name}: foreign origin allowed (got {foreign!r})")
    ok = 2 * len(targets) - len(problems)
    return Verdict("cors", not problems, ok, 2 * len(targets), "answers right",
                   "CORS only for the store's origins", "", "; ".join(problems),
                   figures={"store_origin": e.store_origin, "foreign_origin": e.foreign_origin, "seen": seen})
