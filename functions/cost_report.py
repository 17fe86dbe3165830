"""Cost report (HTTP): the current budget period's spend, images processed and
cost per 1,000 images, against the plan's ceiling."""

from __future__ import annotations

from adapters.ops import OpsStore
from functions.kpi_report import load_targets

# The plan's ceiling, from the KPI targets (reports/kpis.yaml).
PLAN_CEILING_PER_1000 = load_targets().get("cost_per_1000_images").limit


def handle(*, store: OpsStore) -> dict:
    spend = store.latest_spend()
    if spend is None:
        return {"spend": None, "images_processed": None, "cost_per_1000_images": None,
                "plan_ceiling_per_1000": PLAN_CEILING_PER_1000, "note": "no budget notification received yet"}
    since = spend["interval_start"]
    images = store.jobs_done_since(since)
    cost = float(spend["cost"])
    return {
        "interval_start": since.isoformat(),
        "budget_name": spend.get("budget_name", ""),
        "spend": round(cost, 2),
        "budget": spend.get("budget"),
        "currency": spend.get("currency", ""),
        "budget_fraction": round(float(spend.get("fraction", 0.0)), 4),
        "images_processed": images,
        "cost_per_1000_images": round(cost / images * 1000, 2) if images else None,
        "plan_ceiling_per_1000": PLAN_CEILING_PER_1000,
    }
