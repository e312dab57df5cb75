"""Doubly robust (augmented IPW) difference in restricted mean survival time.

The outcome of each row is its RMST pseudo-observation up to ``tau``: the
cohort's RMST plus ``n`` times the row's infinitesimal-jackknife influence, as
R ``pseudo(survfit(Surv(time, status) ~ 1), times = tau, type = "rmst")``,
computed within each cohort (so censoring may differ between cohorts). With a
logistic propensity ``e(x)`` of the comparison cohort and a linear outcome
model ``m_a(x)`` of the pseudo-observations fitted within each cohort ``a``,
the augmented IPW estimate of the difference (comparison − reference) is the
mean over both cohorts' rows of

    m1(x) - m0(x) + A (Y - m1(x)) / e(x) - (1 - A) (Y - m0(x)) / (1 - e(x)),

consistent if either model is right (Bang & Robins 2005; pseudo-observations:
Andersen, Hansen & Klein 2004). :func:`aipw_terms` is that formula for any
pseudo-observations (also those of days in each state,
:mod:`evaluation.survival.adjusted_states`).

Standard error: the family-clustered variance of the terms above (summed within
families; the estimation of the nuisance models is ignored, usually
conservative for AIPW). With ``n_boot > 0`` the confidence limits are
percentiles of a family bootstrap that refits everything — propensity,
pseudo-observations, outcome models — on each resample, but without copying
rows: a resample is the families' draw counts used as frequency weights on the
one table (a weighted Kaplan–Meier, weighted logistic and least-squares fits),
which gives the same numbers as refitting on the resampled rows (checked in
tests/test_target_trial_aipw.py, with R). A replicate's estimate is summed per
covariate pattern (:func:`aipw_from_pattern_sums`): propensity and outcome
models are constant within a pattern, so the rows' terms are never formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.errors import NotEstimable
from evaluation.results import tidy
from evaluation.survival._data import SurvivalData, survival_data
from evaluation.survival.kaplan_meier import CurveGrid
from evaluation.survival.rmst import fit_rmst, rmst_on_grid

#: A propensity this close to 0 or 1 means the covariates separate the cohorts.
SEPARATION_LIMIT = 1e-8


def rmst_pseudo_observations(df: pd.DataFrame, duration: str, event: str, tau: float,
                             entry: str | None = None) -> np.ndarray:
    """RMST pseudo-observations ``theta + n * influence`` (IJ) of the rows of ``df``."""
    fit = fit_rmst(survival_data(df, duration, event, entry=entry), tau)
    return fit.estimate + len(df) * fit.influence


@dataclass(frozen=True)
class Patterns:
    """The rows of a design matrix (intercept included) coded by their distinct covariate patterns:
    the models below are fitted on per-pattern sums, exactly, at a fraction of the rows' cost."""

    distinct: np.ndarray    # P × p distinct rows
    code: np.ndarray        # n: each row's pattern

    @classmethod
    def of(cls, design: np.ndarray) -> "Patterns":
        """The distinct rows in ascending lexicographic order and each row's, as
        ``np.unique(design, axis=0, return_inverse=True)`` gives them: from one integer key per row
        (each column's rank, 0/1 columns as they are, combined first column most significant), so
        a sort of n integers instead of n rows of floats."""
        design = np.asarray(design, dtype=float)
        if design.ndim != 2 or not len(design) or not np.isfinite(design).all():
            distinct, code = np.unique(design, axis=0, return_inverse=True)
            return cls(distinct, code.ravel())
        key, size = np.zeros(len(design), dtype=np.int64), 1
        for column in design.T:
            if ((column == 0) | (column == 1)).all():
                rank, levels = column.astype(np.int64), 2
            else:
                values, rank = np.unique(column, return_inverse=True)
                levels = len(values)
            if size * levels >= 2**62:   # rank the key so far (same order) before it overflows
                _, key = np.unique(key, return_inverse=True)
                size = int(key.max()) + 1
            key, size = key * levels + rank, size * levels
        _, first, code = np.unique(key, return_index=True, return_inverse=True)
        return cls(design[first], code.ravel())

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per-pattern sums of ``values`` (n, or n × K)."""
        if values.ndim == 1:
            return np.bincount(self.code, weights=values, minlength=len(self.distinct))
        return np.stack([self.sums(values[:, k]) for k in range(values.shape[1])], axis=1)

    def sums_of_rows(self, values: np.ndarray) -> np.ndarray:
        """:meth:`sums` of ``values.T`` (``values``: K × n), P × K: each row summed as it lies."""
        return np.stack([self.sums(row) for row in values], axis=1)


def _frequencies(n: int, freq: np.ndarray | None) -> np.ndarray:
    return np.ones(n) if freq is None else np.asarray(freq, dtype=float)


def logistic_coefficients(design: np.ndarray | Patterns, y: np.ndarray, freq: np.ndarray | None = None,
                          start: np.ndarray | None = None, tol: float = 1e-12, max_iter: int = 50) -> np.ndarray:
    """Coefficients of a logistic regression (Newton-Raphson, as R ``glm``'s IRLS) of 0/1 ``y`` with
    optional frequency weights ``freq`` (a row counted that many times); ``start``: initial values
    (a bootstrap replicate starts from the full sample's and converges in a few steps)."""
    patterns = design if isinstance(design, Patterns) else Patterns.of(design)
    f = _frequencies(len(y), freq)
    return _logistic_on_sums(patterns.distinct, patterns.sums(f), patterns.sums(f * y), start, tol, max_iter)


def _logistic_on_sums(x: np.ndarray, trials: np.ndarray, successes: np.ndarray, start: np.ndarray | None,
                      tol: float = 1e-12, max_iter: int = 50) -> np.ndarray:
    """:func:`logistic_coefficients` from each pattern's (rows of ``x``) frequency and successes."""
    beta = np.zeros(x.shape[1]) if start is None else np.array(start, dtype=float)
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(x @ beta)))
        w = trials * p * (1 - p)
        step = np.linalg.pinv(x.T @ (x * w[:, None])) @ (x.T @ (successes - trials * p))
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def logistic_probabilities(design: np.ndarray | Patterns, y: np.ndarray, freq: np.ndarray | None = None,
                           start: np.ndarray | None = None) -> np.ndarray:
    """Fitted probabilities (one per row) of :func:`logistic_coefficients`."""
    patterns = design if isinstance(design, Patterns) else Patterns.of(design)
    beta = logistic_coefficients(patterns, y, freq, start)
    return (1 / (1 + np.exp(-(patterns.distinct @ beta))))[patterns.code]


