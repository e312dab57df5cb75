"""Child-level comparison across councils: difference in differences on the hazard and RMST scales.

A before/after comparison inside one council cannot tell a programme from
whatever else changed at the same time (Covid, court backlogs, national
trends). With the extracts of several councils, some of which adopted the
programme (on their own dates) and some never did, the councils that had not
(yet) adopted show what changed anyway:

* :func:`adoption_design` adds, from each child's time zero and the council's
  go-live, the calendar ``period`` (cut at the given dates), ``adopted``
  (the council ever adopted) and ``programme`` (the council had adopted by the
  child's time zero) columns;
* :func:`cox_did` fits R's
  ``coxph(Surv(entry, duration, event) ~ period + programme + strata(council), cluster = family)``:
  each council its own baseline hazard, common calendar-period effects, and
  the programme hazard ratio as the difference in differences of log hazards.
  With one adoption date and two periods, ``programme`` is ``period × adopted``,
  so this is ``period * adopted + strata(council)`` (whose ``adopted`` main effect
  R reports as NA: it is constant within each stratum); with staggered dates it
  is the two-way fixed-effects hazard model with not-yet- and never-adopters as
  controls;
* :func:`rmst_did` — RMST up to ``tau`` after minus before the go-live in each
  adopting council, minus the same in the never-adopting councils (each
  council's change averaged with weights its number of children), with a
  family bootstrap (families resampled within council) for the SE and the
  percentile interval.

Generic estimators: the study's dates and councils come from the caller
(:mod:`evaluation.analysis.across_councils`). Proven against R in
``tests/test_child_level_comparison.py`` (``tests/reference/child_level_did/``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.errors import NotEstimable
from evaluation.results import tidy
from evaluation.survival._data import survival_data
from evaluation.survival.cox import CoxResult, cox_ph
from evaluation.survival.rmst import fit_rmst

#: Name of the programme term (1 when the child's council had adopted by the child's time zero).
PROGRAMME = "programme"
#: Columns added by :func:`adoption_design`.
PERIOD, ADOPTED = "period", "adopted"
#: Contrast label of every comparison-across-councils estimate.
DID_CONTRAST = "programme vs no programme (difference in differences across councils)"


def period_labels(breaks: Sequence[dt.date]) -> list[str]:
    """Labels of the calendar periods cut at ``breaks``: "before 2020-03-23", "from 2020-03-23", ..."""
    breaks = sorted(breaks)
    if not breaks:
        return ["all"]
    return [f"before {breaks[0].isoformat()}"] + [f"from {b.isoformat()}" for b in breaks]


def adoption_design(
    df: pd.DataFrame,
    time_zero: str,
    council: str,
    go_lives: Mapping[str, dt.date | None],
    breaks: Sequence[dt.date],
) -> pd.DataFrame:
    """``df`` with ``period`` (calendar period of ``time_zero``, cut at ``breaks``), ``adopted``
    (0/1: the council has a go-live) and ``programme`` (0/1: on or after the council's go-live).

    ``go_lives`` maps every council in ``df[council]`` to its go-live, or None for a council
    that never adopted; a council missing from it is an error (its status is unknown).
    """
    for column in (time_zero, council):
        if column not in df.columns:
            raise ValueError(f"column {column!r} not found in the data")
    codes = df[council].astype(str)
    unknown = sorted(set(codes) - {str(k) for k in go_lives})
    if unknown:
        raise ValueError(f"no go-live given for council(s) {', '.join(unknown)}: give each council's "
                         "go-live date, or 'never' for a council that never adopted")
    dates = pd.to_datetime(df[time_zero])
    if dates.isna().any():
        raise ValueError(f"{time_zero!r} is missing on {int(dates.isna().sum())} row(s)")
    cuts = sorted(set(breaks))
    labels = period_labels(cuts)
    index = np.searchsorted(np.array([np.datetime64(b, "ns") for b in cuts], dtype="datetime64[ns]"),
                            dates.to_numpy(dtype="datetime64[ns]"), side="right")
    out = df.copy()
    out[PERIOD] = np.asarray(labels, dtype=object)[index]
    go_live = codes.map({str(k): (pd.NaT if v is None else pd.Timestamp(v)) for k, v in go_lives.items()})
    go_live = pd.to_datetime(go_live)
    out[ADOPTED] = go_live.notna().to_numpy(dtype=float)
    out[PROGRAMME] = (go_live.notna() & (dates >= go_live)).to_numpy(dtype=float)
    return out


@dataclass(frozen=True)
class CouncilCox:
    """The fitted comparison Cox model and the counts of its adoption × period cells."""

    fit: CoxResult
    period_terms: list[str]
    #: rows and events of the four cells of the difference in differences (the smallest is released)
    cells: pd.DataFrame

    @property
    def log_hr(self) -> float:
        return float(self.fit.coef[self.fit.covariates.index(PROGRAMME)])

    @property
    def se(self) -> float:
        return float(self.fit.se[self.fit.covariates.index(PROGRAMME)])

    def tidy(self, outcome: str | None = None, analysis: str = "cox_across_councils",
             level: float = 0.95) -> pd.DataFrame:
        """The programme hazard ratio (difference in differences) and the period terms, tidy.

        ``n`` and ``events`` of the programme row are those of the smallest adoption × period
        cell (rows with and without the programme in adopting and other councils), so that
        disclosure control judges the estimate by its thinnest support.
        """
        table = self.fit.tidy(outcome, analysis=analysis, level=level)
        table["contrast"] = np.where(table["term"] == PROGRAMME, DID_CONTRAST, None)
        is_programme = (table["term"] == PROGRAMME).to_numpy()
        table.loc[is_programme, "n"] = int(self.cells["n"].min())
        table.loc[is_programme, "events"] = int(self.cells["events"].min())
        table.loc[is_programme, "method"] = (table.loc[is_programme, "method"]
                                             + "; n, events: smallest adoption x period cell")
        return tidy(table)


def _cells(df: pd.DataFrame, event: str, council: str, period: str) -> pd.DataFrame:
    """Rows and events of the four cells a difference in differences rests on.

    Adopting councils without / with the programme; the other councils (those with no row under
    the programme) before / in the periods in which some council had the programme.
    """
    adopting = (df.groupby(council, observed=True)[PROGRAMME].transform("max") > 0).to_numpy()
    programme = df[PROGRAMME].to_numpy() > 0
    programme_periods = set(df.loc[programme, period].astype(str))
    in_programme_period = df[period].astype(str).isin(programme_periods).to_numpy()
    cell = np.where(adopting, np.where(programme, "adopting, programme", "adopting, before"),
                    np.where(in_programme_period, "other, programme periods", "other, before"))
    cells = pd.DataFrame({"cell": cell, "event": df[event].to_numpy()}).groupby("cell").agg(
        n=("event", "size"), events=("event", "sum"))
    return cells.reindex(["adopting, before", "adopting, programme", "other, before",
                          "other, programme periods"], fill_value=0)


def cox_did(
    df: pd.DataFrame,
    duration: str,
    event: str,
    council: str,
    period: str = PERIOD,
    programme: str = PROGRAMME,
    reference_period: str | None = None,
    entry: str | None = None,
    cluster: str | None = None,
    ties: str = "efron",
) -> CouncilCox:
    """Cox model stratified by ``council`` with calendar-period terms and the ``programme`` term.

    As R ``coxph(Surv(entry, duration, event) ~ factor(period) + programme + strata(council),
    cluster = cluster, ties = ties)``; ``reference_period`` (default the first level in sorted
    order) is the period without a term. Needs at least two councils and rows both with and
    without the programme in the same period in some council pair (else :class:`NotEstimable`).
    """
    for column in (duration, event, council, period, programme):
        if column not in df.columns:
            raise ValueError(f"column {column!r} not found in the data")
    councils = df[council].astype(str)
    if councils.nunique() < 2:
        raise NotEstimable("one council: a comparison across councils needs at least two")
    frame = df.copy()
    if programme != PROGRAMME:
        frame[PROGRAMME] = frame[programme]
    frame[PROGRAMME] = frame[PROGRAMME].astype(float)
    if not np.isin(frame[PROGRAMME].to_numpy(), (0.0, 1.0)).all():
        raise ValueError(f"{programme!r} must be 0/1")
    treated = frame[PROGRAMME].to_numpy() > 0
    if not treated.any():
        raise NotEstimable("no child seen after a council's go-live")
    if treated.all():
        raise NotEstimable("every child seen after their council's go-live: no comparison")
    levels = sorted(frame[period].astype(str).unique())
    reference = levels[0] if reference_period is None else reference_period
    if reference not in levels:
        raise ValueError(f"reference period {reference!r} not among the periods {levels}")
    terms = []
    for level in levels:
        if level == reference:
            continue
        name = f"{period}[{level}]"
        frame[name] = (frame[period].astype(str) == level).to_numpy(dtype=float)
        terms.append(name)
    fit = cox_ph(frame, duration, event, terms + [PROGRAMME], entry=entry, strata=council, cluster=cluster,
                 ties=ties)
    if PROGRAMME in fit.not_estimable:
        raise NotEstimable(f"programme: {fit.not_estimable[PROGRAMME]}")
    return CouncilCox(fit=fit, period_terms=terms, cells=_cells(frame, event, council, period))


# ------------------------------------------------------------------------------------ RMST


@dataclass(frozen=True)
class RmstDid:
    """RMST difference in differences at ``tau`` with its family-bootstrap SE and interval."""

    tau: float
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    #: the same SE from the infinitesimal jackknife summed within family (no resampling)
    se_ij: float
    #: council -> (weight group "adopting"/"other", RMST before, RMST after, rows)
    by_council: pd.DataFrame
    replicates: np.ndarray
    n: int
    events: int


def _council_changes(data, council_codes, after, adopting, councils, tau, weights=None):
    """Per council: RMST before and after, their IJ influences; and the DiD."""
    rows, estimate = [], 0.0
    influence = np.zeros(len(data))
    totals = {True: 0.0, False: 0.0}
    sizes = {}
    for c in councils:
        in_c = council_codes == c
        size = float(in_c.sum()) if weights is None else float(weights[in_c].sum())
        sizes[c] = size
        totals[bool(adopting[c])] += size
    for c in councils:
        in_c = council_codes == c
        share = sizes[c] / totals[bool(adopting[c])]
        sign = 1.0 if adopting[c] else -1.0
        fits = {}
        for side, mask in (("before", in_c & ~after), ("after", in_c & after)):
            if weights is not None:
                mask = mask & (weights > 0)
            if not mask.any():
                raise NotEstimable(f"council {c} has no children {side} the go-live")
            sub = data.subset(mask)
            fits[side] = fit_rmst(sub, tau)
            influence[mask] += (1 if side == "after" else -1) * sign * share * fits[side].influence
        change = fits["after"].estimate - fits["before"].estimate
        estimate += sign * share * change
        rows.append({"council": c, "group": "adopting" if adopting[c] else "other",
                     "rmst_before": fits["before"].estimate, "rmst_after": fits["after"].estimate,
                     "weight": share, "rows": int(in_c.sum())})
    return estimate, influence, pd.DataFrame(rows)


def rmst_did(
    df: pd.DataFrame,
    duration: str,
    event: str,
    council: str,
    after: str,
    adopted: str = ADOPTED,
    tau: float = 365,
    entry: str | None = None,
    cluster: str | None = None,
    n_boot: int = 200,
    seed: int = 0,
    conf_level: float = 0.95,
) -> RmstDid:
    """RMST(tau) difference in differences: adopting minus other councils, after minus before.

    ``after`` (0/1) marks rows on or after the go-live being studied (one date: the caller
    keeps the adopting councils of that date and the councils that never adopted);
    ``adopted`` (0/1, constant within council) marks the adopting councils. Each council's
    change ``RMST_after - RMST_before`` (Kaplan-Meier areas) is averaged within the two groups
    with weights its number of rows; the estimate is the adopting mean minus the other mean.
    The SE and percentile interval come from ``n_boot`` family bootstrap samples (``cluster``
    resampled within council, or rows when None), drawn from ``seed``.
    """
    for column in (duration, event, council, after, adopted):
        if column not in df.columns:
            raise ValueError(f"column {column!r} not found in the data")
    if n_boot < 20:
        raise ValueError("n_boot must be at least 20")
    data = survival_data(df, duration, event, entry=entry, cluster=cluster)
    codes = df[council].astype(str).to_numpy()
    councils = sorted(set(codes))
    adopting = {}
    for c in councils:
        values = set(df.loc[codes == c, adopted].astype(float))
        if len(values) != 1:
            raise ValueError(f"{adopted!r} must be constant within council (council {c})")
        adopting[c] = values.pop() > 0
    if not any(adopting.values()) or all(adopting.values()):
        raise NotEstimable("needs an adopting council and a council that did not adopt")
    is_after = df[after].to_numpy(dtype=float) > 0
    estimate, influence, by_council = _council_changes(data, codes, is_after, adopting, councils, tau)
    units = data.cluster if data.cluster is not None else np.arange(len(data))
    se_ij = float(np.sqrt(np.sum(np.bincount(units, weights=influence) ** 2)))

    # family bootstrap: families drawn with replacement within each council (frequency weights)
    rng = np.random.default_rng(seed)
    unit_codes, unit_of_row = np.unique(np.char.add(np.char.add(codes.astype(str), "\x1f"),
                                                    units.astype(str)), return_inverse=True)
    unit_council = np.empty(len(unit_codes), dtype=object)
    unit_council[unit_of_row] = codes
    by_council_units = {c: np.flatnonzero(unit_council == c) for c in councils}
    replicates = np.full(n_boot, np.nan)
    for b in range(n_boot):
        counts = np.zeros(len(unit_codes))
        for c, members in by_council_units.items():
            drawn = rng.integers(0, len(members), size=len(members))
            counts[members] += np.bincount(drawn, minlength=len(members))
        w = counts[unit_of_row]
        boot = data.__class__(**{**data.__dict__, "weights": data.weights * w, "has_weights": True})
        try:
            replicates[b], _, _ = _council_changes(boot, codes, is_after, adopting, councils, tau, weights=w)
        except NotEstimable:
            continue   # a resample without children on one side: left out, counted below
    good = replicates[np.isfinite(replicates)]
    if len(good) < 0.9 * n_boot:
        raise NotEstimable("too few children before or after go-live in a council for the bootstrap")
    alpha = 1 - conf_level
    lower, upper = np.quantile(good, [alpha / 2, 1 - alpha / 2])
    return RmstDid(tau=float(tau), estimate=float(estimate), se=float(np.std(good, ddof=1)),
                   ci_lower=float(lower), ci_upper=float(upper), se_ij=se_ij, by_council=by_council,
                   replicates=replicates, n=len(data),
                   events=int(np.sum(data.event & (data.duration <= tau))))


def rmst_did_tidy(result: RmstDid, outcome: str | None = None, analysis: str = "rmst_across_councils",
                  cell_counts: tuple[int, int] | None = None) -> pd.DataFrame:
    """One tidy row for :class:`RmstDid` (days; bootstrap SE and percentile interval).

    ``cell_counts`` (rows, events) replaces ``n``/``events`` with the thinnest cell's counts.
    """
    z = result.estimate / result.se if result.se > 0 else np.nan
    n, events = cell_counts if cell_counts is not None else (result.n, result.events)
    return tidy([{
        "outcome": outcome, "analysis": analysis, "contrast": DID_CONTRAST, "combination": "all",
        "term": "rmst_difference_in_differences", "time": result.tau, "estimate": result.estimate,
        "ci_lower": result.ci_lower, "ci_upper": result.ci_upper, "se": result.se, "statistic": z,
        "p_value": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan,
        "n": n, "events": events,
        "method": (f"RMST (area under Kaplan-Meier) to day {result.tau:g}, after minus before go-live, "
                   "adopting minus other councils (council changes weighted by children); family "
                   f"bootstrap SE and percentile interval ({len(result.replicates)} samples)"
                   + ("; n, events: smallest council x period cell" if cell_counts else "")),
    }])


__all__ = ["ADOPTED", "DID_CONTRAST", "PERIOD", "PROGRAMME", "CouncilCox", "RmstDid", "adoption_design",
           "cox_did", "period_labels", "rmst_did", "rmst_did_tidy"]
