"""Cross-tabulations released with ACRO's own checks as a second opinion.

For a frequency table built from person-level data, :func:`release_crosstab`
counts people by two variables, releases the counts with
:func:`~evaluation.disclosure.tables.suppress_counts` (primary and secondary
suppression, rounding) and, when the ``acro`` package is installed, runs
ACRO's ``crosstab`` checks (threshold, zeros) on the same data with ACRO's
default settings. :func:`acro_agrees` then confirms that every cell ACRO flags
is suppressed in the release; the verdict goes into the output log.
ACRO itself suppresses only the flagged cells and recomputes totals; it does
no secondary suppression, which is why the release uses our own.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evaluation.disclosure.config import DEFAULT, DisclosureConfig
from evaluation.disclosure.tables import suppress_counts

#: Label ACRO gives to crosstab margins.
ACRO_TOTAL = "All"


@dataclass(frozen=True)
class AcroCheck:
    """ACRO's verdict on a crosstab: status, summary, per-cell outcome and SDC detail."""

    status: str
    summary: str
    outcome: pd.DataFrame      # rows x columns of "ok" or the failed check names
    sdc: dict[str, Any]


def acro_available() -> bool:
    """True when the optional ``acro`` package can be imported."""
    try:
        importlib.import_module("acro")
    except ImportError:
        return False
    return True


def acro_crosstab_check(data: pd.DataFrame, index: str, columns: str) -> AcroCheck:
    """Run ACRO's crosstab checks (default ACRO settings, no mitigation) on person-level data."""
    acro = importlib.import_module("acro")
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("acro"):
            logging.getLogger(name).setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        session = acro.ACRO(suppress=False)
        session.crosstab(data[index], data[columns], margins=True)
    record = session.results.get_index(-1)
    return AcroCheck(
        status=record.status,
        summary=record.summary,
        outcome=record.outcome.copy(),
        sdc=json.loads(json.dumps(record.sdc, default=int)),
    )


def count_table(data: pd.DataFrame, index: str, columns: str) -> pd.DataFrame:
    """People per combination of ``index`` and ``columns``, every combination present (zeros kept)."""
    counts = pd.crosstab(data[index], data[columns])
    long = counts.stack().rename("people").reset_index()
    long.columns = [index, columns, "people"]
    return long


def release_crosstab(
    data: pd.DataFrame,
    index: str,
    columns: str,
    config: DisclosureConfig = DEFAULT,
    released_elsewhere=(),
) -> tuple[pd.DataFrame, AcroCheck | None]:
    """Count people by two variables and release the table with every total.

    Returns the released long table (``index, columns, people`` as text) and
    ACRO's check of the same crosstab, or ``None`` when ``acro`` is absent.
    """
    table = count_table(data, index, columns)
    released = suppress_counts(table, ["people"], [index, columns],
                               released_elsewhere=released_elsewhere, config=config)
    check = acro_crosstab_check(data, index, columns) if acro_available() else None
    return released, check


def acro_agrees(
    released: pd.DataFrame, check: AcroCheck, index: str, columns: str,
    count_col: str = "people", config: DisclosureConfig = DEFAULT,
) -> bool:
    """True when every cell ACRO flags (any check other than "ok") is suppressed in ``released``."""
    labels = released.assign(
        _row=released[index].astype(str).replace(config.total_label, ACRO_TOTAL),
        _col=released[columns].astype(str).replace(config.total_label, ACRO_TOTAL),
    ).set_index(["_row", "_col"])[count_col]
    for column in check.outcome.columns:
        for row, verdict in check.outcome[column].items():
            if str(verdict).strip() == "ok":
                continue
            if labels.get((str(row), str(column))) != config.suppressed:
                return False
    return True
