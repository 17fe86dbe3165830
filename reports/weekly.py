"""The weekly report: the week's KPIs, latency and cost per day, the GPU service's health,
recommendations and action items, as Markdown and JSON, with a chart (PNG).

matplotlib is a dev dependency (requirements-dev.txt): this runs from the CLI, never
inside a function."""

from __future__ import annotations

import json
from pathlib import Path

from domain.kpi import KpiReport
from domain.kpi_targets import Targets, show
from functions import kpi_report

# What to look at when a KPI missed its target on some day of the week.
ADVICE = {
    "cold_start_p99": "Cold starts are slow: check the model load time on /health and the image size; "
                      "consider min instances 1 in the busiest window.",
    "cold_start_p95": "Many slow cold starts: raise min instances where the week's cold starts cluster, "
                      "or pre-warm earlier (scheduler/schedules.yaml).",
    "warm_p95": "Warm processing is slow: check GPU memory and batch sizes on /metrics, and the queue depth.",
    "warm_p99": "Some warm jobs are slow: look for oversized photos and for queueing behind batches.",
    "error_rate": "Errors above 2 %: read the failed jobs' reasons and the dead letters.",
    "valid_success_rate": "Valid photos failed: check the GPU service's failures and stuck jobs.",
    "availability": "Availability missed: read the GPU service's 5xx answers and revision changes that day.",
    "availability_peak": "Evening peak availability missed: check the peak window's min/max instances.",
    "availability_holiday": "Holiday availability missed: the season needs more headroom (holiday windows).",
    "cost_per_1000_images": "Cost per 1,000 images over target: check idle instances (min instances) and "
                            "warm-ups against the week's traffic (python -m costsim simulate).",
}


def recommendations(report: KpiReport) -> list[dict]:
    return [{"kpi": r.kpi.name, "days_missed": r.violations, "advice": ADVICE.get(r.kpi.name, "")}
            for r in report.results if r.violations]


def _daily_rows(report: KpiReport) -> list[dict]:
    by_name = {r.kpi.name: r for r in report.results}
    return [{"day": day.isoformat(), "done": report.daily_done[day],
             "low_confidence": report.daily_low_confidence.get(day, 0),
             "warm_p95_s": by_name["warm_p95"].daily[day], "cold_start_p95_s": by_name["cold_start_p95"].daily[day],
             "cost": report.daily_cost[day], "cost_per_1000_images": by_name["cost_per_1000_images"].daily[day]}
            for day in report.daily_done]


def as_json(report: KpiReport, targets: Targets, health: dict | None) -> dict:
    advice = recommendations(report)
    return {"kpis": kpi_report.as_json(report, targets), "daily": _daily_rows(report), "system_health": health,
            "recommendations": advice,
            "action_items": [f"Investigate {a['kpi']} ({a['days_missed']} day(s) missed)" for a in advice]}


def markdown(report: KpiReport, targets: Targets, data: dict, chart_name: str | None) -> str:
    """`data` is as_json's, built once for both files."""
    health = data["system_health"]
    lines = [f"# Weekly report {report.first_day} to {report.last_day}", "",
             f"{report.violations} KPI violation(s) over the week ({targets.time_zone}).", "", "## KPIs", "",
             "| KPI | target | value | met | violation days | samples |", "| --- | --- | --- | --- | --- | --- |"]
    for r in report.results:
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.kpi.label} | {r.kpi.describe()} | {show(r.value, r.kpi.unit)} | {met} | "
                     f"{r.violations} | {r.samples} |")
    lines += ["", "## Latency and cost per day", "",
              "| day | images | warm p95 | cold start p95 | cost | cost per 1,000 | low confidence |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in data["daily"]:
        lines.append(f"| {row['day']} | {row['done']} | {show(row['warm_p95_s'], 's')} | "
                     f"{show(row['cold_start_p95_s'], 's')} | {show(row['cost'], '$')} | "
                     f"{show(row['cost_per_1000_images'], '$')} | {row['low_confidence']} |")
    if chart_name:
        lines += ["", f"![latency and cost per day]({chart_name})"]
    lines += ["", "## System health", ""]
    lines.append("```json\n" + json.dumps(health, indent=2) + "\n```" if health else "Not read (no GPU service URL).")
    lines += ["", "## Recommendations", ""]
    lines += [f"- {a['advice']}" for a in data["recommendations"]] or ["- None: every KPI met its target every day."]
    lines += ["", "## Action items", ""]
    lines += [f"- [ ] {item}" for item in data["action_items"]] or ["- None."]
    return "\n".join(lines) + "\n"


def chart(report: KpiReport, targets: Targets, rows: list[dict], path: Path) -> Path:
    """`rows` are as_json's daily rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [row["day"][5:] for row in rows]
    nan = float("nan")
    figure, (latency, cost) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for key, label in (("warm_p95_s", "warm p95"), ("cold_start_p95_s", "cold start p95")):
        latency.plot(days, [nan if row[key] is None else row[key] for row in rows], marker="o", label=label)
    for name in ("warm_p95", "cold_start_p95"):
        latency.axhline(targets.get(name).limit, linestyle="--", linewidth=0.8, color="grey")
    latency.set_ylabel("seconds")
    latency.set_title(f"Latency and cost per day, {report.first_day} to {report.last_day}")
    latency.legend()
    cost.bar(days, [0 if row["cost"] is None else row["cost"] for row in rows], color="tab:green")
    for day, row in zip(days, rows, strict=True):
        if row["cost"] is None:
            cost.annotate("no data", (day, 0), ha="center", va="bottom", fontsize=8)
    # USD, not "$": matplotlib reads a pair of dollar signs as mathtext.
    cost.set_ylabel(f"cost per day (USD; budget {targets.daily_budget:g})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write(report: KpiReport, targets: Targets, health: dict | None, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"weekly-{report.last_day.isoformat()}"
    data = as_json(report, targets, health)  # once: the JSON file, the Markdown and the chart all read it
    png = chart(report, targets, data["daily"], out / f"{stem}.png")
    md = out / f"{stem}.md"
    md.write_text(markdown(report, targets, data, png.name))
    js = out / f"{stem}.json"
    js.write_text(json.dumps(data, indent=2) + "\n")
    return [md, js, png]
