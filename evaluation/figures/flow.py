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

from evaluation.figures.style import (
    GREY, OKABE_ITO, colours_for, house_figure, label_for, no_data, ordered, save_png, title_figure, wrapped,
)

SHARED = ("all", "All", "Total")
#: Width of the notes beside the boxes, in inches of title font (they are smaller: 7 pt).
SIDE_INCHES = 3.5
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


def _plain(label: str) -> str:
    """A step's description as a sentence ("remaining after: x" -> "Remaining after excluding: x")."""
    text = str(label)
    if text.startswith("remaining after: "):
        text = "remaining after excluding " + text[len("remaining after: "):]
    return text[:1].upper() + text[1:]


def _counts(row, separator: str = "\n") -> str:
    return f"{row['families']} families{separator}{row['children']} children"


def _nobody(row) -> bool:
    """An exclusion of nobody (released as 0 children): not drawn. A suppressed count (``c``) is drawn."""
    return str(row["children"]).strip() in ("0", "0.0")


def _same_counts(before: Level, after: Level) -> bool:
    """Two levels with the same boxes and the same numbers in each (nothing happened between them)."""
    if (before.shared is None) != (after.shared is None) or set(before.cohorts) != set(after.cohorts):
        return False
    pairs = [(before.shared, after.shared)] if before.shared is not None else []
    pairs += [(before.cohorts[c], after.cohorts[c]) for c in before.cohorts]
    return all(str(a["families"]) == str(b["families"]) and str(a["children"]) == str(b["children"])
               for a, b in pairs)


def flow_levels(flow: pd.DataFrame) -> list[Level]:
    """The flow table as levels of boxes, top to bottom."""
    levels: list[Level] = []
    if "stage" in flow.columns:
        pending: list[str] = []          # exclusions on the way to the next level of boxes
        for step, rows in flow.groupby("step", sort=True):
            excluded = rows[(rows["stage"] == "excluded") & rows["cohort"].map(_is_shared)]
            for _, row in excluded.iterrows():
                if _nobody(row):
                    continue                       # only the exclusions that happened are drawn
                pending.append(f"{row['description']}: {row['children']} children ({row['families']} families)")
            kept = rows[rows["stage"].isin(KEPT)]
            if kept.empty:
                continue
            note, pending = ("; ".join(pending) or None), []
            shared = kept[kept["cohort"].map(_is_shared)]
            cohorts = {row["cohort"]: row for _, row in kept.iterrows() if not _is_shared(row["cohort"])}
            label = str(kept.iloc[0]["description"])
            level = Level(label, shared.iloc[0] if len(shared) else None, cohorts, note)
            if levels and note is None and _same_counts(levels[-1], level):
                # nothing excluded on the way: one box, named by the first step (or as analysed)
                if (kept["stage"] == "analysed").any():
                    levels[-1].label = label
                continue
            levels.append(level)
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
    axes.add_patch(FancyBboxPatch((x - width / 2, y - 0.34), width, 0.68,
                                  boxstyle="round,pad=0.02,rounding_size=0.08",
                                  facecolor="white", edgecolor=colour, linewidth=1.3))
    axes.text(x, y, text, ha="center", va="center", fontsize=7.5)


def flow_figure(flow: pd.DataFrame, path: str | Path,
                title: str = "Cohort flow: from the extract to the families and children analysed") -> Path:
    """Boxes per level (shared boxes full width, then one per cohort), arrows, exclusions beside."""
    levels = flow_levels(flow) if len(flow) else []
    cohorts = ordered([c for level in levels for c in level.cohorts])
    colours = colours_for(cohorts)
    n_columns = max(len(cohorts), 1)
    with house_figure(1.45 * max(n_columns, 2) + 2.7, 1.0 * max(len(levels), 1) + 0.9) as figure:
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
                axes.text(n_columns - 0.4, y, wrapped(_plain(level.label), SIDE_INCHES), fontsize=7, color=GREY,
                          va="center", ha="left")
            elif level.shared is not None:
                _box(axes, centre, y, min(n_columns, 3) * 0.95,
                     f"{wrapped(_plain(level.label), 3.6)}\n{_counts(level.shared, ', ')}", GREY)
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
                axes.text(n_columns - 0.4, y + 0.5, wrapped(f"Excluded: {level.excluded}", SIDE_INCHES), fontsize=7,
                          color=OKABE_ITO["vermillion"], va="center", ha="left")
            previous = placed or previous
        title_figure(figure, title)
        return save_png(figure, path)
