"""Callaway & Sant'Anna through `differences`: checked against R did's published mpdta example,
then run on the LA panel."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.comparison.adopters import adopters
from evaluation.comparison.panel import read_panel
from evaluation.comparison.staggered import did_frame, fit_attgt, run_staggered, summarise_attgt

MPDTA = Path(__file__).parent / "fixtures" / "mpdta" / "mpdta.csv"


@pytest.fixture(scope="module")
def mpdta_tables():
    d = pd.read_csv(MPDTA)
    d["cohort"] = d["first.treat"].replace(0, np.nan)
    return summarise_attgt(fit_attgt(d, outcome="lemp", unit="countyreal", time="year", cohort="cohort"))


def test_mpdta_overall_effects_match_r_did(mpdta_tables):
    o = mpdta_tables["overall"].set_index("aggregation")
    assert o.loc["group", "att"] == pytest.approx(-0.0310, abs=1e-3)  # R aggte(type="group")
    assert o.loc["group", "se"] == pytest.approx(0.0124, abs=1.5e-3)
    assert o.loc["dynamic", "att"] == pytest.approx(-0.0772, abs=1e-3)
    assert o.loc["dynamic", "se"] == pytest.approx(0.0207, abs=2e-3)
    assert o.loc["simple", "att"] == pytest.approx(-0.0400, abs=1e-3)


def test_mpdta_group_time_and_event_study(mpdta_tables):
    gt = mpdta_tables["group_time"].set_index(["cohort", "time"])["att"]
    assert gt[(2004, 2004)] == pytest.approx(-0.0105, abs=1e-3)
    assert gt[(2004, 2006)] == pytest.approx(-0.1373, abs=1e-3)
    assert gt[(2007, 2007)] == pytest.approx(-0.0261, abs=1e-3)
    ev = mpdta_tables["event"].set_index("relative_period")["att"]
    assert ev[-3] == pytest.approx(0.0305, abs=1e-3)
    assert ev[2] == pytest.approx(-0.1373, abs=1e-3)


def test_panel_cohorts_use_sourced_dates_only():
    panel = read_panel()
    data = did_frame(panel, "cla_31mar_rate_per_10k_derived")
    cohorts = data.dropna(subset=["cohort"]).drop_duplicates("la_code_old").set_index("la_code_old")["cohort"]
    assert cohorts.to_dict() == {"867": 2018, "931": 2021, "335": 2021, "888": 2021, "894": 2022,
                                "212": 2022, "866": 2023}
    unsourced = set(adopters().query("~sourced")["la_code_old"])
    assert not unsourced & set(data["la_code_old"])
    assert data.groupby("la_code_old").size().nunique() == 1  # balanced


def test_run_staggered_tables():
    t = run_staggered(measures=["cla_31mar_rate_per_10k_derived"])
    assert set(t) == {"group_time", "event", "overall", "cohorts"}
    assert set(t["overall"]["control_group"]) == {"never_treated", "not_yet_treated"}
    assert set(t["overall"]["aggregation"]) == {"simple", "group", "dynamic"}
    assert t["overall"][["att", "se"]].notna().all().all()
    assert t["event"]["relative_period"].max() == 2025 - 2018 and t["event"]["relative_period"].min() < 0


# --- GroupTimeATT (the group-time step on arrays) against the stock differences.ATTgt -------------

def _fitted(cls, data, control_group, formula="y", unit="unit", time="year", cohort="cohort",
            base_period="varying"):
    import warnings
    att = cls(data=data.set_index([unit, time]), cohort_column=cohort, base_period=base_period)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att.fit(formula=formula, est_method="reg", control_group=control_group, progress_bar=False)
    return att


def _assert_same_fit(stock, ours):
    """Every released table of summarise_attgt bit for bit, and each group-time's ATT, standard
    error, sample size, influence function and cohort dummy."""
    from scipy.sparse import csr_array
    a, b = summarise_attgt(stock), summarise_attgt(ours)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
    left, right = (x._result_dict["full_sample"]["ATTgt_ntl"] for x in (stock, ours))
    assert len(left) == len(right) > 0
    for x, y in zip(left, right):
        assert (x.cohort, x.base_period, x.time) == (y.cohort, y.base_period, y.time)
        np.testing.assert_array_equal([x.ATT, x.std_error, x.n_sample, x.n_total],
                                      [y.ATT, y.std_error, y.n_sample, y.n_total])
        for field in ("influence_func", "cohort_dummy"):
            u, v = csr_array(getattr(x, field)), csr_array(getattr(y, field))
            assert u.shape == v.shape and (u != v).nnz == 0, field


@pytest.mark.parametrize("control_group, measure", [("never_treated", "cla_31mar_rate_per_10k_derived"),
                                                     ("not_yet_treated", "rereferrals_pct")])
def test_group_time_arrays_equal_stock_attgt_on_the_la_panel(control_group, measure):
    """The pipeline's fits (two of its fourteen here; all fourteen were checked when the class was
    written) give the stock ATTgt's numbers exactly."""
    from differences import ATTgt

    from evaluation.comparison.staggered import GroupTimeATT
    data = did_frame(read_panel(), measure)
    _assert_same_fit(_fitted(ATTgt, data, control_group), _fitted(GroupTimeATT, data, control_group))
    assert isinstance(fit_attgt(data, control_group=control_group), GroupTimeATT)


@pytest.mark.parametrize("base_period", ["varying", "universal"])
@pytest.mark.parametrize("control_group", ["never_treated", "not_yet_treated"])
def test_group_time_arrays_equal_stock_attgt_on_mpdta(control_group, base_period):
    """R did's example (500 counties, unsorted ids), with the universal base period's reference
    group-times too; a covariate formula goes to the stock fit (checked once)."""
    from differences import ATTgt

    from evaluation.comparison.staggered import GroupTimeATT
    d = pd.read_csv(MPDTA)
    d["cohort"] = d["first.treat"].replace(0, np.nan)
    d = d.sample(frac=1, random_state=1)  # row order must not matter
    kw = dict(unit="countyreal", cohort="cohort", base_period=base_period)
    once = control_group == "never_treated" and base_period == "varying"
    for formula in ("lemp", "lemp ~ lpop") if once else ("lemp",):
        _assert_same_fit(_fitted(ATTgt, d, control_group, formula=formula, **kw),
                         _fitted(GroupTimeATT, d, control_group, formula=formula, **kw))
