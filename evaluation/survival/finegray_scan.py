"""Fine–Gray by a scan over sorted times, without the ``survival::finegray`` expansion.

The Fine–Gray partial likelihood is a Cox partial likelihood in which a child
who left by a competing route stays in the risk set after leaving, with a
weight that falls as the censoring (and, under delayed entry, the entry)
distribution does: at an exit-of-interest time ``s`` after its own exit time
``T_i`` a competing child carries ``W(s) / W(T_i)``, where ``W`` is a step
function fixed before fitting (crr: the Kaplan–Meier curve of censoring just
before ``s``; finegray: the weights of its expanded intervals). Because every
competing child shares the same ``W(s)``, each risk-set sum splits into

    S_k(s) = sum over open children (entry < s <= T_i) of c_i r_i x_i^k
           + W(s) * sum over competing children with T_i < s of c_i r_i x_i^k / W(T_i)

and both parts are running sums over the distinct times (as Kawaguchi et al.
2020, ``fastcmprsk``, do for the right-censored case). The information and the
score residuals swap the order of summation (sum over times of sums over
children) so that each child needs only a few cumulative sums: one sort,
then O(n p^2) per Newton step and O(n p) memory.

:func:`scan_fit` is the engine; :mod:`evaluation.survival.finegray` wires it
to ``cmprsk::crr`` (its censoring correction ``psi`` is added there) and to the
weighted Cox fit of the expanded data (cluster-robust sandwich, delayed entry,
case weights, Breslow or coxph's weighted Efron ties), which it reproduces
without building the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluation.errors import NotEstimable

#: Convergence: relative change in log partial likelihood, as cox.py.
EPS = 1e-12
MAX_ITER = 50


@dataclass
class ScanFit:
    """Result of :func:`scan_fit` (``x`` centred; all per-child arrays in input order)."""

    beta: np.ndarray
    loglik: float
    loglik_null: float
    score: np.ndarray
    information: np.ndarray
    residuals: np.ndarray  # weighted score residuals, one row per child (n x p)
    r: np.ndarray  # exp(x beta), centred x
    grid: np.ndarray  # distinct stop times
    s0: np.ndarray  # risk-set sum at each grid time
    xbar: np.ndarray  # weighted mean covariate at each grid time (0 where no exit of interest)
    d: np.ndarray  # weighted exits of interest at each grid time
    iterations: int
    converged: bool


class _Scan:
    """Index work done once per data set: positions of each child on the time grid."""

    def __init__(self, stop, status, start, w_grid, case_weight, efron=False):
        self.grid, self.k_stop = np.unique(stop, return_inverse=True)
        m = len(self.grid)
        self.m = m
        n = len(stop)
        # first grid index at which the child is at risk (entry < s)
        self.k_start = np.zeros(n, dtype=np.int64) if start is None else np.searchsorted(self.grid, start, "right")
        self.event = status == 1
        self.comp = status == 2
        self.c = np.ones(n) if case_weight is None else np.asarray(case_weight, dtype=float)
        self.w_grid = np.asarray(w_grid, dtype=float)
        self.w_own = self.w_grid[self.k_stop]  # W(T_i)
        if np.any(self.w_own[self.comp] <= 0):
            raise NotEstimable("a competing exit has zero censoring weight")
        self.d = np.bincount(self.k_stop[self.event], self.c[self.event], minlength=m)
        self.has_event = self.d > 0
        self.k_comp = self.k_stop[self.comp] + 1  # competing child enters the weighted part after T_i
        # exits of interest grouped by time; Efron's l-th of m tied exits counts (l/m) out of the risk set
        ev_idx = np.flatnonzero(self.event)
        self.ev_idx = ev_idx[np.argsort(self.k_stop[ev_idx], kind="stable")]
        self.ev_k = self.k_stop[self.ev_idx]
        self.n_tied = np.bincount(self.ev_k, minlength=m)
        self.c_event = np.where(self.event, self.c, 0.0)
        self.efron = efron
        if efron:  # one term per exit, weight coxph's meanwt
            rank = np.arange(len(self.ev_k)) - np.searchsorted(self.ev_k, self.ev_k, "left")
            self.term_k = self.ev_k
            self.term_t = rank / self.n_tied[self.ev_k]
            self.term_w = (self.d / np.maximum(self.n_tied, 1))[self.ev_k]
        else:  # Breslow: one term per exit time, weight the weighted exits there
            self.term_k = np.flatnonzero(self.has_event)
            self.term_t = np.zeros(len(self.term_k))
            self.term_w = self.d[self.term_k]

    def _running(self, r: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
        """Risk-set sums at every grid time of c r (``x`` None) or of c r x (m x p)."""
        m = self.m
        cols = [None] if x is None else range(x.shape[1])
        out = np.empty((m, len(cols)))
        for j, col in enumerate(cols):
            v = self.c * r if col is None else self.c * r * x[:, col]
            diff = np.bincount(self.k_start, v, minlength=m + 1) - np.bincount(self.k_stop + 1, v, minlength=m + 1)
            vc = v[self.comp] / self.w_own[self.comp]
            after = np.bincount(self.k_comp, vc, minlength=m + 1)
            out[:, j] = np.cumsum(diff)[:m] + self.w_grid * np.cumsum(after)[:m]
        return out[:, 0] if x is None else out

    def _integral(self, per_time: np.ndarray) -> np.ndarray:
        """For each child, sum over grid times s of Y_i(s) w_i(s) per_time(s) (w_i = 1 while open)."""
        cols = per_time[:, None] if per_time.ndim == 1 else per_time
        zero = np.zeros((1, cols.shape[1]))
        plain = np.vstack([zero, np.cumsum(cols, axis=0)])
        weighted = np.vstack([zero, np.cumsum(self.w_grid[:, None] * cols, axis=0)])
        out = plain[self.k_stop + 1]
        out -= plain[self.k_start]
        out[self.comp] += (weighted[-1] - weighted[self.k_comp]) / self.w_own[self.comp][:, None]
        return out[:, 0] if per_time.ndim == 1 else out

    def _by_time(self, values: np.ndarray, k: np.ndarray | None = None) -> np.ndarray:
        """Sum per grid time of per-term ``values`` (terms at grid times ``k``, default the terms')."""
        k = self.term_k if k is None else k
        if values.ndim == 1:
            return np.bincount(k, values, minlength=self.m)
        return np.stack([np.bincount(k, values[:, j], minlength=self.m) for j in range(values.shape[1])],
                        axis=1).reshape(self.m, values.shape[1])

    @staticmethod
    def _weighted_cross(x: np.ndarray, w: np.ndarray, chunk: int = 1 << 17) -> np.ndarray:
        """x' diag(w) x in row chunks (no n x p temporary)."""
        out = np.zeros((x.shape[1], x.shape[1]))
        for lo in range(0, len(x), chunk):
            xs = x[lo:lo + chunk]
            out += (xs * w[lo:lo + chunk, None]).T @ xs
        return out

    def derivatives(self, beta, x, residuals=False):
        """Log partial likelihood, score, information (and score residuals) at ``beta``.

        Breslow or Efron ties as coxph's weighted counting-process fit: at a time with
        m exits of interest (case weights c, mean weight mw = sum c / m), Efron's
        l-th term (l = 0..m-1, t = l/m) has denominator S0 - t E0 (E: sums over the
        tied exits) and weight mw; Breslow's single term has S0 and weight sum c.
        The information's sum over times of S2 / den is a per-child sum of hazards
        times x x', so no p x p array is kept per time or per child.
        """
        eta = x @ beta
        r = np.exp(eta)
        cr = self.c * r
        s0 = self._running(r)
        s1 = self._running(r, x)
        k, t, w = self.term_k, self.term_t, self.term_w
        if self.efron:
            ev_x, ev_cr = x[self.ev_idx], cr[self.ev_idx]
            e0 = self._by_time(ev_cr, self.ev_k)[k]
            e1 = self._by_time(ev_cr[:, None] * ev_x, self.ev_k)[k]
            den = s0[k] - t * e0
            num = s1[k] - t[:, None] * e1
        else:
            den, num = s0[k], s1[k]
        if np.any(den <= 0):
            raise NotEstimable("an exit of interest has an empty risk set")
        h = w / den  # hazard of each term
        xb = num / den[:, None]  # weighted mean covariate of each term
        loglik = float(self.c_event @ eta - np.sum(w * np.log(den)))
        score = self.c_event @ x - (w[:, None] * xb).sum(axis=0)
        hazard = self._by_time(h)  # at risk throughout the time (coxph's temp1)
        cum_h = self._integral(hazard)  # H_i: sum of Y_i w_i dLambda
        information = self._weighted_cross(x, cr * cum_h) - (xb * w[:, None]).T @ xb
        if self.efron:
            own = self._by_time(t * h)[self.ev_k]  # the part a tied exit is not at risk for (temp1 - temp2)
            information -= (ev_x * (ev_cr * own)[:, None]).T @ ev_x
        xbar = np.zeros((self.m, x.shape[1]))
        xbar[self.has_event] = (self._by_time(xb) / np.maximum(self.n_tied, 1)[:, None])[self.has_event] \
            if self.efron else xb
        out = dict(loglik=loglik, score=score, information=information, r=r, s0=s0, xbar=xbar)
        if residuals:
            q = self._integral(self._by_time(h[:, None] * xb))
            resid = x * cum_h[:, None]
            resid -= q
            resid *= -cr[:, None]
            ev_x = x[self.ev_idx]
            ev = self.ev_idx
            resid[ev] += self.c[ev, None] * (ev_x - xbar[self.ev_k])
            if self.efron:
                correction = self._by_time((t * h)[:, None] * xb)[self.ev_k]  # mh1 - mh2
                resid[ev] += cr[ev, None] * (ev_x * own[:, None] - correction)
            out["residuals"] = resid
        return out


def scan_fit(
    stop: np.ndarray,
    status: np.ndarray,
    x: np.ndarray,
    w_grid: np.ndarray,
    start: np.ndarray | None = None,
    case_weight: np.ndarray | None = None,
    ties: str = "breslow",
) -> ScanFit:
    """Maximise the (weighted) Fine–Gray partial likelihood, Breslow or Efron ties.

    ``status``: 0 censored, 1 exit of interest, 2 competing exit. ``w_grid``: the
    weight step function ``W`` evaluated at each distinct ``stop`` time (sorted);
    a competing child at risk at a later time ``s`` carries ``W(s) / W(T_i)``.
    ``start``: entry times (at risk when ``start < s <= stop``) or None.
    ``x`` should be centred. Returns the maximiser, its information and the
    weighted score residuals (the per-child terms of the robust sandwich).
    """
    # a diverging coefficient (monotone likelihood) overflows exp(); step halving handles it
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _newton(np.asarray(stop, dtype=float), np.asarray(status), np.asarray(x, dtype=float), w_grid,
                       start, case_weight, ties)


def _newton(stop, status, x, w_grid, start, case_weight, ties) -> ScanFit:
    if ties not in ("breslow", "efron"):
        raise ValueError("ties must be 'breslow' or 'efron'")
    scan = _Scan(stop, status, start, w_grid, case_weight, efron=ties == "efron")
    p = x.shape[1]
    beta = np.zeros(p)
    cur = scan.derivatives(beta, x)
    null_loglik = cur["loglik"]
    converged = False
    iterations = 0
    for iterations in range(1, MAX_ITER + 1):
        if p == 0:
            converged = True
            break
        try:
            step = np.linalg.solve(cur["information"], cur["score"])
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(cur["information"], cur["score"], rcond=None)[0]
        new = scan.derivatives(beta + step, x)
        halvings = 0
        while (not np.isfinite(new["loglik"]) or new["loglik"] < cur["loglik"] - 1e-12 * abs(cur["loglik"])) \
                and halvings < 60:
            step = step / 2
            halvings += 1
            new = scan.derivatives(beta + step, x)
        prev = cur["loglik"]
        beta = beta + step
        cur = new
        if cur["loglik"] == 0:  # every exit of interest alone at risk: the likelihood ignores beta
            raise NotEstimable("no information: every exit of interest was alone at risk")
        small_step = np.max(np.abs(step) / (1 + np.abs(beta)), initial=0.0) < 1e-10
        if abs(1 - prev / cur["loglik"]) <= EPS and small_step or np.max(np.abs(step), initial=0.0) < 1e-12:
            converged = True
            break
    final = scan.derivatives(beta, x, residuals=True)
    return ScanFit(
        beta=beta, loglik=final["loglik"], loglik_null=null_loglik, score=final["score"],
        information=final["information"], residuals=final["residuals"], r=final["r"], grid=scan.grid,
        s0=final["s0"], xbar=final["xbar"], d=scan.d, iterations=iterations, converged=converged,
    )


__all__ = ["ScanFit", "scan_fit"]
