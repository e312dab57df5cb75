"""Model design shared by every analysis: which rows, which terms, which strata.

The analysis dataset (:mod:`evaluation.cohorts.analysis_dataset`) has one row
per child × outcome. Every estimator in this package is fitted to the rows of
one outcome with the same conventions, decided here once:

* cohorts are compared with pre-FSP as the reference: terms ``cohort[post_fsp]``
  and ``cohort[transition]`` (0/1 columns; a cohort with no rows gives a constant
  column, which the Cox fit reports as not estimable rather than failing);
* delayed entry (``entry``) is used only when some row of the outcome enters
  late, so that right-censored outcomes get the plain estimators (survdiff's
  log-rank rather than the Cox score test);
* with more than one local authority, Cox models are stratified by
  ``la_code`` (each council its own baseline hazard), log-rank tests get an
  LA-stratified version, and models without strata (propensity, Fine–Gray)
  get LA indicator terms;
* the adjustment set is the categorical covariates as indicators against
  their most common level, and ``family_size``, ``prior_cin_episodes`` and
  ``lockdown_period`` as numbers -- all known at time zero. The three
  parental risk flags and ``primary_need`` come from the index assessment,
  made after time zero by a service the programme changed: the primary
  design (:func:`study_adjustment`) leaves them out, and
  ``StudyConfig.adjust_for_index_assessment`` (a sensitivity) puts them in.
  Levels with fewer than ``min_rows`` rows or ``min_events`` events in the
  model's data are pooled with the reference level, so that a rare category
  cannot make the likelihood monotone (nuisance terms only: the cohort terms
  are never pooled).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd

from evaluation.codes.groupings import COMBINATIONS
from evaluation.study import COHORTS, StudyConfig

REFERENCE = "pre_fsp"
#: (comparison, reference) pairs reported for every model, in report order.
CONTRASTS: tuple[tuple[str, str], ...] = (("post_fsp", REFERENCE), ("transition", REFERENCE))
FLAGS: tuple[str, ...] = ("domestic_abuse", "mental_health", "substance_misuse")
CATEGORICAL: tuple[str, ...] = ("age_band", "sex", "ethnic_group", "primary_need", "referral_source_group")
#: Covariates recorded at the index assessment (after time zero), besides the three flags.
INDEX_ASSESSMENT: tuple[str, ...] = ("primary_need",)
NUMERIC: tuple[str, ...] = ("family_size", "prior_cin_episodes", "lockdown_period")
#: The eight risk-factor combination labels in report order.
COMBINATION_LABELS: tuple[str, ...] = tuple(label for _, label in COMBINATIONS)

DURATION, EVENT, CAUSE, ENTRY, COHORT, FAMILY, LA = (
    "duration", "event", "cause", "entry", "cohort", "family_id", "la_code")

#: Default pooling thresholds for nuisance indicator levels.
MIN_LEVEL_ROWS = 20
MIN_LEVEL_EVENTS = 5


def cohort_term(comparison: str) -> str:
    """Name of the 0/1 column of ``comparison`` vs pre-FSP, e.g. ``cohort[post_fsp]``."""
    return f"{COHORT}[{comparison}]"


def contrast_label(comparison: str, reference: str = REFERENCE) -> str:
    return f"{comparison} vs {reference}"


#: Cohort term -> contrast label, for labelling model rows.
TERM_CONTRASTS: dict[str, str] = {cohort_term(c): contrast_label(c, r) for c, r in CONTRASTS}


def plain_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with pandas "string" columns as plain object columns (missing as None).

    The analysis dataset stores labels as the nullable string dtype, whose
    comparisons are many times slower than object arrays'; the models compare
    labels thousands of times. A shallow copy: the converted columns replace ``frame``'s in the
    copy, never overwrite them.
    """
    out = frame.copy(deep=False)
    for column in out.columns:
        if isinstance(out[column].dtype, pd.StringDtype):
            values = out[column].to_numpy(dtype=object, na_value=None)
            out[column] = pd.Series(values, index=out.index, dtype=object)
    return out


