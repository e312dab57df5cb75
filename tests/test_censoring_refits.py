"""The censoring model's cheaper refits (issue #20) give what the paths they replaced gave, bit for bit.

Two shortcuts in evaluation/survival/cox.py serve the family bootstrap's refits of the censoring model
(:func:`evaluation.survival.censoring_weights.censoring_model` with frequency weights):

- when every row is an event at risk from the origin (the fully observed planned censoring day),
  the risk sets' sums share the event sums (:func:`cox._risk_and_event_sums`) and the events'
  covariates are gathered once per fit, not once per Newton step;
- :func:`cox._usable_columns` skips its QR when the columns' Gram matrix shows them far from collinear
  (:func:`cox._clearly_full_rank`), where the QR would keep every column.

Each is checked here against the path it replaced (the shortcut switched off), bitwise.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evaluation.survival import cox
from evaluation.survival.censoring_weights import censoring_model
from evaluation.survival.cox import RiskSets, _derivatives, _event_sum, _risk_and_event_sums, _risk_sum


def _censoring_data(rng, n=3000, councils=6, distinct_days=40):
    """Planned censoring days with many ties; council indicators (sparse 0/1) and a 1..6 score."""
    c = rng.integers(1, distinct_days + 1, n).astype(float) * 30.0
    council = rng.integers(0, councils, n)
    x = np.column_stack([(council == k).astype(float) for k in range(1, councils)]
                        + [rng.integers(1, 7, n).astype(float), rng.random(n)])
    # the censoring day depends on the covariates, as the go-live cut makes it
    c = c + 30.0 * (council % 3)
    return c, x


def _slow(rs: RiskSets) -> RiskSets:
    return dataclasses.replace(rs, all_events_from_origin=False)


def test_the_flag_marks_only_every_row_an_event_from_the_origin():
    rng = np.random.default_rng(1)
    stop = rng.integers(1, 20, 200).astype(float)
    w = np.ones(200)
    ev = np.ones(200, dtype=np.int64)
    assert RiskSets.build(stop, ev, None, None, w).all_events_from_origin
    censored = ev.copy()
    censored[5] = 0
    assert not RiskSets.build(stop, censored, None, None, w).all_events_from_origin
    assert not RiskSets.build(stop, ev, stop - 0.5, None, w).all_events_from_origin          # delayed entry
    assert not RiskSets.build(stop, ev, None, rng.integers(0, 2, 200), w).all_events_from_origin  # strata
    # entry at the origin itself (0, before every time) still means at risk from the origin
    assert RiskSets.build(stop, ev, np.zeros(200), None, w).all_events_from_origin


@pytest.mark.parametrize("order", ["C", "F"])
def test_risk_and_event_sums_are_the_two_sums_bit_for_bit(order):
    rng = np.random.default_rng(2)
    c, x = _censoring_data(rng)
    w = rng.integers(1, 4, len(c)).astype(float)
    rs = RiskSets.build(c, np.ones(len(c), dtype=np.int64), None, None, w)
    assert rs.all_events_from_origin
    values = np.asarray(w[:, None] * np.exp(rng.normal(size=x.shape)) * x, order=order)
    for v in (values, values[:, 0].copy(), w * np.exp(rng.normal(size=len(c)))):
        risk, event = _risk_and_event_sums(v, rs)
        assert risk.tobytes() == _risk_sum(v, rs).tobytes()
        assert event.tobytes() == _event_sum(v, rs).tobytes()


@pytest.mark.parametrize("efron", [False, True])
@pytest.mark.parametrize("time_weighted", [False, True])
def test_derivatives_are_the_general_paths_bit_for_bit(efron, time_weighted):
    rng = np.random.default_rng(3)
    c, x = _censoring_data(rng)
    w = rng.integers(1, 4, len(c)).astype(float)
    x = x[:, np.arange(x.shape[1])]          # F-ordered, as the fits' column selections are
    x -= x.mean(axis=0)
    rs = RiskSets.build(c, np.ones(len(c), dtype=np.int64), None, None, w)
    tw = rng.random(rs.n_times) if time_weighted else None
    for beta in (np.zeros(x.shape[1]), rng.normal(scale=0.3, size=x.shape[1])):
        fast = _derivatives(beta, x, w, rs, efron, tw, x_events=x[rs.event_rows])
        slow = _derivatives(beta, x, w, _slow(rs), efron, tw)
        assert fast.loglik == slow.loglik
        assert fast.score.tobytes() == slow.score.tobytes()
        assert fast.information.tobytes() == slow.information.tobytes()


def _qr_usable_columns(x, names):
    """cox._usable_columns as it was: the QR decides every time."""
    dropped, keep = {}, []
    for k, name in enumerate(names):
        if np.ptp(x[:, k]) == 0:
            dropped[name] = "no variation in this column"
        else:
            keep.append(k)
    if keep:
        xc = x[:, keep]
        xc -= xc.mean(axis=0)
        xc /= np.sqrt((xc**2).sum(axis=0))
        diag = np.abs(np.diag(np.linalg.qr(xc, mode="r")))
        for k, bad in zip(list(keep), diag < cox.TOLER_COLLINEAR):
            if bad:
                dropped[names[k]] = "collinear with other covariates"
        keep = [k for k, bad in zip(keep, diag < cox.TOLER_COLLINEAR) if not bad]
    return np.asarray(keep, dtype=np.int64), dropped


def _designs(rng):
    c, x = _censoring_data(rng, n=800)
    yield x                                                       # full rank
    yield np.column_stack([x, x[:, 0] + x[:, 1]])                 # exactly collinear
    yield np.column_stack([x, x[:, 2] * 2.0 - 1.0])               # collinear through the centring
    yield np.column_stack([x, x[:, 0] + 1e-9 * rng.random(len(x))])   # near: under the tolerance
    yield np.column_stack([x, x[:, 0] + 1e-5 * rng.random(len(x))])   # near: above it, not clearly
    yield np.column_stack([x, x[:, 0] + 1e-2 * rng.random(len(x))])
    yield np.column_stack([x[:, :3], np.ones(len(x)), x[:, 3:]])  # a constant column
    yield x[:5]                                                   # fewer rows than columns
    # a resample's rows: a council's indicator constant, or two councils' the complement of the rest
    for seed in range(20):
        draw = np.random.default_rng(seed).integers(0, len(x), len(x) // 20)
        yield x[draw]


def test_usable_columns_decides_as_the_qr():
    rng = np.random.default_rng(4)
    shortcut = 0
    for x in _designs(rng):
        names = [f"x{j}" for j in range(x.shape[1])]
        keep, dropped = cox._usable_columns(x, names)
        ref_keep, ref_dropped = _qr_usable_columns(x, names)
        assert keep.tolist() == ref_keep.tolist() and dropped == ref_dropped
        xc = x[:, ref_keep] - x[:, ref_keep].mean(axis=0)
        shortcut += cox._clearly_full_rank(xc / np.sqrt((xc**2).sum(axis=0)))
    assert shortcut > 5    # the shortcut was taken, and not only there


def test_clearly_full_rank_leaves_near_collinear_columns_to_the_qr():
    rng = np.random.default_rng(5)
    _, x = _censoring_data(rng, n=800)
    for gap in (0.0, 1e-9, 1e-6, 1e-4):
        near = np.column_stack([x, x[:, 0] + gap * rng.random(len(x))])
        near = near - near.mean(axis=0)
        assert not cox._clearly_full_rank(near / np.sqrt((near**2).sum(axis=0)))
    full = x - x.mean(axis=0)
    assert cox._clearly_full_rank(full / np.sqrt((full**2).sum(axis=0)))


def test_censoring_model_refits_are_the_general_paths_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(6)
    c, x = _censoring_data(rng, n=4000, councils=8)
    draws = [rng.poisson(1.0, len(c)).astype(float) for _ in range(6)]
    draws.append(np.where(x[:, 0] == 1, 0.0, 1.0))     # a council not drawn: its column constant
    fast = [censoring_model(c, x, f) for f in draws] + [censoring_model(c, x)]

    build = RiskSets.build.__func__
    monkeypatch.setattr(RiskSets, "build", classmethod(lambda cls, *a: _slow(build(cls, *a))))
    monkeypatch.setattr(cox, "_clearly_full_rank", lambda xc: False)
    slow = [censoring_model(c, x, f) for f in draws] + [censoring_model(c, x)]
    for (used, coef), (ref_used, ref_coef) in zip(fast, slow):
        assert used.tolist() == ref_used.tolist()
        assert coef.tobytes() == ref_coef.tobytes()
    assert not fast[-2][0][0] and np.all(np.isfinite(fast[0][1]))
