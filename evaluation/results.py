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


#: Result columns held as floats, and as nullable integers (counts).
_FLOATS = frozenset(("time", "estimate", "ci_lower", "ci_upper", "se", "statistic", "p_value"))
_COUNTS = frozenset(("n", "events"))


def tidy(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Return ``rows`` as a result table with exactly :data:`RESULT_COLUMNS`.

    Extra keys raise, so that a typo cannot silently drop a value.
    """
    frame = pd.DataFrame(rows)
    extra = set(frame.columns) - set(RESULT_COLUMNS)
    if extra:
        raise ValueError(f"unknown result columns: {sorted(extra)}")
    columns = {}
    for column in RESULT_COLUMNS:   # built column by column, then framed once
        values = frame[column] if column in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        if column in _FLOATS:
            values = pd.to_numeric(values, errors="coerce").astype("float64")
        elif column in _COUNTS:
            values = pd.to_numeric(values, errors="coerce").astype("Int64")
        columns[column] = values
    return pd.DataFrame(columns, index=frame.index).reset_index(drop=True)

