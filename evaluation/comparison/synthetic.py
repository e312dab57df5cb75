"""Synthetic control for one council against never-adopters, with placebo inference.

Abadie, Diamond & Hainmueller (2010). The panel has outcomes only (no covariates), so the
predictors are the pre-period values of the outcome itself, each year weighted equally: the donor
weights minimise the (standardised) pre-period gap. That is pysyncon's ``Synth().fit(...,
custom_V=ones)``, and :func:`simplex_weights` solves pysyncon's quadratic programme the same way
(SLSQP from equal weights, its options) but with the exact gradient, where pysyncon lets SLSQP
difference the objective numerically (one objective call per donor per gradient, over the ~465
fits of :func:`run_synthetic_control`). The tests hold it to pysyncon's own fits on the LA panel
(objectives within SLSQP's ftol, weights on the same path) and to Abadie & Gardeazabal's published
Basque weights. pysyncon is still used for the augmented synthetic control (:func:`fit_augmented`),
through :class:`FastAugSynth`: pysyncon's AugSynth with the gradient SLSQP would difference for
itself handed to it and its ridge path over the penalties without pandas, the same floats.

The year containing go-live is a transition year: it is left out of the fit and reported, but not
counted as post-period.

Inference (Abadie et al. 2010, 2015):
- placebo in space: every donor in turn is treated as if it had adopted, with the other donors
  as its pool; the p-value is the rank of the treated council's post/pre RMSPE ratio among all
  units (treated included) divided by their number;
- leave one donor out: each donor with positive weight dropped in turn;
- placebo in time: go-live moved back ``shift`` years, fitted on the years before it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import scipy
from pysyncon import AugSynth, Dataprep
from pysyncon.base import VanillaOptimMixin
from pysyncon.utils import CrossValidationResult
from scipy.optimize import Bounds, minimize
from threadpoolctl import threadpool_limits

from .adopters import adopters
from .panel import BOUNDARY_CHANGED, RATES, TOO_SMALL, la_names, read_panel, wide

#: The scipy whose finite differences (approx_derivative) are replayed below, as pinned in
#: requirements.lock; with any other, scipy's and pysyncon's own calls are used.
SCIPY_REPLAYED = tuple(scipy.__version__.split(".")[:2]) == ("1", "17")

TREATED = "931"  # Oxfordshire
TRANSITION_YEAR = 2021  # year ending March 2021 contains go-live (1 Nov 2020)
MAX_DONORS = 40  # nearest never-adopters in the pre-period (see fit_table)


_S, _F, _I = "string", "float64", "int64"
#: Columns (and types, for an empty table) of each table :func:`run_synthetic_control` returns,
#: whatever its options.
TABLE_DTYPES: dict[str, dict[str, str]] = {
    "effects": {"measure": _S, "year": _I, "period": _S, "treated": _F, "synthetic": _F, "gap": _F},
    "weights": {"measure": _S, "donor": _S, "la_name": _S, "weight": _F},
    "inference": {"measure": _S, "donor_pool": "Int64", "n_donors": "Int64", "holdout_years": "Int64",
                  "pre_rmspe": _F, "pre_rmspe_pct_of_mean": _F, "post_rmspe": _F, "ratio": _F,
                  "mean_post_gap": _F, "mean_post_gap_pct": _F, "placebo_rank": "Int64",
                  "placebo_units": "Int64", "placebo_p": _F, "placebo_p_gap": _F,
                  "placebos_pre_rmspe_below_treated": "Int64", "in_time_ratio": _F, "in_time_mean_gap": _F,
                  "loo_min_gap": _F, "loo_max_gap": _F, "augsynth_pre_rmspe": _F, "augsynth_mean_post_gap": _F,
                  "augsynth_lambda": _F, "augsynth_error": _S},
    "placebos": {"measure": _S, "unit": _S, "is_treated": "bool", "pre_rmspe": _F, "post_rmspe": _F, "ratio": _F,
                 "mean_post_gap": _F, "rank": _I, "p_value": _F, "rank_gap": _I, "p_value_gap": _F},
    "placebo_gaps": {"measure": _S, "unit": _S, "year": _I, "period": _S, "gap": _F, "pre_rmspe": _F},
    "leave_one_out": {"measure": _S, "dropped_donor": _S, "dropped_weight": _F, "pre_rmspe": _F, "post_rmspe": _F,
                      "ratio": _F, "mean_post_gap": _F},
}
TABLE_COLUMNS: dict[str, list[str]] = {name: list(dtypes) for name, dtypes in TABLE_DTYPES.items()}


@dataclass
class SyntheticFit:
    measure: str
    treated: str
    transition_year: int
    weights: pd.Series  # donor code -> weight
    series: pd.DataFrame  # year, period, treated, synthetic, gap
    pre_rmspe: float
    post_rmspe: float
    extra: dict = field(default_factory=dict)
    post_gap_mean: float | None = field(default=None, repr=False)  # fit_table's, from its arrays

    @property
    def ratio(self) -> float:
        return self.post_rmspe / self.pre_rmspe if self.pre_rmspe > 0 else np.inf

    @property
    def mean_post_gap(self) -> float:
        if self.post_gap_mean is not None:
            return self.post_gap_mean
        s = self.series
        return float(s.loc[s["period"] == "post", "gap"].mean())


@lru_cache(maxsize=1)
def _adopter_codes() -> frozenset[str]:
    return frozenset(adopters()["la_code_old"])


def excluded_codes(treated: str = TREATED) -> set[str]:
    """Councils never used as donors: every listed adopter (dated or not), boundary-changed and
    tiny councils, and the treated council."""
    return set(_adopter_codes()) | set(BOUNDARY_CHANGED) | set(TOO_SMALL) | {treated}


def donor_pool(table: pd.DataFrame, years, treated: str = TREATED, exclude=None) -> list[str]:
    """Never-adopters with a complete series over ``years`` (``table`` from :func:`wide`)."""
    exclude = excluded_codes(treated) if exclude is None else set(exclude)
    sub = table.reindex(columns=list(years))
    complete = sub.notna().all(axis=1)
    return [c for c in sub.index[complete] if c not in exclude]


def _rmspe(gap: pd.Series) -> float:
    return float(np.sqrt(np.mean(np.square(gap)))) if len(gap) else np.nan


def nearest_donors(table: pd.DataFrame, treated: str, donors: list[str], pre_years, k: int | None) -> list[str]:
    """The ``k`` donors whose pre-period series are closest to the treated council's (RMSE);
    all of them if ``k`` is None or not smaller than the pool."""
    if k is None or len(donors) <= k:
        return list(donors)
    pre = table.loc[:, list(pre_years)]
    dist = np.sqrt(((pre.loc[list(donors)] - pre.loc[treated]) ** 2).mean(axis=1))
    return list(dist.sort_values(kind="stable").index[:k])


def _weights_sum_to_one(n: int) -> dict:
    """``LinearConstraint(A=ones(n), lb=1, ub=1)`` as the equality dict scipy's ``minimize`` turns it
    into for SLSQP (``new_constraint_to_old``): value ``A @ w - 1``, Jacobian ``A`` (one row), the
    same floats, without building scipy's prepared constraint (a sparse check and a vector function)
    on each of the ~500 calls."""
    A = np.atleast_2d(np.ones(n)).astype(np.float64)
    lb = np.ones(1)

    def fun(w):
        return np.array(np.dot(A, w)).flatten() - lb

    def jac(w):
        return A

    return {"type": "eq", "fun": fun, "jac": jac}


def simplex_weights(X0: np.ndarray, X1: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
    """Donor weights ``w`` (0 <= w <= 1, sum 1) minimising the standardised predictor gap: the
    quadratic programme of pysyncon's ``Synth().fit(X0=X0, X1=X1, custom_V=v)`` (``v`` default all
    ones, as :func:`fit_table` uses it), solved the same way but with its exact gradient.

    ``X0`` (predictors x donors) and ``X1`` (predictors); as in pysyncon each predictor row is
    divided by its standard deviation over donors and treated together (ddof 1), then with
    ``P = X0' V X0`` and ``q = X0' V X1`` (scaled rows, ``V = diag(v)``) the weights minimise
    ``0.5 w'Pw - q'w`` by scipy's SLSQP from equal weights, with pysyncon's sum-to-one constraint
    and options (``maxiter`` 1000, SLSQP's default ``ftol`` 1e-6). pysyncon gives SLSQP no gradient,
    so SLSQP differences the objective numerically (one objective call per donor for each
    gradient); here the gradient ``Pw - q`` is given, and the steps are pysyncon's to within its
    finite-difference error (tests/test_comparison_synthetic.py compares them on the LA panel).
    pysyncon's upper bounds ``w <= 1`` are left out: ``w >= 0`` and the sum imply them, in each
    SLSQP subproblem too, and without them the subproblem has n + 1 constraints instead of 2n + 1
    (a third less time; the same weights within 1e-9 over the LA panel's 860 fits at holdout 0 and 2).
    """
    X = np.column_stack([np.asarray(X0, dtype=float), np.asarray(X1, dtype=float)])
    X = X / X.std(axis=1, ddof=1, keepdims=True)
    A, b = X[:, :-1], X[:, -1]
    if v is None:
        P = A.T @ A
        q = b @ A
    else:
        v = np.asarray(v, dtype=float)
        P = A.T @ (v[:, None] * A)
        q = (v * b) @ A
    n = A.shape[1]

    def objective(w):
        return 0.5 * w @ P @ w - q @ w

    def gradient(w):
        return P @ w - q

    res = minimize(objective, np.full(n, 1 / n), jac=gradient, method="SLSQP",
                   bounds=Bounds(lb=np.zeros(n), ub=np.full(n, np.inf)),
                   constraints=_weights_sum_to_one(n), options={"maxiter": 1000})
    return res.x


class _TableArrays:
    """A wide table's values as floats, with each LA code's row and each year's column, made once
    for the hundreds of :func:`fit_table` calls on one table (placebos, leave-one-out)."""

    def __init__(self, table: pd.DataFrame):
        self.table = table
        self.values = table.to_numpy(dtype=float)
        # label -> position, where labels are unique (else get_indexer, which refuses duplicates)
        self.row = {code: i for i, code in enumerate(table.index)} if table.index.is_unique else {}
        self.column = {year: i for i, year in enumerate(table.columns)} if table.columns.is_unique else {}

    def rows(self, labels: list) -> np.ndarray:
        """Positions of ``labels``; KeyError naming those missing (as ``.loc``)."""
        try:
            return np.array([self.row[lab] for lab in labels], dtype=np.intp)
        except (KeyError, TypeError):
            return _positions(self.table.index, labels)

    def columns(self, labels: list) -> np.ndarray:
        try:
            return np.array([self.column[lab] for lab in labels], dtype=np.intp)
        except (KeyError, TypeError):
            return _positions(self.table.columns, labels)


def fit_table(table: pd.DataFrame, treated: str, donors: list[str], transition_year: int,
              measure: str = "", last_year: int | None = None, max_donors: int | None = MAX_DONORS,
              holdout: int = 0, arrays: _TableArrays | None = None) -> SyntheticFit:
    """Synthetic control for ``treated`` from a wide table (LA x year) of one outcome.

    ``max_donors``: restrict the pool to the councils nearest in the pre-period (Abadie 2021
    advises a pool of similar units to limit interpolation bias; it also keeps each fit's
    SLSQP (:func:`simplex_weights`) small). None = all.
    ``holdout``: fit the weights on all but the last ``holdout`` pre-period years and measure the
    pre-RMSPE on those held-out years only (Abadie 2021's validation); 0 = fit and measure on all
    pre-period years. ``arrays``: :class:`_TableArrays` of ``table`` (made here when not given).
    """
    years = [int(y) for y in table.columns if last_year is None or int(y) <= last_year]
    pre = [y for y in years if y < transition_year]
    if len(pre) < 2:
        raise ValueError("need at least two pre-period years")
    if not 0 <= holdout <= len(pre) - 2:
        raise ValueError("holdout must leave at least two pre-period years to fit on")
    train = pre[:len(pre) - holdout]
    # Plain arrays from here (the placebo and leave-one-out runs make hundreds of these fits):
    # ``z`` is years x units, the treated council first, as table.loc[units, years].T.
    donors = list(donors)
    arrays = _TableArrays(table) if arrays is None else arrays
    z = arrays.values[arrays.rows([treated] + donors)][:, arrays.columns(years)].T
    fit = np.isin(years, train)
    if max_donors is not None and len(donors) > max_donors:  # nearest_donors, on the arrays
        dist = np.sqrt(((z[fit, 1:] - z[fit, :1]) ** 2).sum(axis=0) / fit.sum())
        keep = np.argsort(dist, kind="stable")[:max_donors]
        donors = [donors[i] for i in keep]
        z = z[:, np.concatenate([[0], keep + 1])]
    w = np.clip(simplex_weights(z[fit, 1:], z[fit, 0]), 0, None)
    w = w / w.sum()
    synthetic = np.ascontiguousarray(z[:, 1:]) @ w  # C order, as DataFrame.to_numpy gave it: same BLAS sums
    gap = z[:, 0] - synthetic
    year = np.asarray(years, dtype="int64")
    period = np.select([year < transition_year, year == transition_year], ["pre", "transition"], "post")
    series = pd.DataFrame({"year": year, "treated": z[:, 0], "synthetic": synthetic, "gap": gap,
                           "period": period})
    measured = np.isin(year, pre[len(pre) - holdout:] if holdout else pre)
    post_gap = gap[period == "post"]
    # the mean as pandas takes it from series (sum, then / count): the same float; pandas skips
    # missing values, so with any (or none at all) the property asks pandas
    post_gap_mean = (float(post_gap.sum() / len(post_gap)) if len(post_gap) and not np.isnan(post_gap).any()
                     else None)
    return SyntheticFit(measure, treated, transition_year, pd.Series(w, index=donors, name="weight"), series,
                        _rmspe(gap[measured]), _rmspe(post_gap),
                        extra={"fit_years": train, "holdout": holdout}, post_gap_mean=post_gap_mean)


def _positions(index: pd.Index, labels: list) -> np.ndarray:
    """Positions of ``labels`` in ``index``; KeyError naming those missing (as ``.loc``)."""
    pos = index.get_indexer(labels)
    if (pos < 0).any():
        raise KeyError(f"not in the table: {[lab for lab, p in zip(labels, pos) if p < 0]}")
    return pos


def _measure_table(panel, measure, years, table=None):
    """``wide(panel, measure)`` (or ``table``, already that) over ``years`` (default all), and the years."""
    if table is None:
        panel = read_panel() if panel is None else panel
        table = wide(panel, measure)
    years = sorted(int(y) for y in table.columns) if years is None else list(years)
    return table.reindex(columns=years), years


def fit_synthetic(panel: pd.DataFrame | None = None, measure: str = "cla_31mar_rate_per_10k_derived",
                  treated: str = TREATED, transition_year: int = TRANSITION_YEAR, years=None,
                  donors: list[str] | None = None, max_donors: int | None = MAX_DONORS,
                  holdout: int = 0, table: pd.DataFrame | None = None) -> SyntheticFit:
    """Classic synthetic control of ``measure`` for ``treated`` (default Oxfordshire); ``holdout``
    as in :func:`fit_table`. ``table``: ``wide(panel, measure)`` when already made (here and in
    the functions below; ``panel`` is then not read)."""
    table, years = _measure_table(panel, measure, years, table)
    if table.loc[treated].isna().any():
        raise ValueError(f"{treated}: incomplete {measure} series over {years[0]}-{years[-1]}")
    donors = donor_pool(table, years, treated) if donors is None else list(donors)
    return fit_table(table, treated, donors, transition_year, measure, max_donors=max_donors, holdout=holdout)


def _treated_fit(panel, measure, treated, transition_year, years, fit, max_donors, holdout=0, table=None):
    """The wide table of ``measure`` over ``years``, the donor pool, and the treated council's fit
    (``fit`` when given)."""
    table, years = _measure_table(panel, measure, years, table)
    donors = donor_pool(table, years, treated)
    if fit is None:
        fit = fit_table(table, treated, donors, transition_year, measure, max_donors=max_donors,
                        holdout=holdout)
    return table, donors, fit


def placebo_fits(panel: pd.DataFrame | None = None, measure: str = "cla_31mar_rate_per_10k_derived",
                 treated: str = TREATED, transition_year: int = TRANSITION_YEAR, years=None,
                 fit: SyntheticFit | None = None, max_donors: int | None = MAX_DONORS,
                 units: str = "donors", holdout: int = 0, table: pd.DataFrame | None = None) -> list[SyntheticFit]:
    """The treated council's fit followed by one fit per placebo unit, each treated as if it had
    adopted, with the other placebo units (never the real treated council) as its pool.

    ``units="donors"`` (Abadie et al. 2010): the placebo units are the treated council's donor
    pool as fitted, i.e. its ``max_donors`` nearest never-adopters; ``units="pool"``: every
    never-adopter with a complete series (each placebo then keeps its own ``max_donors`` nearest).
    """
    table, donors, fit = _treated_fit(panel, measure, treated, transition_year, years, fit, max_donors, holdout,
                                      table)
    if units == "donors":
        donors = list(fit.weights.index)
    elif units != "pool":
        raise ValueError(f"units must be 'donors' or 'pool', not {units!r}")
    arrays = _TableArrays(table)
    return [fit] + [fit_table(table, d, [x for x in donors if x != d], transition_year, measure,
                              max_donors=max_donors, holdout=holdout, arrays=arrays) for d in donors]


def summarise_placebos(fits: list[SyntheticFit]) -> pd.DataFrame:
    """One row per unit (first = treated): pre/post RMSPE, ratio, mean post gap, ``rank``
    (1 = largest ratio) and ``p_value`` = rank / number of units; ``rank_gap`` / ``p_value_gap``
    rank the absolute mean post-period gap instead. With 8 pre-period years and tens of donors
    many units are fitted almost exactly before go-live (pre-RMSPE near 0), which makes their
    ratio huge whatever happens afterwards: read ``p_value`` only where pre-fits are not
    degenerate, and ``p_value_gap`` alongside it."""
    rows = [(f.treated, k == 0, f.pre_rmspe, f.post_rmspe, f.ratio, f.mean_post_gap) for k, f in enumerate(fits)]
    out = pd.DataFrame(rows, columns=["unit", "is_treated", "pre_rmspe", "post_rmspe", "ratio", "mean_post_gap"])
    out["rank"] = out["ratio"].rank(ascending=False, method="min").astype(int)
    out["p_value"] = out["rank"] / len(out)
    out["rank_gap"] = out["mean_post_gap"].abs().rank(ascending=False, method="min").astype(int)
    out["p_value_gap"] = out["rank_gap"] / len(out)
    out.insert(0, "measure", fits[0].measure)
    return out


def placebo_gaps(fits: list[SyntheticFit]) -> pd.DataFrame:
    """Long frame of every placebo's gap by year (measure, unit, year, period, gap, pre_rmspe)."""
    placebos = fits[1:]
    sizes = [len(f.series) for f in placebos]
    out = pd.concat([f.series[["year", "period", "gap"]] for f in placebos], ignore_index=True)
    out.insert(0, "unit", np.repeat(np.array([f.treated for f in placebos], dtype=object), sizes))
    out.insert(0, "measure", np.repeat(np.array([f.measure for f in placebos], dtype=object), sizes))
    out["pre_rmspe"] = np.repeat(np.array([f.pre_rmspe for f in placebos], dtype=float), sizes)
    return out


def placebo_in_space(panel: pd.DataFrame | None = None, measure: str = "cla_31mar_rate_per_10k_derived",
                     treated: str = TREATED, transition_year: int = TRANSITION_YEAR, years=None,
                     fit: SyntheticFit | None = None, max_donors: int | None = MAX_DONORS,
                     units: str = "donors", holdout: int = 0) -> pd.DataFrame:
    """Placebo-in-space permutation test: :func:`summarise_placebos` of :func:`placebo_fits`.
    The treated row's ``p_value`` is the permutation p-value of its post/pre RMSPE ratio."""
    return summarise_placebos(placebo_fits(panel, measure, treated, transition_year, years, fit, max_donors,
                                           units, holdout))


def leave_one_out(panel: pd.DataFrame | None = None, measure: str = "cla_31mar_rate_per_10k_derived",
                  treated: str = TREATED, transition_year: int = TRANSITION_YEAR, years=None,
                  fit: SyntheticFit | None = None, min_weight: float = 1e-3, max_donors: int | None = MAX_DONORS,
                  holdout: int = 0, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Refit with each donor of weight >= ``min_weight`` dropped in turn."""
    table, donors, fit = _treated_fit(panel, measure, treated, transition_year, years, fit, max_donors, holdout,
                                      table)
    arrays = _TableArrays(table)
    rows = []
    for d in fit.weights[fit.weights >= min_weight].index:
        f = fit_table(table, treated, [x for x in donors if x != d], transition_year, measure, max_donors=max_donors,
                      holdout=holdout, arrays=arrays)
        rows.append((measure, d, float(fit.weights[d]), f.pre_rmspe, f.post_rmspe, f.ratio, f.mean_post_gap))
    return pd.DataFrame(rows, columns=["measure", "dropped_donor", "dropped_weight", "pre_rmspe",
                                       "post_rmspe", "ratio", "mean_post_gap"])


def placebo_in_time(panel: pd.DataFrame | None = None, measure: str = "cla_31mar_rate_per_10k_derived",
                    treated: str = TREATED, transition_year: int = TRANSITION_YEAR, shift: int = 2,
                    years=None, max_donors: int | None = MAX_DONORS, holdout: int = 0,
                    table: pd.DataFrame | None = None) -> SyntheticFit:
    """Go-live moved back ``shift`` years; only years before the real transition are used, so the
    fake post-period is ``transition_year - shift + 1`` .. ``transition_year - 1``. ``holdout`` is
    applied to the shortened pre-period (and reduced so that two years are left to fit on)."""
    table, years = _measure_table(panel, measure, years, table)
    years = [y for y in years if y < transition_year]
    fake = transition_year - shift
    holdout = max(0, min(holdout, len([y for y in years if y < fake]) - 2))
    return fit_synthetic(panel, measure, treated, fake, years, max_donors=max_donors, holdout=holdout, table=table)


def run_synthetic_control(panel: pd.DataFrame | None = None, treated: str = TREATED,
                          transition_year: int = TRANSITION_YEAR, measures=None, years=None,
                          placebos: bool = True, max_donors: int | None = MAX_DONORS, holdout: int = 0,
                          placebo_units: str = "donors", in_time_shift: int = 2,
                          augmented: bool = True) -> dict[str, pd.DataFrame]:
    """All rates for one council. ``holdout``: pre-period years held out of the weights' fit and
    used alone for the pre-RMSPE (:func:`fit_table`); ``placebo_units``: see :func:`placebo_fits`;
    ``augmented``: also fit the augmented synthetic control (sensitivity). Returns tidy tables:

    ``effects`` (measure, year, period, treated, synthetic, gap), ``weights`` (measure, donor,
    la_name, weight > 0), ``inference`` (one row per measure: pre/post RMSPE, ratio, placebo rank
    and p-value, in-time placebo ratio and gap, leave-one-out range of the mean post gap, and the
    augmented (ridge) synthetic control's pre-RMSPE and mean post gap as a sensitivity analysis),
    ``placebos`` (every unit's ratio), ``placebo_gaps`` (every placebo's gap by year) and
    ``leave_one_out``.
    """
    # SLSQP makes thousands of tiny BLAS calls; a multi-threaded OpenBLAS spins its threads on each,
    # which made the Oxfordshire run about 10 times slower on a loaded 2-core machine.
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_synthetic_control(panel, treated, transition_year, measures, years, placebos, max_donors,
                                      holdout, placebo_units, in_time_shift, augmented)


def _run_synthetic_control(panel, treated, transition_year, measures, years, placebos, max_donors, holdout,
                           placebo_units, in_time_shift, augmented):
    panel = read_panel() if panel is None else panel
    measures = list(RATES) if measures is None else list(measures)
    names = la_names(panel)
    effects, weights, inference, placebo_rows, loo_rows, gap_rows = [], [], [], [], [], []
    for m in measures:
        base = wide(panel, m)  # the rate's table, for every fit below
        fit = fit_synthetic(panel, m, treated, transition_year, years, max_donors=max_donors, holdout=holdout,
                            table=base)
        s = fit.series.assign(measure=m)
        effects.append(s[["measure", "year", "period", "treated", "synthetic", "gap"]])
        w = fit.weights[fit.weights > 1e-4].sort_values(ascending=False)
        weights.append(pd.DataFrame({"measure": m, "donor": w.index, "la_name": names.reindex(w.index).to_numpy(),
                                     "weight": w.to_numpy()}))
        pre_mean = float(s.loc[s["period"] == "pre", "treated"].mean())
        table = base.reindex(columns=sorted(fit.series["year"]))
        row = {"measure": m, "donor_pool": len(donor_pool(table, list(table.columns), treated)), "n_donors": len(fit.weights), "pre_rmspe": fit.pre_rmspe,
               "pre_rmspe_pct_of_mean": 100 * fit.pre_rmspe / pre_mean, "post_rmspe": fit.post_rmspe,
               "ratio": fit.ratio, "mean_post_gap": fit.mean_post_gap,
               "mean_post_gap_pct": 100 * fit.mean_post_gap / float(s.loc[s["period"] == "post", "synthetic"].mean()),
               "holdout_years": holdout}
        if augmented:
            try:
                aug = fit_augmented(panel, m, treated, transition_year, years, max_donors=max_donors, table=base)
                row.update(augsynth_pre_rmspe=aug.pre_rmspe, augsynth_mean_post_gap=aug.mean_post_gap,
                           augsynth_lambda=aug.extra["lambda"])
            except (ValueError, np.linalg.LinAlgError) as exc:  # sensitivity only: report, do not fail
                row.update(augsynth_error=str(exc))
        if placebos:
            fits = placebo_fits(panel, m, treated, transition_year, years, fit=fit, max_donors=max_donors,
                                units=placebo_units, holdout=holdout, table=base)
            pl = summarise_placebos(fits)
            placebo_rows.append(pl)
            gap_rows.append(placebo_gaps(fits))
            t = pl[pl["is_treated"]].iloc[0]
            row.update(placebo_rank=int(t["rank"]), placebo_units=len(pl), placebo_p=float(t["p_value"]),
                       placebo_p_gap=float(t["p_value_gap"]),
                       placebos_pre_rmspe_below_treated=int((pl["pre_rmspe"] < fit.pre_rmspe).sum()))
            it = placebo_in_time(panel, m, treated, transition_year, in_time_shift, years, max_donors=max_donors,
                                 holdout=holdout, table=base)
            row.update(in_time_ratio=it.ratio, in_time_mean_gap=it.mean_post_gap)
            loo = leave_one_out(panel, m, treated, transition_year, years, fit=fit, max_donors=max_donors,
                                holdout=holdout, table=base)
            loo_rows.append(loo)
            row.update(loo_min_gap=float(loo["mean_post_gap"].min()) if len(loo) else np.nan,
                       loo_max_gap=float(loo["mean_post_gap"].max()) if len(loo) else np.nan)
        inference.append(row)
    def cat(frames, name):
        if frames:
            return pd.concat(frames, ignore_index=True)
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in TABLE_DTYPES[name].items()})

    inference = pd.DataFrame(inference).reindex(columns=TABLE_COLUMNS["inference"])
    inference = inference.astype({c: t for c, t in TABLE_DTYPES["inference"].items() if t in ("Int64", _S)})
    # The same columns whatever was asked for (placebos, augmented): a stored table keeps its layout.
    return {"effects": cat(effects, "effects"), "weights": cat(weights, "weights"), "inference": inference,
            "placebos": cat(placebo_rows, "placebos"), "placebo_gaps": cat(gap_rows, "placebo_gaps"),
            "leave_one_out": cat(loo_rows, "leave_one_out")}


def treated_council(adopters_table: pd.DataFrame, code: str, first_panel_year: int,
                    min_pre_years: int = 5) -> tuple[str, int]:
    """(name, transition year) of adopter ``code`` for a synthetic control, refused unless it is in
    ``adopters_table`` with a sourced go-live and at least ``min_pre_years`` panel years before
    its transition year."""
    rows = adopters_table[adopters_table["la_code_old"].astype(str) == str(code)]
    if rows.empty:
        raise ValueError(f"council {code!r} is not in the adopters table: give the DfE 3-digit code "
                         f"of an adopter ({', '.join(sorted(adopters_table['la_code_old'].astype(str)))})")
    row = rows.iloc[0]
    if not bool(row["sourced"]) or pd.isna(row["first_year"]):
        raise ValueError(f"council {code} ({row['la_name']}): go-live date is not sourced, so it has no "
                         "transition year to compare around")
    transition = int(row["first_year"])
    if transition - first_panel_year < min_pre_years:
        raise ValueError(f"council {code} ({row['la_name']}): only {transition - first_panel_year} panel "
                         f"years before its transition year {transition}; at least {min_pre_years} needed")
    return str(row["la_name"]), transition


#: scipy.optimize's finite-difference step for SLSQP without a gradient (its ``_epsilon``).
_FD_STEP = float(np.sqrt(np.finfo(float).eps))


def forward_difference_gradient(fun, lb: np.ndarray, ub: np.ndarray):
    """The gradient scipy's SLSQP makes for itself when given none (``jac=None``): forward
    differences with the absolute step :data:`_FD_STEP`, turned backward where a step would leave
    the bounds (scipy 1.17 ``approx_derivative(method='2-point', abs_step=_epsilon, bounds=...)``
    with ``f0`` = ``fun(x)``), computed with the same operations so that every component is the
    same float, without scipy's wrappers around each of the n evaluations. Returned as ``jac``,
    SLSQP takes the same steps as without it (tests/test_comparison_synthetic.py)."""
    lb, ub = np.asarray(lb, dtype=float), np.asarray(ub, dtype=float)

    def jac(x0):
        x0 = np.asarray(x0, dtype=float)
        f0 = fun(x0)
        # _numdiff.approx_derivative's absolute step and _adjust_scheme_to_bounds('1-sided', 1 step)
        sign_x0 = (x0 >= 0).astype(float) * 2 - 1
        h = _FD_STEP
        dx = (x0 + h) - x0
        h = np.where(dx == 0, _FD_STEP * sign_x0 * np.maximum(1.0, np.abs(x0)), h)
        if not np.all((lb == -np.inf) & (ub == np.inf)):
            h_adjusted = h.copy()
            lower_dist, upper_dist = x0 - lb, ub - x0
            x = x0 + h
            violated = (x < lb) | (x > ub)
            fitting = np.abs(h) <= np.maximum(lower_dist, upper_dist)
            h_adjusted[violated & fitting] *= -1
            forward = (upper_dist >= lower_dist) & ~fitting
            h_adjusted[forward] = upper_dist[forward] / 1
            backward = (upper_dist < lower_dist) & ~fitting
            h_adjusted[backward] = -lower_dist[backward] / 1
            h = h_adjusted
        grad = np.empty(x0.size)
        for i in range(x0.size):  # _numdiff._dense_difference, '2-point'
            x1 = np.copy(x0)
            x1[i] = x0[i] + h[i]
            grad[i] = (fun(x1) - f0) / ((x0[i] + h[i]) - x0[i])
        return grad

    return jac


class DifferencedGradientMixin:
    """pysyncon's ``VanillaOptimMixin.w_optimize`` (the donor weights' programme, solved by SLSQP
    from equal weights with bounds 0..1 and the sum-to-one constraint), with SLSQP handed the
    gradient it would otherwise difference itself (:func:`forward_difference_gradient`: the same
    floats, without scipy's per-evaluation wrappers) and the constraint as the dict scipy makes of
    it (:func:`_weights_sum_to_one`): the same weights, bit for bit. Put before a pysyncon class."""

    @staticmethod
    def w_optimize(V_mat, X0, X1, qp_method="SLSQP", qp_options={"maxiter": 1000}):  # noqa: B006 (pysyncon's)
        if not SCIPY_REPLAYED:  # pragma: no cover - the differences replayed are scipy 1.17's
            return VanillaOptimMixin.w_optimize(V_mat, X0, X1, qp_method=qp_method, qp_options=qp_options)
        _, n_c = X0.shape
        P = X0.T @ V_mat @ X0
        q = X1.T @ V_mat @ X0

        def fun(x):
            return 0.5 * x.T @ P @ x - q.T @ x

        lb, ub = np.full(n_c, 0.0), np.full(n_c, 1.0)
        res = minimize(fun=fun, x0=np.full(n_c, 1 / n_c), jac=forward_difference_gradient(fun, lb, ub),
                       bounds=Bounds(lb=lb, ub=ub), constraints=_weights_sum_to_one(n_c),
                       method=qp_method, options=qp_options)
        W, loss_W = res["x"], res["fun"]
        return W, loss_W.item()


class FastAugSynth(DifferencedGradientMixin, AugSynth):
    """pysyncon's :class:`~pysyncon.AugSynth`, the same numbers at a fraction of the cost.

    ``w_optimize`` from :class:`DifferencedGradientMixin`; ``cross_validate`` runs pysyncon's folds
    with what does not change with the ridge penalty (the fold's ``B @ B.T``, the residual
    ``A - B @ W``, the arrays the products read) found once per fold instead of once per penalty,
    and each penalty's products made by the same numpy calls on the same arrays pandas would make
    them with. tests/test_comparison_synthetic.py holds every fitted attribute the pipeline reads
    (weights, penalty, cross-validation errors) to pysyncon's AugSynth bit for bit."""

    def cross_validate(self, X0: pd.DataFrame, X1: pd.Series, lambdas: np.ndarray, t0: int,
                       holdout_len: int = 1):
        if holdout_len < 1 or t0 < 2 or holdout_len >= t0:
            return super().cross_validate(X0, X1, lambdas, t0, holdout_len)  # its error message
        res = list()
        for i in range(t0 - holdout_len):
            holdout = slice(i, i + holdout_len)
            X0_t = X0.drop(index=X0.index[holdout])
            X0_v = X0.iloc[holdout]
            X1_t = X1.drop(index=X1.index[holdout])
            X1_v = X1.iloc[holdout]
            W, _ = self.w_optimize(V_mat=np.identity(X0_t.shape[0]), X0=X0_t.to_numpy(), X1=X1_t.to_numpy(),
                                   qp_options={"maxiter": 2000, "ftol": 1e-12})
            # solve_ridge(A=X1_t, B=X0_t, W, l) = (A - B @ W) @ inv(B @ B.T + l I) @ B, pandas's way:
            # B @ W is np.dot(B.values, W); B @ B.T a DataFrame of np.dot(B.values, B.T.values);
            # v @ B is B.T.dot(v), np.dot(B.T.values, v); X0_v @ W_aug is np.dot(X0_v.values, W_aug)
            M = (X1_t - X0_t @ W).to_numpy()
            gram = (X0_t @ X0_t.T).to_numpy()
            identity = np.identity(X0_t.shape[0])
            BT = X0_t.T.values
            v_values, x1_v = X0_v.values, X1_v.to_numpy()
            this_res = list()
            for l in lambdas:
                N = np.linalg.inv(gram + l * identity)
                W_aug = W + np.dot(BT, np.dot(M, N))
                err = ((x1_v - np.dot(v_values, W_aug)) ** 2).sum()
                this_res.append(err.item())
            res.append(this_res)
        means = np.array(res).mean(axis=0)
        ses = np.array(res).std(axis=0, ddof=1) / np.sqrt(t0 - holdout_len)
        return CrossValidationResult(lambdas, means, ses)


def fit_augmented(panel: pd.DataFrame | None = None, measure: str = "cla_31mar_rate_per_10k_derived",
                  treated: str = TREATED, transition_year: int = TRANSITION_YEAR, years=None,
                  max_donors: int | None = MAX_DONORS, lambda_: float | None = None,
                  table: pd.DataFrame | None = None) -> SyntheticFit:
    """Augmented (ridge) synthetic control (Ben-Michael, Feller & Rothstein 2021) through
    :class:`pysyncon.AugSynth`, as a sensitivity analysis: same donor pool as :func:`fit_synthetic`,
    ridge penalty chosen by pysyncon's cross-validation unless ``lambda_`` is given. Weights may be
    negative. The transition year is left out of the fit (AugSynth's pre-period is every year
    before the first post year). ``table`` as in :func:`fit_synthetic`."""
    table, years = _measure_table(panel, measure, years, table)
    pre = [y for y in years if y < transition_year]
    donors = nearest_donors(table, treated, donor_pool(table, years, treated), pre, max_donors)
    keep = [y for y in years if y != transition_year]
    long = table.loc[[treated] + donors, keep].stack().rename("y").reset_index()
    long.columns = ["unit", "year", "y"]
    long["year"] = long["year"].astype(int)
    dp = Dataprep(foo=long, predictors=[], predictors_op="mean", dependent="y", unit_variable="unit",
                  time_variable="year", treatment_identifier=treated, controls_identifier=donors,
                  time_predictors_prior=pre, time_optimize_ssr=pre)
    aug = FastAugSynth()
    aug.fit(dataprep=dp, lambda_=lambda_, use_covariates=False)
    w = pd.Series(np.asarray(aug.W, dtype=float), index=donors, name="weight")
    synthetic = table.loc[donors, years].to_numpy().T @ w.to_numpy()
    series = pd.DataFrame({"year": years, "treated": table.loc[treated, years].to_numpy(), "synthetic": synthetic})
    series["gap"] = series["treated"] - series["synthetic"]
    series["period"] = np.select([series["year"] < transition_year, series["year"] == transition_year],
                                 ["pre", "transition"], "post")
    return SyntheticFit(measure, treated, transition_year, w, series,
                        _rmspe(series.loc[series["period"] == "pre", "gap"]),
                        _rmspe(series.loc[series["period"] == "post", "gap"]),
                        extra={"method": "augsynth", "lambda": float(aug.lambda_)})
