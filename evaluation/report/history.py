"""Estimates by extract: the headline hazard ratios of every extract analysed, as released.

The evaluation is run again on every new extract, and the question is whether the effect holds
as follow-up lengthens and the post-FSP cohort grows. Each release records its headline rows —
the adjusted post-FSP vs pre-FSP hazard ratio of each outcome, taken from the *released*
``hazard_ratios`` table, so already through disclosure control — under its extract date (the
latest reference date in the data). :func:`estimates_by_extract` puts the releases together:
a release on a newer extract adds rows; one on the same extract again replaces that extract's
rows, so re-running gives the same table.

Where the earlier releases are kept is the caller's business (the Dagster asset keeps them in
its materialisation metadata); this module takes and returns plain tables and JSON-ready records.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Sequence

import pandas as pd

#: The released rows that make the trajectory.
HEADLINE_ANALYSIS = "cox_adjusted"
HEADLINE_CONTRAST = "post_fsp vs pre_fsp"
HEADLINE_TERM = "cohort[post_fsp]"
KEY_COLUMNS: tuple[str, ...] = ("extract_date", "outcome", "analysis", "contrast")
VALUE_COLUMNS: tuple[str, ...] = ("estimate", "ci_lower", "ci_upper", "p_value", "n", "events",
                                  "release_note")
HISTORY_COLUMNS: tuple[str, ...] = KEY_COLUMNS + VALUE_COLUMNS


def headline_estimates(hazard_ratios: pd.DataFrame | None, extract_date: dt.date | str) -> pd.DataFrame:
    """The headline rows of one release's ``hazard_ratios`` table, dated by its extract."""
    if hazard_ratios is None or hazard_ratios.empty:
        return from_records([])
    rows = hazard_ratios[(hazard_ratios["analysis"] == HEADLINE_ANALYSIS)
                         & (hazard_ratios["contrast"] == HEADLINE_CONTRAST)
                         & (hazard_ratios["term"].astype(str) == HEADLINE_TERM)]
    out = rows.reindex(columns=[c for c in HISTORY_COLUMNS if c != "extract_date"]).copy()
    out.insert(0, "extract_date", pd.Timestamp(extract_date).date().isoformat())
    return _typed(out)


def estimates_by_extract(current: pd.DataFrame, earlier: Iterable[pd.DataFrame] = ()) -> pd.DataFrame:
    """Every extract's headline rows, oldest extract first; a later release wins for its extract.

    ``earlier`` are the headline rows of earlier releases, oldest release first; ``current``
    (this release) replaces any rows of its own extract date.
    """
    frames = [_typed(frame.reindex(columns=list(HISTORY_COLUMNS))) for frame in earlier]
    mine = set(current["extract_date"])
    frames = [frame[~frame["extract_date"].isin(mine)] for frame in frames] + [_typed(current)]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return _typed(pd.DataFrame(columns=list(HISTORY_COLUMNS)))
    table = pd.concat(frames, ignore_index=True)
    table = table.drop_duplicates(list(KEY_COLUMNS), keep="last")
    # extracts in date order; within one, the outcomes in the order their release gave them
    return table.sort_values("extract_date", kind="stable").reset_index(drop=True)


def to_records(table: pd.DataFrame) -> list[dict]:
    """JSON-ready rows (missing values as None), for keeping a release's headline rows."""
    table = _typed(table.reindex(columns=list(HISTORY_COLUMNS)))
    return [{column: (None if pd.isna(value) else value) for column, value in row.items()}
            for row in table.astype(object).to_dict(orient="records")]


def from_records(records: Sequence[dict] | None) -> pd.DataFrame:
    """The table :func:`to_records` was given (columns it lacks are left empty)."""
    return _typed(pd.DataFrame(list(records or []), columns=list(HISTORY_COLUMNS)))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in ("extract_date", "outcome", "analysis", "contrast", "release_note"):
        table[column] = table[column].astype("string")
    for column in ("estimate", "ci_lower", "ci_upper", "p_value"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    for column in ("n", "events"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
    return table.reset_index(drop=True)


__all__ = ["HISTORY_COLUMNS", "estimates_by_extract", "from_records", "headline_estimates", "to_records"]
