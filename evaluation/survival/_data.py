"""Check and normalise survival input columns once, for every estimator.

Every estimator takes a DataFrame plus column names: ``duration`` (days from
time zero to exit or censoring), ``event`` (0/1), and optionally ``entry``
(delayed entry: the subject is at risk on ``(entry, duration]``), ``weights``,
``strata`` and ``cluster`` (family id). :func:`survival_data` turns those into
plain numpy arrays and raises a ``ValueError`` naming the column for anything
an estimator would otherwise silently mis-handle (missing values, negative
times, ``entry >= duration``, event codes other than 0/1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.errors import NotEstimable


@dataclass(frozen=True)
class SurvivalData:
    """Validated survival columns as numpy arrays (one element per row).

    ``entry`` is all zeros and ``weights`` all ones when not given.
    ``strata`` and ``cluster`` are integer codes 0..k-1 into the sorted
    ``strata_labels`` / ``cluster_labels``, or ``None`` when not given.
    """

    duration: np.ndarray
    event: np.ndarray
    entry: np.ndarray
    weights: np.ndarray
    strata: np.ndarray | None = None
    strata_labels: np.ndarray | None = None
    cluster: np.ndarray | None = None
    cluster_labels: np.ndarray | None = None
    has_entry: bool = False
    has_weights: bool = False

    def __len__(self) -> int:
        return len(self.duration)

    def subset(self, mask: np.ndarray) -> "SurvivalData":
        """Rows where ``mask`` is true; strata and cluster codes keep their labels."""
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return SurvivalData(
            duration=self.duration[mask],
            event=self.event[mask],
            entry=self.entry[mask],
            weights=self.weights[mask],
            strata=pick(self.strata),
            strata_labels=self.strata_labels,
            cluster=pick(self.cluster),
            cluster_labels=self.cluster_labels,
            has_entry=self.has_entry,
            has_weights=self.has_weights,
        )


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        raise ValueError(f"column {name!r} not found in the data")
    values = df[name]
    missing = int(values.isna().sum())
    if missing:
        raise ValueError(f"column {name!r} has {missing} missing value(s)")
    return values


def _numeric(df: pd.DataFrame, name: str) -> np.ndarray:
    values = _column(df, name)
    try:
        array = pd.to_numeric(values).to_numpy(dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"column {name!r} must be numeric") from error
    if not np.all(np.isfinite(array)):
        raise ValueError(f"column {name!r} has infinite value(s)")
    return array


def _codes(df: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    codes, labels = pd.factorize(_column(df, name), sort=True)
    return codes.astype(np.int64), np.asarray(labels)


def survival_data(
    df: pd.DataFrame,
    duration: str,
    event: str,
    entry: str | None = None,
    weights: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
) -> SurvivalData:
    """Validate the named columns of ``df`` and return them as :class:`SurvivalData`.

    Raises ``ValueError`` for an empty frame, a missing column, missing or
    infinite values, negative durations or entry times, ``entry >= duration``
    (nobody can leave before entering), event codes other than 0/1, and
    weights that are not positive.
    """
    if len(df) == 0:
        raise NotEstimable("no rows: survival estimators need at least one subject")
    stop = _numeric(df, duration)
    if np.any(stop < 0):
        raise ValueError(f"column {duration!r} has {int(np.sum(stop < 0))} negative time(s)")

    status = _numeric(df, event)
    if not np.all(np.isin(status, (0.0, 1.0))):
        bad = sorted(set(status[~np.isin(status, (0.0, 1.0))].tolist()))[:5]
        raise ValueError(f"column {event!r} must be 0 (censored) or 1 (event); found {bad}")

    if entry is None:
        start = np.zeros_like(stop)
    else:
        start = _numeric(df, entry)
        if np.any(start < 0):
            raise ValueError(f"column {entry!r} has {int(np.sum(start < 0))} negative time(s)")
        bad = int(np.sum(start >= stop))
        if bad:
            raise ValueError(
                f"{bad} row(s) have {entry!r} >= {duration!r}: a subject is at risk on "
                "(entry, duration], so it must leave after it enters"
            )

    if weights is None:
        weight = np.ones_like(stop)
    else:
        weight = _numeric(df, weights)
        if np.any(weight <= 0):
            raise ValueError(f"column {weights!r} must be positive")

    strata_codes = strata_labels = cluster_codes = cluster_labels = None
    if strata is not None:
        strata_codes, strata_labels = _codes(df, strata)
    if cluster is not None:
        cluster_codes, cluster_labels = _codes(df, cluster)

    return SurvivalData(
        duration=stop,
        event=status.astype(bool),
        entry=start,
        weights=weight,
        strata=strata_codes,
        strata_labels=strata_labels,
        cluster=cluster_codes,
        cluster_labels=cluster_labels,
        has_entry=entry is not None,
        has_weights=weights is not None,
    )
