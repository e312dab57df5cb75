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