def _outcome_model(design: Patterns, counts: np.ndarray, sums: np.ndarray,
                   inverse: np.ndarray | None = None) -> np.ndarray:
    """Each pattern's fitted outcome (P × K) of the linear model of one cohort: weighted least
    squares on the per-pattern frequencies ``counts`` and outcome sums ``sums``, through the normal
    equations (pinv: a column constant in one cohort is fine); ``inverse``: that pinv
    (:func:`_outcome_inverse` of ``counts``), when already made."""
    x = design.distinct
    if inverse is None:
        inverse = _outcome_inverse(design, counts)
    return x @ (inverse @ (x.T @ sums))


def _outcome_inverse(design: Patterns, counts: np.ndarray) -> np.ndarray:
    """The pinv of the normal equations of :func:`_outcome_model`: the per-pattern frequencies'
    alone, whatever the outcome."""
    x = design.distinct
    return np.linalg.pinv(x.T @ (x * counts[:, None]))


def aipw_terms(y: np.ndarray, treated: np.ndarray, design: np.ndarray | Patterns, e: np.ndarray,
               freq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Augmented IPW estimates of ``mean(Y(1)) - mean(Y(0))`` for each column of ``y`` (n × K) and each
    row's term (n × K): propensity ``e``, linear outcome model per arm on ``design`` (intercept
    included), rows counted ``freq`` times (default once)."""
    patterns = design if isinstance(design, Patterns) else Patterns.of(design)
    f = _frequencies(len(y), freq)
    a = treated.astype(float)
    m = {}
    for arm in (False, True):
        fa = np.where(treated == arm, f, 0.0)
        m[arm] = _outcome_model(patterns, patterns.sums(fa), patterns.sums(y * fa[:, None]))[patterns.code]
    terms = m[True] - m[False] + (a / e)[:, None] * (y - m[True]) - ((1 - a) / (1 - e))[:, None] * (y - m[False])
    return (f @ terms) / f.sum(), terms


def aipw_from_pattern_sums(design: Patterns, counts: dict[bool, np.ndarray], sums: dict[bool, np.ndarray],
                           e: np.ndarray, inverse: dict[bool, np.ndarray] | None = None) -> np.ndarray:
    """The estimates of :func:`aipw_terms` (K) from per-pattern sums alone: ``counts[arm]`` (P) the rows'
    frequencies and ``sums[arm]`` (P × K) their frequency-weighted outcomes in each cohort, ``e`` (P)
    each pattern's propensity. The propensity and both outcome models are constant within a covariate
    pattern, so the mean of the rows' terms is a sum over patterns: the same numbers up to rounding,
    without forming the n × K terms (a bootstrap replicate needs only the estimates). Patterns no row
    is counted in add nothing. ``inverse``: each cohort's :func:`_outcome_inverse`, when already made."""
    fitted = {arm: _outcome_model(design, counts[arm], sums[arm], None if inverse is None else inverse[arm])
              for arm in (False, True)}
    used = (counts[False] + counts[True]) > 0
    n1, n0, e = counts[True][used, None], counts[False][used, None], e[used, None]
    m1, m0 = fitted[True][used], fitted[False][used]
    total = ((n1 + n0) * (m1 - m0) + (sums[True][used] - n1 * m1) / e
             - (sums[False][used] - n0 * m0) / (1 - e)).sum(axis=0)
    return total / (counts[False].sum() + counts[True].sum())


