"""Cohort flow diagram: how the extract narrows to the analysed families, per cohort.

Takes the released flow table of :func:`evaluation.cohorts.flow.cohort_flow`
(``step, stage, reason, description, cohort, families, children``; stages
start / excluded / remaining / analysed, cohort "all" before the split into
cohorts) after :func:`evaluation.disclosure.flow.release_flow`. A simpler
table with ``step`` labels, ``cohort``, ``families``, ``children`` and
``excluded_reason`` (why people were lost on the way into the step) is also
accepted. Numbers are the released (rounded or suppressed) ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.patches import FancyBboxPatch

from evaluation.figures.style import GREY, OKABE_ITO, colours_for, house_figure, label_for, no_data, ordered, save_png

SHARED = ("all", "All", "Total")
KEPT = ("start", "remaining", "analysed")


@dataclass
class Level:
    """One row of boxes: a shared box or one per cohort, and what was excluded on the way in."""

    label: str
    shared: pd.Series | None = None
    cohorts: dict = field(default_factory=dict)
    excluded: str | None = None


def _is_shared(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or value in SHARED


def _counts(row) -> str:
    return f"{row['families']} families, {row['children']} children"


def flow_levels(flow: pd.DataFrame) -> list[Level]:
    """The flow table as levels of boxes, top to bottom."""
    levels: list[Level] = []
    if "stage" in flow.columns:
        pending: list[str] = []          # exclusions on the way to the next level of boxes
        for step, rows in flow.groupby("step", sort=True):
            excluded = rows[(rows["stage"] == "excluded") & rows["cohort"].map(_is_shared)]
            for _, row in excluded.iterrows():
                pending.append(f"{row['description']}: {row['children']} children ({row['families']} families)")
            kept = rows[rows["stage"].isin(KEPT)]
            if kept.empty:
                continue
            note, pending = ("; ".join(pending) or None), []
            shared = kept[kept["cohort"].map(_is_shared)]
            cohorts = {row["cohort"]: row for _, row in kept.iterrows() if not _is_shared(row["cohort"])}
            label = str(kept.iloc[0]["description"])
            levels.append(Level(label, shared.iloc[0] if len(shared) else None, cohorts, note))
        return levels
    for step in dict.fromkeys(flow["step"]):
        rows = flow[flow["step"] == step]
        shared = rows[rows["cohort"].map(_is_shared)]
        cohorts = {row["cohort"]: row for _, row in rows.iterrows() if not _is_shared(row["cohort"])}
        reasons = rows["excluded_reason"].dropna().astype(str) if "excluded_reason" in rows else []
        levels.append(Level(str(step), shared.iloc[0] if len(shared) else None, cohorts,
                            reasons.iloc[0] if len(reasons) else None))
    return levels


def _box(axes, x, y, width, text, colour):
    axes.add_patch(FancyBboxPatch((x - width / 2, y - 0.32), width, 0.64,
                                  boxstyle="round,pad=0.02,rounding_size=0.08",
                                  facecolor="white", edgecolor=colour, linewidth=1.3))
    axes.text(x, y, text, ha="center", va="center", fontsize=7.5)


def flow_figure(flow: pd.DataFrame, path: str | Path, title: str = "Cohort flow") -> Path:
    """Boxes per level (shared boxes full width, then one per cohort), arrows, exclusions beside."""
    levels = flow_levels(flow) if len(flow) else []
    cohorts = ordered([c for level in levels for c in level.cohorts])
    colours = colours_for(cohorts)
    n_columns = max(len(cohorts), 1)
    with house_figure(2.3 * max(n_columns, 2) + 2.6, 0.9 * max(len(levels), 1) + 0.8) as figure:
        if not levels:
            no_data(figure, "No flow table was produced")
            return save_png(figure, path)
        axes = figure.add_subplot()
        axes.set_axis_off()
        axes.set_xlim(-0.5, n_columns + 1.1)
        axes.set_ylim(-len(levels) + 0.4, 0.6)
        centre = (n_columns - 1) / 2
        previous: dict = {}
        for index, level in enumerate(levels):
            y = -index
            placed = {}
            if level.cohorts:
                for k, cohort in enumerate(cohorts):
                    if cohort in level.cohorts:
                        row = level.cohorts[cohort]
                        _box(axes, k, y, 0.92, f"{label_for(cohort)}\n{_counts(row)}", colours[cohort])
                        placed[cohort] = k
                axes.text(n_columns - 0.4, y, level.label, fontsize=7, color=GREY, va="center", ha="left")
            elif level.shared is not None:
                _box(axes, centre, y, min(n_columns, 3) * 0.95,
                     f"{level.label}\n{_counts(level.shared)}", GREY)
                placed = {"all": centre}
            for cohort, x in placed.items():
                if cohort in previous:
                    starts = [previous[cohort]]
                elif "all" in previous:
                    starts = [previous["all"]]
                else:                         # a shared box below cohort boxes: arrows from each
                    starts = list(previous.values())
                for start in starts:
                    axes.annotate("", (x, y + 0.33), (start, y + 0.67),
                                  arrowprops=dict(arrowstyle="->", color=GREY, linewidth=1))
            if index and level.excluded:
                axes.text(n_columns - 0.4, y + 0.5, f"Excluded: {level.excluded}", fontsize=7,
                          color=OKABE_ITO["vermillion"], va="center", ha="left")
            previous = placed or previous
        axes.set_title(title, loc="left")
        return save_png(figure, path)
