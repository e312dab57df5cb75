"""The tidy result table every estimator returns.

One row per estimate, so that the release step can apply disclosure control
to any analysis in the same way and the report can lay them out uniformly.
"""

from __future__ import annotations

import pandas as pd

#: Columns of a tidy result table, in order. Columns that do not apply to an
#: estimate are left missing (NaN / None), never dropped.
RESULT_COLUMNS: tuple[str, ...] = (
    "outcome",      # e.g. "time_in_protection"
    "analysis",     # e.g. "kaplan_meier", "cox", "rmst", "logrank"
    "cohort",       # "pre_fsp" / "transition" / "post_fsp", or None for a contrast
    "contrast",     # e.g. "post_fsp vs pre_fsp", or None
    "combination",  # risk-factor combination label, or "all"
    "term",         # model term / statistic name / cause, or None
    "time",         # time point in days for curve-type estimates, else NaN
    "estimate",
    "ci_lower",
    "ci_upper",
    "se",
    "statistic",
    "p_value",
    "n",            # people contributing
    "events",       # events contributing
    "method",       # short human-readable description, e.g. "Cox, Efron ties, family-clustered SE"
)


def tidy(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Return ``rows`` as a result table with exactly :data:`RESULT_COLUMNS`.

    Extra keys raise, so that a typo cannot silently drop a value.
    """
    frame = pd.DataFrame(rows)
    extra = set(frame.columns) - set(RESULT_COLUMNS)
    if extra:
        raise ValueError(f"unknown result columns: {sorted(extra)}")
    for column in RESULT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[list(RESULT_COLUMNS)]
    for column in ("time", "estimate", "ci_lower", "ci_upper", "se", "statistic", "p_value"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in ("n", "events"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    return frame.reset_index(drop=True)
