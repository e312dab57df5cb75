"""Sparse data must give a row that says why, never a crash.

A tiny county, an outcome with a handful of events or a cohort with no
children makes some estimators impossible. :func:`attempt` runs one estimator
and, when it raises the errors estimators use for "cannot be estimated from
these data" (``ValueError``, ``LinAlgError``, ``ZeroDivisionError``,
``KeyError``, ``IndexError``, ``RuntimeError``), returns a tidy row with the
identifying columns filled, every number NaN and the reason in ``method``.
Programming errors (``TypeError``, ``AttributeError``, ...) still raise.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from evaluation.results import tidy

#: Errors that mean "these data cannot support this estimate".
SPARSE_DATA_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, np.linalg.LinAlgError, ZeroDivisionError, KeyError, IndexError, RuntimeError)

NOT_ESTIMABLE = "not estimable"


def not_estimable(reason: str, **keys) -> pd.DataFrame:
    """One tidy row: ``keys`` (outcome, analysis, cohort, ...) and ``method = "not estimable: reason"``."""
    return tidy([{**keys, "method": f"{NOT_ESTIMABLE}: {reason}"}])


def attempt(estimate: Callable[[], pd.DataFrame], **keys) -> pd.DataFrame:
    """``estimate()``, or a :func:`not_estimable` row naming the error when the data cannot support it."""
    try:
        return estimate()
    except SPARSE_DATA_ERRORS as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return not_estimable(message, **keys)


def concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack tidy tables (an empty list gives an empty tidy table)."""
    tables = [t for t in tables if t is not None and len(t)]
    if not tables:
        return tidy([])
    return tidy(pd.concat(tables, ignore_index=True))
