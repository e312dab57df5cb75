"""Multi-state Aalen–Johansen state occupation, expected days and first passage, against R.

Reference: tests/reference/multistate/make_reference.R (R survival ``survfit`` with
``id``/``istate``, ``summary(fit, rmean = tau)``) on intervals.csv from make_inputs.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.results import RESULT_COLUMNS
from evaluation.survival import multistate as ms

HERE = Path(__file__).resolve().parent / "reference" / "multistate"
STATES = ms.DEFAULT_STATES
REACH_STATES = ("referral", "cin_plan", "closed", "reached")


@pytest.fixture(scope="module")
def intervals() -> pd.DataFrame:
    return pd.read_csv(HERE / "intervals.csv", dtype={"id": str, "cluster": str})


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((HERE / "reference.json").read_text())


def _compare_curve(fit: ms.StateOccupation, curve: dict) -> None:
    order = [fit.states.index(s) for s in curve["states"]]
    np.testing.assert_array_equal(fit.time, curve["time"])
    np.testing.assert_allclose(fit.pstate[:, order], curve["pstate"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fit.std_err[:, order], curve["std_err"], rtol=1e-4, atol=1e-8)
    np.testing.assert_array_equal(fit.n_risk[:, order], curve["n_risk"])


@pytest.mark.parametrize("group", ["pre_fsp", "post_fsp"])
def test_state_occupation_matches_r_by_cohort(intervals, reference, group):
    fit = ms.state_occupation(intervals[intervals["group"] == group], STATES)
    _compare_curve(fit, reference["by_group"]["curves"][group])


def test_state_occupation_matches_r_whole_sample(intervals, reference):
    fit = ms.state_occupation(intervals, STATES)
    _compare_curve(fit, reference["overall"]["curves"]["all"])
    np.testing.assert_allclose(fit.pstate.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("section,by", [("by_group", "group"), ("overall", None)])
@pytest.mark.parametrize("tau", ["365", "730"])
def test_expected_days_match_r_rmean(intervals, reference, section, by, tau):
    ours = ms.expected_days(intervals, float(tau), STATES, by=by)
    ref = reference[section]["rmean"][tau]
    for row, rmean, se in zip(ref["row"], ref["rmean"], ref["se_rmean"]):
        if by is None:
            group, state = "all", row
        else:
            label, state = row.split(", ")
            group = label.removeprefix("group=")
        got = ours[(ours["group"] == group) & (ours["state"] == state)].iloc[0]
        assert got["days"] == pytest.approx(rmean, rel=1e-9)
        assert got["se"] == pytest.approx(se, rel=1e-4)
    # the days in all states add up to tau
    np.testing.assert_allclose(ours.groupby("group")["days"].sum(), float(tau), rtol=1e-12)


@pytest.mark.parametrize("group", ["pre_fsp", "post_fsp"])
def test_first_passage_matches_r(intervals, reference, group):
    reach = ms.first_passage_intervals(intervals, ("cp_plan", "care"))
    fit = ms.state_occupation(reach[reach["group"] == group], REACH_STATES)
    curve = reference["reach"]["curves"][group]
    _compare_curve(fit, curve)
    ours = ms.proportion_reaching(intervals, (365, 730), ("cp_plan", "care"))
    ref_time = np.asarray(curve["time"])
    column = curve["states"].index("reached")
    for tau in (365, 730):
        i = np.searchsorted(ref_time, tau, side="right") - 1
        got = ours[(ours["group"] == group) & (ours["tau"] == tau)].iloc[0]
        assert got["estimate"] == pytest.approx(curve["pstate"][i][column], abs=1e-9)
        assert got["se"] == pytest.approx(curve["std_err"][i][column], rel=1e-4)


def test_first_passage_intervals_absorb_at_first_target():
    rows = pd.DataFrame({
        "id": ["a", "a", "a", "a", "b", "b"],
        "tstart": [0, 10, 20, 30, 5, 15],
        "tstop": [10, 20, 30, 40, 15, 50],
        "from_state": ["referral", "cin_plan", "cp_plan", "cin_plan", "cp_plan", "care"],
        "to_state": ["cin_plan", "cp_plan", "cin_plan", "censored", "care", "censored"],
    })
    out = ms.first_passage_intervals(rows, ("cp_plan", "care"))
    a = out[out["id"] == "a"].sort_values("tstart")
    assert list(a["to_state"]) == ["cin_plan", "reached"]
    b = out[out["id"] == "b"]
    assert list(zip(b["tstart"], b["tstop"], b["from_state"], b["to_state"])) == [(5, 50, "reached", "censored")]


def test_without_censoring_occupation_is_the_empirical_share():
    # complete follow-up from day 0: the Aalen–Johansen estimate is the sample proportion in each state
    rng = np.random.default_rng(7)
    states = ("referral", "cin_plan", "cp_plan", "closed")
    rows = []
    for child in range(60):
        state, t = "referral", 0
        while t < 100:
            stop = min(100, t + int(rng.integers(1, 6)) * 5)
            nxt = "censored" if stop == 100 else rng.choice([s for s in states if s != state])
            rows.append((f"c{child}", t, stop, state, nxt))
            state, t = nxt, stop
    frame = pd.DataFrame(rows, columns=["id", "tstart", "tstop", "from_state", "to_state"])
    fit = ms.state_occupation(frame, states)
    for day in (5, 35, 70, 95):
        current = frame[(frame["tstart"] <= day) & (frame["tstop"] > day)]
        share = current["from_state"].value_counts(normalize=True).reindex(states, fill_value=0.0)
        np.testing.assert_allclose(fit.at([day])["pstate"], share.to_numpy(), atol=1e-12)


def test_row_order_does_not_matter(intervals):
    shuffled = intervals.sample(frac=1.0, random_state=3)
    a = ms.state_occupation(intervals, STATES, taus=(365,))
    b = ms.state_occupation(shuffled, STATES, taus=(365,))
    np.testing.assert_array_equal(a.pstate, b.pstate)
    np.testing.assert_allclose(a.std_err, b.std_err, rtol=1e-12)
    np.testing.assert_allclose(a.rmean_se[365.0], b.rmean_se[365.0], rtol=1e-12)


def test_family_clustered_influence_matches_r(intervals, reference):
    # R's per-child influence (influence = TRUE) summed within families in make_reference.R
    by_child = ms.state_occupation(intervals, STATES)
    families = ms.state_occupation(intervals, STATES, cluster="cluster")
    order = [families.states.index(s) for s in reference["overall"]["curves"]["all"]["states"]]
    np.testing.assert_allclose(families.std_err[:, order], reference["overall"]["family_std_err"],
                               rtol=1e-4, atol=1e-10)
    np.testing.assert_array_equal(families.pstate, by_child.pstate)
    singletons = ms.state_occupation(intervals.assign(solo=intervals["id"]), STATES, cluster="solo")
    np.testing.assert_allclose(singletons.std_err, by_child.std_err, rtol=1e-12)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d.assign(tstart=np.where(d.index == 1, d["tstart"] - 1, d["tstart"])), "overlapping"),
        (lambda d: d.assign(tstart=np.where(d.index == 1, d["tstart"] + 1, d["tstart"])), "gap"),
        (lambda d: d.assign(from_state=np.where(d.index == 1, "care", d["from_state"])), "does not match"),
        (lambda d: d.assign(to_state=np.where(d.index == 0, d["from_state"], d["to_state"])), "already in"),
        (lambda d: d.assign(to_state=np.where(d.index == 0, "limbo", d["to_state"])), "not listed"),
    ],
)
def test_inconsistent_journeys_are_rejected(change, message):
    journey = pd.DataFrame({
        "id": ["a", "a", "a"], "tstart": [0, 10, 30], "tstop": [10, 30, 45],
        "from_state": ["referral", "cin_plan", "closed"], "to_state": ["cin_plan", "closed", "censored"],
    })
    ms.state_occupation(journey, STATES)  # the clean journey is fine
    with pytest.raises(ValueError, match=message):
        ms.state_occupation(change(journey), STATES)


def test_bootstrap_engine_with_unit_weights_reproduces_the_estimate(intervals):
    part = intervals[intervals["group"] == "pre_fsp"]
    design = ms._design(part, STATES, "referral")
    rmean, pstate = ms._bootstrap_one(design, np.ones((3, len(design.people))), (200.0, 365.0, 730.0))
    fit = ms.state_occupation(part, STATES, taus=(200, 365, 730))
    for k, tau in enumerate((200.0, 365.0, 730.0)):
        np.testing.assert_allclose(rmean[:, k], np.tile(fit.rmean[tau], (3, 1)), rtol=1e-12)
        np.testing.assert_allclose(pstate[:, k], np.tile(fit.at([tau])["pstate"].to_numpy(), (3, 1)), atol=1e-12)


def test_bootstrap_engine_with_integer_weights_equals_duplicated_children(intervals):
    part = intervals[intervals["group"] == "post_fsp"]
    design = ms._design(part, STATES, "referral")
    rng = np.random.default_rng(11)
    weights = rng.integers(0, 3, size=len(design.people))
    rmean, _ = ms._bootstrap_one(design, weights[None, :].astype(float), (365.0,))
    copies = []
    for person, w in zip(design.people, weights):
        rows = part[part["id"] == person]
        copies += [rows.assign(id=f"{person}_{j}") for j in range(w)]
    fit = ms.state_occupation(pd.concat(copies), STATES, taus=(365,))
    np.testing.assert_allclose(rmean[0, 0], fit.rmean[365.0], rtol=1e-10)


def test_bootstrap_is_seeded_and_resamples_families(intervals):
    a = ms.bootstrap_occupation(intervals, (365,), STATES, n_boot=60, seed=5)
    b = ms.bootstrap_occupation(intervals, (365,), STATES, n_boot=60, seed=5, chunk=7)
    c = ms.bootstrap_occupation(intervals, (365,), STATES, n_boot=60, seed=6)
    np.testing.assert_allclose(a["pre_fsp"][0], b["pre_fsp"][0], rtol=1e-12)
    assert not np.allclose(a["pre_fsp"][0], c["pre_fsp"][0])
    np.testing.assert_allclose(a["pre_fsp"][0].sum(axis=2), 365.0, rtol=1e-10)


def test_family_bootstrap_is_wider_when_siblings_share_journeys(intervals):
    # every family = three identical copies of one child's journey: resampling children
    # pretends there is three times the information there is
    firsts = intervals.drop_duplicates("cluster")[["cluster", "id"]]
    one = intervals[intervals["id"].isin(firsts["id"])]
    triplets = pd.concat([one.assign(id=one["id"] + f"_{k}") for k in range(3)], ignore_index=True)
    families = ms.bootstrap_occupation(triplets, (365,), STATES, n_boot=150, seed=1, cluster="cluster")
    children = ms.bootstrap_occupation(triplets, (365,), STATES, n_boot=150, seed=1, cluster=None)
    cp = STATES.index("cp_plan")
    for group in ("pre_fsp", "post_fsp"):
        ratio = families[group][0][:, 0, cp].std() / children[group][0][:, 0, cp].std()
        assert 1.4 < ratio < 2.2  # about sqrt(3)


def test_expected_days_table_is_tidy_with_covering_cis(intervals):
    table = ms.expected_days_table(intervals, taus=(365, 730), n_boot=120, seed=2)
    assert tuple(table.columns) == RESULT_COLUMNS
    assert len(table) == (2 + 1) * 2 * len(STATES)
    assert (table["ci_lower"] <= table["estimate"]).all() and (table["estimate"] <= table["ci_upper"]).all()
    point = ms.expected_days(intervals, (365, 730), STATES)
    for tau in (365.0, 730.0):
        for state in STATES:
            post = point.query("group == 'post_fsp' and tau == @tau and state == @state")["days"].iloc[0]
            pre = point.query("group == 'pre_fsp' and tau == @tau and state == @state")["days"].iloc[0]
            outcome = f"days_in_{state}"
            diff = table.query("contrast == 'post_fsp vs pre_fsp' and time == @tau and outcome == @outcome")
            assert diff["estimate"].iloc[0] == pytest.approx(post - pre, rel=1e-12)
    cohorts = table[table["cohort"].notna()]
    assert set(cohorts["n"]) == set(intervals.groupby("group")["id"].nunique())


def test_proportion_reaching_table(intervals):
    table = ms.proportion_reaching_table(intervals, taus=(365, 730), n_boot=120, seed=2)
    assert tuple(table.columns) == RESULT_COLUMNS
    assert len(table) == 3 * 2
    assert table["outcome"].eq("reached_cp_plan_or_care").all()
    cohorts = table[table["cohort"].notna()]
    assert cohorts["estimate"].between(0, 1).all()
    assert (table["ci_lower"] <= table["estimate"]).all() and (table["estimate"] <= table["ci_upper"]).all()
    # fewer escalations were planted in the post-FSP cohort
    diff = table[table["contrast"].notna() & (table["time"] == 365)].iloc[0]
    assert diff["estimate"] < 0


def test_estimates_without_variance_are_the_same_estimates():
    """variance=False (for callers whose limits come from the bootstrap) changes no estimate."""
    from evaluation.survival.multistate import state_occupation

    rng = np.random.default_rng(3)
    rows = []
    for i in range(300):
        t1 = float(rng.integers(1, 200))
        second = str(rng.choice(["cin_plan", "cp_plan", "closed"]))
        rows.append({"id": i, "tstart": 0.0, "tstop": t1, "from_state": "referral", "to_state": second})
        if second != "closed":
            rows.append({"id": i, "tstart": t1, "tstop": t1 + float(rng.integers(1, 300)),
                         "from_state": second, "to_state": str(rng.choice(["closed", "censored"]))})
    intervals = pd.DataFrame(rows)
    with_se = state_occupation(intervals, taus=(180.0,))
    without = state_occupation(intervals, taus=(180.0,), variance=False)
    np.testing.assert_array_equal(with_se.pstate, without.pstate)
    np.testing.assert_array_equal(with_se.rmean[180.0], without.rmean[180.0])
    assert np.isfinite(with_se.std_err).all() and np.isnan(without.std_err).all()


# --- case weights (R: tests/reference/multistate_weighted/make_reference.R) ---------------------

WEIGHTED = Path(__file__).resolve().parent / "reference" / "multistate_weighted"


@pytest.fixture(scope="module")
def weighted() -> tuple[pd.DataFrame, dict]:
    data = pd.read_csv(WEIGHTED / "intervals_weighted.csv", dtype={"id": str, "cluster": str})
    return data, json.loads((WEIGHTED / "reference.json").read_text())


@pytest.mark.parametrize("group", ["pre_fsp", "post_fsp"])
def test_weighted_occupation_matches_r(weighted, group):
    data, reference = weighted
    fit = ms.state_occupation(data[data["group"] == group], STATES, weights="w_child")
    _compare_curve(fit, reference["w_child"]["curves"][group])
    # weights that change within a child: R's estimates, but no IJ SE (R's differs)
    part = data[data["group"] == group]
    fit = ms.state_occupation(part, STATES, weights="w_row", variance=False)
    curve = reference["w_row"]["curves"][group]
    order = [fit.states.index(s) for s in curve["states"]]
    np.testing.assert_allclose(fit.pstate[:, order], curve["pstate"], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="changes within a child"):
        ms.state_occupation(part, STATES, weights="w_row")


@pytest.mark.parametrize("weight", ["w_child", "w_row"])
@pytest.mark.parametrize("tau", ["365", "730"])
def test_weighted_expected_days_match_r_rmean(weighted, weight, tau):
    data, reference = weighted
    variance = weight == "w_child"
    ours = ms.expected_days(data, float(tau), STATES, weights=weight, variance=variance)
    ref = reference[weight]["rmean"][tau]
    for row, rmean, se in zip(ref["row"], ref["rmean"], ref["se_rmean"]):
        label, state = row.split(", ")
        got = ours[(ours["group"] == label.removeprefix("group=")) & (ours["state"] == state)].iloc[0]
        assert got["days"] == pytest.approx(rmean, rel=1e-9)
    if variance:  # R's summary() drops the weights from se(rmean): compared with R's influence, weighted
        for group, ref_se in reference[weight]["se_rmean_weighted"][tau].items():
            mine = ours[ours["group"] == group].set_index("state").loc[ref_se["states"], "se"]
            np.testing.assert_allclose(mine, ref_se["se"], rtol=1e-8)
    unweighted = ms.expected_days(data, float(tau), STATES, variance=False)
    assert not np.allclose(ours["days"], unweighted["days"])  # the weights do change the estimate


@pytest.mark.parametrize("bad,message", [(np.nan, "missing"), (-1.0, "negative"), (np.inf, "infinite")])
def test_bad_weights_are_refused_naming_the_column(intervals, bad, message):
    data = intervals.assign(ipw=1.0)
    data.loc[data.index[4], "ipw"] = bad
    with pytest.raises(ValueError, match=f"'ipw'.*1 row.*{message}"):
        ms.expected_days_table(data, taus=(365,), n_boot=5, weights="ipw")
    with pytest.raises(ValueError, match="lack the weights column 'nope'"):
        ms.state_occupation(intervals, STATES, weights="nope")


# --- the bootstrap by frequency weights equals refitting on resampled families --------------------

def _resampled(intervals: pd.DataFrame, draws: np.ndarray, cluster: str | None) -> pd.DataFrame:
    """The table a resampling bootstrap builds: each family's children copied draw-count times."""
    unit_of_child, units = ms.resampling_units(intervals, cluster)
    copies = []
    for k, count in enumerate(draws):
        children = unit_of_child.index[unit_of_child.to_numpy() == k]
        rows = intervals[intervals["id"].astype(str).isin(children)]
        copies += [rows.assign(id=rows["id"].astype(str) + f"#{j}") for j in range(count)]
    return pd.concat(copies, ignore_index=True)


