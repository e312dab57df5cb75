"""Model and summary estimates made safe to release.

An estimate (hazard ratio, restricted mean, cumulative incidence at a day…)
resting on a handful of people or events can reveal them. In a tidy result
table (:mod:`evaluation.results`) :func:`safe_model_results` blanks the
numbers of any row whose ``n`` or ``events`` is below the minimum and marks it
"not estimable (small numbers)"; the counts of the rows that remain are
rounded to the rounding base.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.disclosure.config import DEFAULT, DisclosureConfig, round_to_base
from evaluation.results import RESULT_COLUMNS

#: Columns that carry a number derived from the data, blanked for unsafe rows.
ESTIMATE_COLUMNS: tuple[str, ...] = ("estimate", "ci_lower", "ci_upper", "se", "statistic", "p_value")

#: Column added to a released result table: why a row is blank, or what to check.
NOTE_COLUMN = "release_note"
COUNTS_NOT_GIVEN = "counts not supplied: output checker to review"


def safe_model_results(
    results: pd.DataFrame,
    min_n: int | None = None,
    min_events: int | None = None,
    config: DisclosureConfig = DEFAULT,
) -> pd.DataFrame:
    """Release a tidy result table: small-number rows blanked, counts rounded.

    A row whose ``n`` is below ``min_n`` or whose ``events`` is below
    ``min_events`` (defaults: the config's ``min_model_n`` and
    ``min_model_events``) keeps its labels, loses every estimate column and
    both counts, and gets ``release_note = config.not_estimable``. Rows without
    counts (e.g. a contrast reported without them) are kept but noted for the
    output checker. Remaining ``n`` and ``events`` are rounded to the rounding
    base. Returns the result columns plus ``release_note``.
    """
    min_n = config.min_model_n if min_n is None else min_n
    min_events = config.min_model_events if min_events is None else min_events
    missing = set(RESULT_COLUMNS) - set(results.columns)
    if missing:
        raise KeyError(f"not a tidy result table; missing {sorted(missing)}")
    out = results[list(RESULT_COLUMNS)].copy().reset_index(drop=True)
    n = pd.to_numeric(out["n"], errors="coerce").astype("float64")
    events = pd.to_numeric(out["events"], errors="coerce").astype("float64")
    small = (n < min_n) | (events < min_events)
    unknown = n.isna() & events.isna()

    for column in ESTIMATE_COLUMNS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64").mask(small)
    for column, values in (("n", n), ("events", events)):
        rounded = pd.Series(round_to_base(values.to_numpy(), config.rounding_base), index=out.index)
        out[column] = rounded.mask(small | values.isna()).round().astype("Int64")
    note = np.where(small, config.not_estimable, np.where(unknown, COUNTS_NOT_GIVEN, ""))
    out[NOTE_COLUMN] = note
    out.attrs["disclosure"] = {
        "min_n": min_n, "min_events": min_events, "rounding_base": config.rounding_base,
        "not_estimable_rows": int(small.sum()), "rows_without_counts": int(unknown.sum()),
    }
    return out
