"""Sparse data must give a row that says why, never a crash; a bug must still crash.

A tiny county, an outcome with a handful of events or a cohort with no
children makes some estimators impossible. The estimators say so by raising
:class:`~evaluation.errors.NotEstimable` (too few events, no variation, an
empty group, a singular information matrix, a fit that did not converge; a
library's ``LinAlgError`` or convergence failure is wrapped into it inside the
estimator). :func:`attempt` runs one estimator and, for ``NotEstimable`` only,
returns a tidy row with the identifying columns filled, every number NaN and
the reason in ``method``. Every other error (``KeyError`` from a missing
column, ``IndexError``, a library's ``ValueError``, ...) is a bug or bad input
and raises, so it can never reach a released report as a small-numbers row.

The reason is released, so it is always in our own plain words
(:func:`released_reason`): a message raised by this project's code (which
says what the data lack, e.g. "fewer than 10 events") is kept; anything else
(a library's text, should one ever arrive) is replaced by a fixed phrase and
kept only in the log.
"""

from __future__ import annotations

import functools
import logging
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from evaluation.errors import NOT_CONVERGED, SINGULAR, NotEstimable
from evaluation.results import tidy

#: The only error that means "these data cannot support this estimate".
SPARSE_DATA_ERRORS: tuple[type[BaseException], ...] = (NotEstimable,)

NOT_ESTIMABLE = "not estimable"
#: Released wording for failures whose message came from a library (NOT_CONVERGED and SINGULAR
#: are the words :func:`evaluation.errors.estimable` gives them inside the estimators).
TOO_FEW = "not estimable: too few children or events for this model"

_PACKAGE = Path(__file__).resolve().parents[1]  # evaluation/
_log = logging.getLogger(__name__)
_CONVERGENCE_WORDS = ("converge", "nan", "deviance", "separation", "inf", "overflow", "iteration")


def _raised_by_us(error: BaseException) -> bool:
    """Whether the innermost frame that raised ``error`` is in this project's ``evaluation`` code."""
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    if not frames:
        return False
    try:
        return Path(frames[-1].filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


def released_reason(error: BaseException) -> str:
    """A reason fit to release for ``error``: our own message, or a fixed plain phrase.

    Returns the text after "not estimable: " for our messages, or a full phrase
    (``NOT_CONVERGED``, ``SINGULAR``, ``TOO_FEW``) for a library's; the
    library's own text goes to the log only.
    """
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    if first and _raised_by_us(error):
        return first
    _log.info("estimate not made: %s: %s", type(error).__name__, text or "(no message)")
    lowered = first.lower()
    if isinstance(error, np.linalg.LinAlgError) or "singular" in lowered:
        return SINGULAR
    if isinstance(error, RuntimeError) or any(w in lowered for w in _CONVERGENCE_WORDS):
        return NOT_CONVERGED
    return TOO_FEW


def not_estimable(reason: str, **keys) -> pd.DataFrame:
    """One tidy row: ``keys`` (outcome, analysis, cohort, ...) and ``method = "not estimable: reason"``
    (or ``reason`` itself when it is already a full phrase such as :data:`NOT_CONVERGED`)."""
    full = reason.startswith(("not fitted:", f"{NOT_ESTIMABLE}:"))
    return tidy([{**keys, "method": reason if full else f"{NOT_ESTIMABLE}: {reason}"}])


def attempt(estimate: Callable[[], pd.DataFrame], **keys) -> pd.DataFrame:
    """``estimate()``, or a :func:`not_estimable` row naming the reason when it raises
    :class:`~evaluation.errors.NotEstimable`; any other error raises."""
    try:
        return estimate()
    except NotEstimable as error:
        return not_estimable(released_reason(error), **keys)


def concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack tidy tables (an empty list gives an empty tidy table)."""
    tables = [t for t in tables if t is not None and len(t)]
    if not tables:
        return tidy([])
    return tidy(pd.concat(tables, ignore_index=True))


def one_blas_thread(function: Callable) -> Callable:
    """``function`` run with OpenBLAS (numpy, scipy, statsmodels) on one thread: the analysis steps
    make thousands of small matrix products (p of 40 at most), which gain nothing from more threads,
    and on the shared two-core machine a multi-threaded OpenBLAS spins its threads on each — a
    Cox model's information matrix cost 64 ms of CPU instead of 5.5 ms (as in
    :func:`evaluation.comparison.synthetic.run_synthetic_control`)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return run