def aipw_estimate(y: np.ndarray, treated: np.ndarray, design: Patterns, e: np.ndarray,
                  freq: np.ndarray, y_by_column: np.ndarray | None = None) -> np.ndarray:
    """The estimates of :func:`aipw_terms` alone (K), rows counted ``freq`` times, ``e`` each
    pattern's propensity (P): through :func:`aipw_from_pattern_sums`. ``y_by_column``: ``y``'s
    columns as contiguous rows (``np.ascontiguousarray(y.T)``), held by a caller that asks for many
    ``freq`` with one ``y``: each column's frequency-weighted values are then made and summed
    contiguously, the same products summed in the same order."""
    arms = {arm: np.where(treated == arm, freq, 0.0) for arm in (False, True)}
    if y_by_column is None:
        sums = {arm: design.sums(y * f[:, None]) for arm, f in arms.items()}
    else:
        sums = {arm: design.sums_of_rows(y_by_column * f) for arm, f in arms.items()}
    return aipw_from_pattern_sums(design, {arm: design.sums(f) for arm, f in arms.items()}, sums, e)


def pattern_propensity(design: Patterns, treated: np.ndarray, freq: np.ndarray,
                       start: np.ndarray | None = None) -> np.ndarray:
    """Each covariate pattern's fitted propensity (P) under frequency weights ``freq``; raises
    :class:`NotEstimable` when a pattern holding a counted row gets 0 or 1."""
    f = np.asarray(freq, dtype=float)
    return _propensity_on_counts(design, design.sums(f), design.sums(f * treated.astype(float)), start)


def _propensity_on_counts(design: Patterns, trials: np.ndarray, successes: np.ndarray,
                          start: np.ndarray | None) -> np.ndarray:
    """:func:`pattern_propensity` from each pattern's frequency and frequency in the comparison cohort."""
    beta = _logistic_on_sums(design.distinct, trials, successes, start)
    e = 1 / (1 + np.exp(-(design.distinct @ beta)))
    used = trials > 0
    if np.any((e[used] < SEPARATION_LIMIT) | (e[used] > 1 - SEPARATION_LIMIT)):
        raise NotEstimable("propensity of 0 or 1: the cohorts are separated by the covariates")
    return e




