"""Test of proportional hazards: R ``cox.zph`` as in survival >= 3.0.

For each term the test asks whether adding ``x * g(t)`` to the fitted model
would improve it: a score test at the fitted coefficients, with the
coefficients of the original covariates free (so it is not the pre-3.0
approximation that lifelines follows, which fixes them and uses a scaled
variance). ``g`` is the time transform: ``"km"`` (1 − Kaplan–Meier at t−, the
default, robust to outlying times), ``"rank"``, ``"identity"``, ``"log"`` or a
function of time. The GLOBAL test adds ``x * g(t)`` for all covariates at once.

Strata, delayed entry, case weights and both tie methods are handled as in the
fit. Columns made by :func:`evaluation.survival.cox.dummy_columns` (``name[level]``)
form one multi-df term when ``terms=True``, as a factor does in R.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import rankdata

from evaluation.errors import NotEstimable, estimable
from evaluation.results import tidy
from evaluation.survival.cox import CoxResult, _derivatives


def _km_left_limit(entry: np.ndarray | None, stop: np.ndarray, is_event: np.ndarray) -> np.ndarray:
    """Unweighted, unstratified Kaplan–Meier S(t−) at every row's stop time (delayed entry aware)."""
    times, d = np.unique(stop[is_event], return_counts=True)
    sorted_stop = np.sort(stop)
    at_risk = stop.size - np.searchsorted(sorted_stop, times, side="left")
    if entry is not None:
        sorted_entry = np.sort(entry)
        at_risk -= entry.size - np.searchsorted(sorted_entry, times, side="left")
    surv = np.concatenate([[1.0], np.cumprod(1 - d / at_risk)])
    return surv[np.searchsorted(times, stop, side="left")]


def _transform_times(transform, entry, stop, is_event) -> tuple[str, np.ndarray]:
    if callable(transform):
        return getattr(transform, "__name__", "user"), np.asarray(transform(stop), dtype=float)
    if transform == "km":
        return "km", 1 - _km_left_limit(entry, stop, is_event)
    if transform == "rank":
        return "rank", rankdata(stop)
    if transform == "identity":
        return "identity", stop.astype(float)
    if transform == "log":
        return "log", np.log(stop)
    raise ValueError(f"unknown transform {transform!r}: use 'km', 'rank', 'identity', 'log' or a function")


def _term_groups(fit: CoxResult, terms) -> dict[str, list[int]]:
    """Map term name -> positions among the fitted columns."""
    fitted = [fit.covariates[k] for k in fit._fit_columns]
    if terms is False:
        return {name: [i] for i, name in enumerate(fitted)}
    if terms is True:
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(fitted):
            base = name.split("[", 1)[0] if name.endswith("]") and "[" in name else name
            groups.setdefault(base, []).append(i)
        return groups
    named = {c for cols in terms.values() for c in cols}
    groups = {term: [fitted.index(c) for c in cols if c in fitted] for term, cols in terms.items()}
    for i, name in enumerate(fitted):
        if name not in named:
            groups[name] = [i]
    return {t: g for t, g in groups.items() if g}


@dataclass(frozen=True)
class ZphResult:
    """The cox.zph table (index: terms then GLOBAL; columns chisq, df, p) and the transform used."""

    table: pd.DataFrame
    transform: str

    def tidy(self, outcome: str, analysis: str = "cox_zph", combination: str = "all") -> pd.DataFrame:
        rows = [
            {
                "outcome": outcome,
                "analysis": analysis,
                "combination": combination,
                "term": term,
                "statistic": row.chisq,
                "p_value": row.p,
                "method": f"cox.zph score test ({int(row.df)} df), {self.transform} time transform",
            }
            for term, row in self.table.iterrows()
        ]
        return tidy(rows)


@estimable()  # a singular matrix on these data: NotEstimable, in our words
def cox_zph(
    fit: CoxResult,
    transform: str | Callable[[np.ndarray], np.ndarray] = "km",
    terms: bool | Mapping[str, Sequence[str]] = True,
    global_test: bool = True,
) -> ZphResult:
    """Proportional-hazards test for each term and overall, as R ``cox.zph(fit, transform, terms)``.

    ``terms`` is True (group ``name[level]`` columns into one term), False (one
    test per column) or a mapping term name -> column names.
    """
    if fit._fit_columns.size == 0:
        raise NotEstimable("the model has no estimable covariates to test")
    rs = fit._rs
    x, w, beta = fit._x, fit._w, fit._beta
    p = x.shape[1]
    name, ttimes = _transform_times(transform, fit._entry, fit._stop, rs.is_event)
    gtime = ttimes - ttimes[rs.is_event].mean()
    # one value per event time: all events at an event time share their time
    g = np.empty(rs.n_times)
    g[rs.event_index] = gtime[rs.event_rows]

    plain = _derivatives(beta, x, w, rs, fit.ties == "efron")
    by_g = _derivatives(beta, x, w, rs, fit.ties == "efron", time_weight=g)
    by_g2 = _derivatives(beta, x, w, rs, fit.ties == "efron", time_weight=g * g)
    imat = np.block([[plain.information, by_g.information], [by_g.information, by_g2.information]])
    u_time = by_g.score

    groups = _term_groups(fit, terms)
    names, chisq, df = [], [], []
    for term, cols in groups.items():
        kk = list(range(p)) + [p + c for c in cols]
        u = np.concatenate([np.zeros(p), u_time[cols]])
        names.append(term)
        chisq.append(float(u @ np.linalg.solve(imat[np.ix_(kk, kk)], u)))
        df.append(len(cols))
    if global_test:
        u = np.concatenate([np.zeros(p), u_time])
        names.append("GLOBAL")
        chisq.append(float(u @ np.linalg.solve(imat, u)))
        df.append(p)
    chisq_arr = np.asarray(chisq)
    df_arr = np.asarray(df)
    table = pd.DataFrame(
        {"chisq": chisq_arr, "df": df_arr, "p": stats.chi2.sf(chisq_arr, df_arr)},
        index=pd.Index(names, name="term"),
    )
    return ZphResult(table=table, transform=name)