def outcome_rows(analysis: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The rows of one outcome (fresh index, plain string columns), each with a cohort."""
    rows = analysis[(analysis["outcome"] == outcome).fillna(False).to_numpy(dtype=bool)]
    return plain_strings(rows[rows[COHORT].notna()].reset_index(drop=True))


def entry_column(df: pd.DataFrame) -> str | None:
    """``"entry"`` when some row enters late (delayed entry), else None."""
    return ENTRY if ENTRY in df.columns and bool((df[ENTRY] > 0).any()) else None


def local_authorities(df: pd.DataFrame) -> list[str]:
    return sorted(df[LA].dropna().astype(str).unique()) if LA in df.columns else []


def strata_column(df: pd.DataFrame) -> str | None:
    """``"la_code"`` when the rows come from more than one local authority, else None."""
    return LA if len(local_authorities(df)) > 1 else None


def with_cohort_terms(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Add ``cohort[post_fsp]`` and ``cohort[transition]`` (0/1) and return their names."""
    out = df.copy()
    names = []
    for comparison, _ in CONTRASTS:
        name = cohort_term(comparison)
        out[name] = (out[COHORT] == comparison).to_numpy(dtype=float)
        names.append(name)
    return out, names


@dataclass(frozen=True)
class Adjustment:
    """Which covariates enter the adjustment set (the defaults are the study's)."""

    flags: bool = True
    categorical: tuple[str, ...] = CATEGORICAL
    numeric: tuple[str, ...] = NUMERIC
    la_indicators: bool = False
    min_rows: int = MIN_LEVEL_ROWS
    min_events: int = MIN_LEVEL_EVENTS


def study_adjustment(config: StudyConfig, adjustment: "Adjustment | None" = None) -> "Adjustment":
    """``adjustment`` (default :class:`Adjustment`) as the study's design allows: without the
    index-assessment flags and ``primary_need`` unless ``config.adjust_for_index_assessment``."""
    adjustment = Adjustment() if adjustment is None else adjustment
    if config.adjust_for_index_assessment:
        return adjustment
    return replace(adjustment, flags=False,
                   categorical=tuple(c for c in adjustment.categorical if c not in INDEX_ASSESSMENT))


def with_adjustment_terms(
    df: pd.DataFrame, event: np.ndarray | pd.Series | None = None, adjustment: Adjustment = Adjustment()
) -> tuple[pd.DataFrame, list[str]]:
    """Add the adjustment covariates as numeric columns and return their names.

    ``event`` (0/1 per row; default the ``event`` column) decides which
    indicator levels are too sparse and get pooled with the reference level.
    Constant columns are left out. The frame returned shares ``df``'s columns (a shallow copy: the
    new and converted columns replace, never overwrite, so ``df`` is unchanged) and each categorical
    column is coded once, its indicators compared as integer codes.
    """
    out = df.copy(deep=False)
    events = (out[EVENT] if event is None else pd.Series(np.asarray(event), index=out.index)).astype(bool)
    names: list[str] = []
    if adjustment.flags:
        for flag in FLAGS:
            out[flag] = out[flag].astype(float)
            names.append(flag)
    categorical = list(adjustment.categorical)
    if adjustment.la_indicators and len(local_authorities(out)) > 1:
        categorical.append(LA)
    for column in categorical:
        values = out[column].astype(object).where(out[column].notna(), "missing").astype(str)
        counts = values.value_counts()  # the most common level, counts.index[0], is the reference
        event_counts = values[events.to_numpy()].value_counts()
        codes, levels = pd.factorize(values)
        code_of = dict(zip(levels, range(len(levels))))
        for level in sorted(counts.index[1:], key=str):
            if counts[level] < adjustment.min_rows or event_counts.get(level, 0) < adjustment.min_events:
                continue  # pooled with the reference level
            name = f"{column}[{level}]"
            out[name] = (codes == code_of[level]).astype(float)
            names.append(name)
    for column in adjustment.numeric:
        out[column] = out[column].astype(float)
        names.append(column)
    names = [n for n in names if np.ptp(out[n].to_numpy(dtype=float)) > 0]
    return out, names


def present(values: Sequence, wanted: Sequence[str] = COHORTS) -> list[str]:
    """The levels of ``wanted`` that occur in ``values``, in ``wanted`` order."""
    seen = set(pd.Series(values).dropna().astype(str))
    return [w for w in wanted if w in seen]
