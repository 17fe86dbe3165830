"""The simulate command's output: a rich table per scenario and a PNG chart."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from costsim.compare import GOAL_PEAK_COLD, GOAL_PER_1000, Comparison


def table(c: Comparison) -> Table:
    days = c.rows[0][1].days
    jobs_per_day = c.rows[0][1].jobs / days
    t = Table(title=f"{c.scenario}: {days:.0f} days, {jobs_per_day:,.0f} images/day")
    for col in ("schedule", "$/1k img", "$/day", "cold % all", "cold % peak", "p50 s", "p95 s", "p99 s",
                "inst-h/day", "warm-ups/day"):
        t.add_column(col, justify="left" if col == "schedule" else "right")
    for name, r in c.rows:
        ok = r.per_1000 <= GOAL_PER_1000 and r.peak_cold_share < GOAL_PEAK_COLD
        t.add_row(name, f"{r.per_1000:.2f}", f"{r.per_day:.2f}", f"{r.cold_share:.2%}", f"{r.peak_cold_share:.2%}",
                  f"{r.latency_p50:.1f}", f"{r.latency_p95:.1f}", f"{r.latency_p99:.1f}",
                  f"{r.instance_hours / r.days:.1f}", f"{r.warmups / r.days:.0f}",
                  style="bold green" if ok else None)
    return t


def print_tables(comparisons: list[Comparison], lines: list[str], console: Console | None = None) -> None:
    console = console or Console(width=160)
    for c in comparisons:
        console.print(table(c))
    for line in lines:
        console.print(line)


def chart(comparisons: list[Comparison], path: Path | str) -> Path:
    """Cost per 1,000 images against the peak-window cold-start share, one panel per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(comparisons), figsize=(6.5 * len(comparisons), 5), squeeze=False)
    for ax, c in zip(axes[0], comparisons):
        if c.searched:
            ax.scatter([100 * r.peak_cold_share for _, r in c.searched], [r.per_1000 for _, r in c.searched],
                       s=12, color="lightgray", label="searched schedules", zorder=1)
        for (name, r), marker in zip(c.rows, "o^sDP*"):
            line = c.sweep.get(name)
            if line:  # the same schedule as Cloud Run's idle time shrinks to 60 s
                ax.plot([100 * x.peak_cold_share for _, x in line], [x.per_1000 for _, x in line],
                        marker=marker, markersize=4, linewidth=1, alpha=0.6)
                idle, shortest = line[0]
                ax.annotate(f"idle {idle:g} s", (100 * shortest.peak_cold_share, shortest.per_1000), fontsize=6)
            ax.scatter(100 * r.peak_cold_share, r.per_1000, s=60, marker=marker, label=name, zorder=3)
        ax.axhline(GOAL_PER_1000, color="green", linestyle="--", linewidth=1)
        ax.axvline(100 * GOAL_PEAK_COLD, color="green", linestyle="--", linewidth=1)
        ax.fill_between([0, 100 * GOAL_PEAK_COLD], 0, GOAL_PER_1000, color="green", alpha=0.08, label="goal")
        everything = [r for _, r in c.rows + c.searched] + [r for line in c.sweep.values() for _, r in line]
        ax.set_ylim(0, max([r.per_1000 for r in everything] + [GOAL_PER_1000]) * 1.15)
        ax.set_xlim(-0.05, max([100 * r.peak_cold_share for r in everything] + [100 * GOAL_PEAK_COLD]) * 1.15)
        ax.set_xlabel("peak-window jobs waiting for a cold start (%)")
        ax.set_ylabel("$ per 1,000 images")
        ax.set_title(f"{c.scenario} ({c.rows[0][1].jobs / c.rows[0][1].days:,.0f} images/day); "
                     "lines: idle time 900 s down to 60 s", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