@pytest.mark.parametrize("cluster,weights", [("cluster", None), (None, None), ("cluster", "w_row")])
def test_frequency_weight_bootstrap_equals_refitting_resampled_families(weighted, cluster, weights):
    """Same seed → same draws → the same estimates as rebuilding the data for every replicate."""
    data, _ = weighted
    taus = (200.0, 365.0, 730.0)
    boot = ms.bootstrap_occupation(data, taus, STATES, cluster=cluster, n_boot=4, seed=9, chunk=3,
                                   weights=weights)
    _, units = ms.resampling_units(data, cluster)
    draws = ms.bootstrap_draws(len(units), 4, seed=9)
    for b in range(4):
        resampled = _resampled(data, draws[b], cluster)
        for group in ("pre_fsp", "post_fsp"):
            part = resampled[resampled["group"] == group]
            fit = ms.state_occupation(part, STATES, taus=taus, variance=False, weights=weights)
            rmean, pstate = boot[group][0][b], boot[group][1][b]
            for k, tau in enumerate(taus):
                np.testing.assert_allclose(rmean[k], fit.rmean[tau], rtol=1e-12, atol=1e-9)
                np.testing.assert_allclose(pstate[k], fit.at([tau])["pstate"].to_numpy(), rtol=0, atol=1e-12)