def _pseudo(grid: CurveGrid, taus: Sequence[float], freq: np.ndarray | None) -> np.ndarray:
    """RMST pseudo-observations (n × K) of the rows of one cohort (``grid``), each row counted ``freq``
    times: the Kaplan–Meier of the resample, and ``theta + N * influence per copy`` (rows drawn 0
    times get ``theta``; they weigh nothing)."""
    if freq is None:
        freq = np.ones(len(grid.data))
    freq = np.asarray(freq, dtype=float)
    drawn = freq > 0
    out = np.empty((len(grid.data), len(taus)))
    total = freq.sum()
    for k, (estimate, influence) in enumerate(rmst_on_grid(grid, freq, taus)):
        out[:, k] = estimate
        out[drawn, k] += total * influence[drawn] / freq[drawn]
    return out


def _require_events(data: SurvivalData, treated: np.ndarray, freq: np.ndarray) -> None:
    """Raise :class:`NotEstimable` unless each cohort has two counted rows and an event."""
    for arm in (False, True):
        rows = treated == arm
        _require_cohort_events(data.event[rows], freq[rows])


def _require_cohort_events(event: np.ndarray, freq: np.ndarray) -> None:
    """:func:`_require_events` for one cohort's rows (their events and frequencies)."""
    counted = freq > 0
    if counted.sum() < 2 or not event[counted].any():
        raise NotEstimable("a cohort without events or rows")


