"""The tidy result table every estimator returns.

One row per estimate, so that the release step can apply disclosure control
to any analysis in the same way and the report can lay them out uniformly.
"""

from __future__ import annotations

import numpy as np
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
#: Their dtypes, and what fills a column an estimate leaves out (NaN in the other columns too).
_DTYPES = {**{c: "float64" for c in _FLOATS}, **{c: "Int64" for c in _COUNTS}}
_MISSING = {c: pd.NA for c in _COUNTS}


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
        if column not in frame.columns:   # missing: all NaN (<NA> in a count column)
            values = pd.array([_MISSING.get(column, np.nan)] * len(frame), dtype=_DTYPES.get(column, object))
        else:
            values = frame[column]
            wanted = _DTYPES.get(column)
            if wanted is not None and values.dtype != wanted:   # a stacked table's already are
                values = pd.to_numeric(values, errors="coerce").astype(wanted)
            values = values.array
        columns[column] = values
    # Framed from the columns' arrays (copied, as a dict's are): no index to align, none to reset.
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