def test_weights_of_one_change_nothing(intervals):
    plain = ms.expected_days_table(intervals, taus=(365,), n_boot=30, seed=4)
    ones = ms.expected_days_table(intervals.assign(w=1.0), taus=(365,), n_boot=30, seed=4, weights="w")
    pd.testing.assert_frame_equal(plain, ones)


def test_point_estimate_without_variance_equals_the_ij_pass(intervals):
    """variance=False (one pass over the rows) reproduces the day-by-day IJ pass's estimates exactly."""
    fast = ms.state_occupation(intervals, STATES, taus=(365, 730), variance=False)
    full = ms.state_occupation(intervals, STATES, taus=(365, 730))
    np.testing.assert_array_equal(fast.pstate, full.pstate)
    np.testing.assert_array_equal(fast.n_risk, full.n_risk)
    for tau in (365.0, 730.0):
        np.testing.assert_array_equal(fast.rmean[tau], full.rmean[tau])


def test_a_row_of_weight_zero_counts_as_absent(weighted):
    """Weight 0 is the same as leaving the child out (what a replicate that did not draw a family does)."""
    data, _ = weighted
    part = data[data["group"] == "pre_fsp"]
    first_mover = part.loc[part.loc[part["to_state"] != "censored", "tstop"].idxmin(), "id"]
    zeroed = part.assign(w=np.where(part["id"] == first_mover, 0.0, 1.0))
    with_zero = ms.state_occupation(zeroed, STATES, taus=(365,), variance=False, weights="w")
    without = ms.state_occupation(part[part["id"] != first_mover], STATES, taus=(365,), variance=False)
    np.testing.assert_allclose(with_zero.rmean[365.0], without.rmean[365.0], rtol=1e-12)
    np.testing.assert_allclose(with_zero.p0, without.p0, rtol=1e-12)