def _estimates(data: SurvivalData, treated: np.ndarray, design: Patterns, taus: Sequence[float],
               freq: np.ndarray | None = None, start: np.ndarray | None = None,
               grids: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """AIPW RMST differences at each tau and each row's terms, rows counted ``freq`` times
    (``start``: the propensity model's initial coefficients; ``grids``: :func:`_grids` of ``data``,
    built once for many resamples)."""
    f = np.ones(len(treated)) if freq is None else freq
    _require_events(data, treated, f)
    e = pattern_propensity(design, treated, f, start)[design.code]
    grids = _grids(data, treated) if grids is None else grids
    y = np.empty((len(treated), len(taus)))
    for arm in (False, True):
        rows = treated == arm
        y[rows] = _pseudo(grids[arm], taus, None if freq is None else freq[rows])
    return aipw_terms(y, treated, design, e, freq)


def _replicate(data: SurvivalData, treated: np.ndarray, design: Patterns, taus: Sequence[float],
               freq: np.ndarray, start: np.ndarray, grids: dict) -> np.ndarray:
    """The estimates of :func:`_estimates` (K) on rows counted ``freq`` times (a bootstrap replicate;
    whole numbers), from per-pattern sums (:func:`aipw_from_pattern_sums`): a pattern's
    frequency-weighted sum of pseudo-observations in a cohort is ``RMST * (its rows' frequencies) +
    N * (its rows' influences)``, rows drawn 0 times having influence 0 (see :func:`_pseudo`)."""
    arms = _Arms(data, treated, design)
    return arms.replicate({arm: freq[treated == arm] for arm in (False, True)}, taus, start, grids)


class _Arms:
    """Each cohort's rows' pattern codes and events, taken once for every bootstrap replicate."""

    def __init__(self, data: SurvivalData, treated: np.ndarray, design: Patterns):
        self.design = design
        self.code = {arm: design.code[treated == arm] for arm in (False, True)}
        self.event = {arm: data.event[treated == arm] for arm in (False, True)}

    def replicate(self, weights: dict[bool, np.ndarray], taus: Sequence[float], start: np.ndarray,
                  grids: dict, nuisance=None) -> np.ndarray:
        """:func:`_replicate` given each cohort's rows' frequencies ``weights[arm]``. The propensity
        model's per-pattern trials and successes are the cohorts' pattern counts added: sums of
        whole numbers, exact in any order, so the same bits as summed over the rows. ``nuisance``:
        a function giving :meth:`nuisance` of these weights (made for another outcome on the same
        rows, :class:`_SharedRows`), else made here."""
        for arm in (False, True):
            _require_cohort_events(self.event[arm], weights[arm])
        counts, e, inverse = self.nuisance(weights, start) if nuisance is None else nuisance()
        design, n_patterns = self.design, len(self.design.distinct)
        sums = {}
        for arm in (False, True):
            code, w = self.code[arm], weights[arm]
            sums[arm] = np.empty((n_patterns, len(taus)))
            total = w.sum()
            for k, (estimate, influence) in enumerate(rmst_on_grid(grids[arm], w, taus)):
                sums[arm][:, k] = estimate * counts[arm] + total * np.bincount(code, weights=influence,
                                                                                 minlength=n_patterns)
        return aipw_from_pattern_sums(design, counts, sums, e, inverse)

    def nuisance(self, weights: dict[bool, np.ndarray], start: np.ndarray):
        """What a replicate fits from its rows' covariate patterns, cohorts and frequencies alone, not
        their outcome: each cohort's per-pattern frequencies, the propensity of each pattern (raises
        :class:`NotEstimable` as :func:`_propensity_on_counts`) and each cohort's outcome-model
        inverse (:func:`_outcome_inverse`)."""
        design, counts = self.design, self.counts(weights)
        e = _propensity_on_counts(design, counts[False] + counts[True], counts[True], start)
        return counts, e, {arm: _outcome_inverse(design, counts[arm]) for arm in (False, True)}

    def counts(self, weights: dict[bool, np.ndarray]) -> dict[bool, np.ndarray]:
        """Each cohort's per-pattern frequencies."""
        return {arm: np.bincount(self.code[arm], weights=weights[arm], minlength=len(self.design.distinct))
                for arm in (False, True)}


#: At most this many :class:`_SharedRows` are kept across calls (the most recently used).
SHARED_ROWS_KEPT = 2


class _SharedRows:
    """The part of :func:`aipw_rmst_difference` that depends on the rows' covariates, cohorts and
    families only, not on the outcome (durations, events): the covariate patterns, the family codes,
    the full sample's propensity coefficients, the bootstrap's draw counts and each replicate's
    :meth:`_Arms.nuisance`. Outcomes on the same children (time in need, to a protection plan, to
    care) have the same rows there, so survival_results keeps the last ones made (``shared``) for
    the next outcomes, and these are made once for them, the same numbers (the same functions on
    the same values). The draw counts are held as small integers when they fit (the same values)."""

    def __init__(self, design: Patterns, treated: np.ndarray, ids: np.ndarray):
        self.design, self.treated, self.ids = design, treated, ids
        self.families, self.codes = np.unique(ids, return_inverse=True)
        self._start = None
        self._draws: dict[tuple[int, int], list[np.ndarray]] = {}
        self._fits: dict[tuple[int, int, int], object] = {}

    @classmethod
    def of(cls, design: Patterns, treated: np.ndarray, ids: np.ndarray, shared: dict | None) -> "_SharedRows":
        """The rows' :class:`_SharedRows`: one that ``shared`` keeps if made from the same covariate
        values (the same patterns bit for bit and the same rows' codes: the same design), cohorts and
        family ids, else a new one, kept there in place of the one
        used longest ago when :data:`SHARED_ROWS_KEPT` are kept (the outcomes' order may put other
        children between two outcomes on the same children)."""
        if shared is None:
            return cls(design, treated, ids)
        kept = shared.setdefault("rows", [])
        for position, held in enumerate(kept):
            if held._same(design, treated, ids):
                kept.append(kept.pop(position))
                return held
        rows = cls(design, treated, ids)
        kept.append(rows)
        del kept[:max(len(kept) - SHARED_ROWS_KEPT, 0)]
        return rows

    def _same(self, design: Patterns, treated: np.ndarray, ids: np.ndarray) -> bool:
        held = self.design
        return (held.distinct.shape == design.distinct.shape and len(held.code) == len(design.code)
                and self.ids.dtype == ids.dtype and len(self.ids) == len(ids)
                and np.array_equal(self.treated, treated) and np.array_equal(held.code, design.code)
                and np.array_equal(held.distinct.view(np.int64), design.distinct.view(np.int64))
                and np.array_equal(self.ids, ids))

    def start(self) -> np.ndarray:
        """The full sample's propensity coefficients (:func:`logistic_coefficients`)."""
        if self._start is None:
            self._start = logistic_coefficients(self.design, self.treated.astype(float))
        return self._start

    def draws(self, n_boot: int, seed: int, hold: bool):
        """The rows of :func:`family_draws` of the families one by one (:func:`_family_draws_by_chunk`);
        ``hold``: kept for the next outcome on these rows."""
        chunks = self._draws.get((n_boot, seed))
        if chunks is None:
            if not hold:
                return _family_draws_by_chunk(len(self.families), n_boot, seed)
            chunks = self._draws[(n_boot, seed)] = [
                drawn.astype(np.uint8) if drawn.size and drawn.max() <= 255 else drawn
                for drawn in family_draw_chunks(len(self.families), n_boot, seed)]
        return (row for drawn in chunks for row in drawn)

    def nuisance(self, arms: _Arms, weights: dict[bool, np.ndarray], key: tuple[int, int, int]):
        """A function giving :meth:`_Arms.nuisance` of replicate ``key`` (n_boot, seed, resample) of
        ``weights``: its propensity and inverses made at the first ask and kept (its error too: its
        kind and message, raised anew at each ask, so that no traceback keeps a call's frames), the
        frequencies counted at each ask (whole numbers: the same)."""
        def held():
            fit = self._fits.get(key)
            if fit is None:
                try:
                    counts, e, inverse = arms.nuisance(weights, self.start())
                except (NotEstimable, np.linalg.LinAlgError) as error:
                    self._fits[key] = _Failed(type(error), error.args)
                    raise
                self._fits[key] = (e, inverse)
                return counts, e, inverse
            if isinstance(fit, _Failed):
                raise fit.kind(*fit.args)
            return (arms.counts(weights), *fit)
        return held


@dataclass(frozen=True)
class _Failed:
    """A replicate's nuisance fit that raised: the error's kind and arguments."""

    kind: type
    args: tuple


def _grids(data: SurvivalData, treated: np.ndarray) -> dict[bool, CurveGrid]:
    """Each cohort's rows sorted once (:class:`~evaluation.survival.kaplan_meier.CurveGrid`)."""
    return {arm: CurveGrid(data.subset(treated == arm)) for arm in (False, True)}


def family_draws(n_families: int, n_boot: int, seed: int) -> np.ndarray:
    """Multinomial draw counts of the families on each resample (n_boot × families), seeded."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_families, np.full(n_families, 1.0 / n_families), size=n_boot)


#: At most this many resample × family draw counts are held at once (:func:`_family_draws_by_chunk`).
DRAW_CELLS = 1 << 22


def family_draw_chunks(n_families: int, n_boot: int, seed: int, cells: int = DRAW_CELLS):
    """:func:`family_draws` a few resamples at a time from the one generator (the same stream), at
    most ``cells`` counts a chunk, so that n_boot × families counts are never drawn at once."""
    rng = np.random.default_rng(seed)
    p = np.full(n_families, 1.0 / n_families)
    chunk = max(1, cells // max(n_families, 1))
    for lo in range(0, n_boot, chunk):
        yield rng.multinomial(n_families, p, size=min(chunk, n_boot - lo))


def _family_draws_by_chunk(n_families: int, n_boot: int, seed: int):
    """The rows of :func:`family_draws` one by one (:func:`family_draw_chunks`)."""
    for drawn in family_draw_chunks(n_families, n_boot, seed):
        yield from drawn


def clustered_se(terms: np.ndarray, estimates: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Cluster-robust SE of the means of ``terms`` (n × K): deviations summed within clusters."""
    sums = np.stack([np.bincount(codes, weights=terms[:, k] - estimates[k]) for k in range(terms.shape[1])], axis=1)
    return np.sqrt((sums**2).sum(axis=0)) / len(terms)


def bootstrap_limits(replicates: np.ndarray, n_boot: int, conf_level: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Percentile limits of each column of ``replicates`` (B × K), failing when over a tenth of the
    resamples could not be fitted (NaN rows); also the number used."""
    good = np.isfinite(replicates).all(axis=1)
    if good.sum() < 0.9 * n_boot:
        raise NotEstimable(f"only {int(good.sum())} of {n_boot} bootstrap resamples could be fitted")
    alpha = (1 - conf_level) / 2
    lower, upper = np.quantile(replicates[good], [alpha, 1 - alpha], axis=0)
    return lower, upper, int(good.sum())


def aipw_rmst_difference(
    df: pd.DataFrame,
    duration: str,
    event: str,
    group: str,
    covariates: Sequence[str],
    tau: Sequence[float],
    reference: str,
    comparison: str,
    cluster: str,
    n_boot: int,
    seed: int,
    entry: str | None = None,
    conf_level: float = 0.95,
    outcome: str | None = None,
    cluster_text_ranks: bool = False,
    shared: dict | None = None,
) -> pd.DataFrame:
    """Augmented IPW RMST difference (comparison − reference) at each ``tau``, tidy rows
    (``analysis="rmst_aipw"``, ``term="rmst_difference"``): the family-clustered influence-function
    SE, and with ``n_boot > 0`` family-bootstrap percentile limits (else normal limits).

    Families are numbered in the order of their ids as text (so the draws fall on the same
    families whatever the id's type); ``cluster_text_ranks``: ``cluster`` already holds integers
    in that order (survival_results codes family ids once per outcome), used as they are.
    ``shared``: a dict kept across calls (survival_results' outcomes), where what depends on the
    rows' covariates, cohorts and families only (:class:`_SharedRows`: patterns, draws, each
    replicate's propensity and outcome-model inverses) is kept for the next call on the same rows."""
    frame = df[df[group].isin([reference, comparison]).to_numpy()].reset_index(drop=True)
    treated = (frame[group] == comparison).to_numpy()
    if treated.all() or not treated.any():
        raise NotEstimable(f"needs rows in both {reference} and {comparison}")
    ids = frame[cluster].to_numpy() if cluster_text_ranks else frame[cluster].astype(str).to_numpy()
    rows = _SharedRows.of(Patterns.of(np.column_stack([np.ones(len(frame)),
                                                       frame[list(covariates)].to_numpy(dtype=float)])),
                          treated, ids, shared)
    design, families, codes = rows.design, rows.families, rows.codes
    taus = [float(t) for t in (tau if not np.isscalar(tau) else [tau])]
    data = survival_data(frame, duration, event, entry=entry)
    grids = _grids(data, treated)
    estimates, terms = _estimates(data, treated, design, taus, grids=grids)
    se = clustered_se(terms, estimates, codes)
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    method = ("doubly robust (augmented IPW) RMST difference: RMST pseudo-observations per cohort, logistic "
              f"propensity, linear outcome model per cohort; {cluster}-clustered influence-function SE")
    lower, upper = estimates - z * se, estimates + z * se
    if n_boot > 0:
        start = rows.start()
        replicates = np.full((n_boot, len(taus)), np.nan)
        arms = _Arms(data, treated, design)
        families_of = {arm: codes[treated == arm] for arm in (False, True)}
        for b, draw in enumerate(rows.draws(n_boot, seed, hold=shared is not None)):
            weights = {arm: draw[f].astype(float) for arm, f in families_of.items()}
            try:   # as _replicate, each cohort's frequencies drawn directly
                replicates[b] = arms.replicate(weights, taus, start, grids, None if shared is None else
                                               rows.nuisance(arms, weights, (n_boot, seed, b)))
            except (NotEstimable, np.linalg.LinAlgError):
                continue   # a resample without events in a cohort, or separated: left out (counted)
        lower, upper, used = bootstrap_limits(replicates, n_boot, conf_level)
        method += (f"; {cluster} bootstrap percentile CI ({used} resamples: draw counts as frequency weights, "
                   "propensity, pseudo-observations and outcome models refitted on each)")
    out = []
    for k, t in enumerate(taus):
        out.append({
            "outcome": outcome, "analysis": "rmst_aipw", "contrast": f"{comparison} vs {reference}",
            "combination": "all", "term": "rmst_difference", "time": t, "estimate": estimates[k],
            "ci_lower": lower[k], "ci_upper": upper[k], "se": se[k],
            "statistic": estimates[k] / se[k] if se[k] > 0 else np.nan,
            "p_value": float(2 * stats.norm.sf(abs(estimates[k] / se[k]))) if se[k] > 0 else np.nan,
            "n": len(frame), "events": int(frame[event].sum()), "method": method})
    return tidy(out)


__all__ = ["Patterns", "aipw_estimate", "aipw_from_pattern_sums", "aipw_rmst_difference", "aipw_terms",
           "bootstrap_limits", "clustered_se", "family_draw_chunks", "family_draws", "logistic_coefficients", "logistic_probabilities",
           "pattern_propensity", "rmst_pseudo_observations"]