def _random_journeys(seed: int, children: int = 300) -> pd.DataFrame:
    """Random contiguous journeys: delayed entry, tied days, back-transitions, censored or not, a
    weight per child."""
    rng = np.random.default_rng(seed)
    rows = []
    for child in range(children):
        t = float(rng.choice([0, 0, 0, rng.integers(1, 60)]))
        state = "referral"
        weight = float(rng.choice([0.5, 1.0, 1.0, 2.25]))
        for _ in range(rng.integers(1, 6)):
            stop = t + float(rng.integers(1, 120))
            moves = rng.random() < 0.8
            to = rng.choice([s for s in STATES if s != state]) if moves else "censored"
            rows.append({"id": f"c{child}", "cluster": f"f{child // 3}", "group": "g", "tstart": t, "tstop": stop,
                         "from_state": state, "to_state": to, "w": weight})
            if not moves:
                break
            t, state = stop, to
    return pd.DataFrame(rows)


@pytest.mark.parametrize("case", ["pre_fsp", "post_fsp", "weighted", *[f"random{k}" for k in range(6)]])
def test_dense_ij_pass_equals_the_indexed_pass_bitwise(intervals, weighted, monkeypatch, case):
    """The influence pass over every unit at once (the default) gives the day-by-day indexed pass's
    numbers bit for bit: curve SEs, restricted-mean influence and SEs, at taus inside, at and past the
    data (taus sharing their sums until their widths part)."""
    weights = None
    if case in ("pre_fsp", "post_fsp"):
        data = intervals[intervals["group"] == case]
    elif case == "weighted":
        data, weights = weighted[0][weighted[0]["group"] == "pre_fsp"], "w_child"
    else:
        data = _random_journeys(int(case.removeprefix("random")))
        weights = "w" if case in ("random1", "random3") else None
    taus = (0.5, 100.0, 365.0, 365.0 + 1e-9, 730.0, 5000.0)
    fits = {}
    for mode in ("indexed", "dense"):
        monkeypatch.setattr(ms, "_IJ_PASS", mode)
        fits[mode] = ms.state_occupation(data, STATES, taus=taus, weights=weights)
    old, new = fits["indexed"], fits["dense"]
    np.testing.assert_array_equal(new.std_err, old.std_err)
    np.testing.assert_array_equal(new.pstate, old.pstate)
    assert list(new.rmean_influence) == list(old.rmean_influence) == [float(t) for t in taus]
    for tau in old.rmean_influence:
        np.testing.assert_array_equal(new.rmean_influence[tau], old.rmean_influence[tau])
        np.testing.assert_array_equal(new.rmean_se[tau], old.rmean_se[tau])
        np.testing.assert_array_equal(new.rmean[tau], old.rmean[tau])
    assert np.any(old.std_err > 0)
    # the taus' sums are separate arrays (a caller may change one)
    assert len({id(u) for u in new.rmean_influence.values()}) == len(taus)
