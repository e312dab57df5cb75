"""The target-trial estimates reach the release: adjusted days in each state, their E-values and those of
the competing exits and the comparison across councils, the entries' balance, each row's design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis import competing_results, state_results
from evaluation.report.assemble import release_tables
from evaluation.report.limitations import limitations_from
from evaluation.results import tidy
from evaluation.study import StudyConfig
from evaluation.survival.evalue import evalue_hazard_ratio
from test_release_assembly import CONFIG, simulate_pipeline

STUDY = StudyConfig()


@pytest.fixture(scope="module")
def release():
    data = simulate_pipeline(n_families=500, seed=4)
    intervals = data["intervals"]
    child = intervals["id"].str.split(":").str[1]
    intervals = intervals.assign(la_code="931", child_id=child)
    results = {}
    results.update(competing_results(data["analysis"], STUDY, times=(91, 365)))
    results.update(state_results(intervals, STUDY, n_boot=20, analysis=data["analysis"]))
    results["across_councils"] = tidy([{
        "outcome": "time_in_need", "analysis": "cox_across_councils", "contrast": "adopting vs not",
        "combination": "all", "term": "programme", "estimate": 0.8, "ci_lower": 0.7, "ci_upper": 0.92, "se": 0.07,
        "n": 4000, "events": 2500, "method": "Cox stratified by council"}])
    return results, release_tables(results, data["flow"], data["analysis"], None, CONFIG, study=STUDY)


def test_days_in_state_release_the_adjusted_rows_with_their_design(release):
    _, out = release
    days = out["days_in_state"]
    assert {"multistate_aalen_johansen_ipw", "multistate_aalen_johansen_aipw"} <= set(days["analysis"])
    assert (days["design"] == "primary").all()
    shown = days[(days["analysis"] == "multistate_aalen_johansen_aipw") & days["estimate"].notna()]
    assert len(shown) > 0


def test_e_values_of_every_source_are_released(release):
    results, out = release
    e_values = out["e_values"]
    assert (e_values["design"] == "primary").all()
    analyses = set(e_values["analysis"])
    assert {"cause_specific_cox_adjusted", "fine_gray_adjusted", "multistate_aalen_johansen_ipw",
            "multistate_aalen_johansen_aipw", "multistate_aalen_johansen", "cox_across_councils"} <= analyses
    assert e_values["term"].str.endswith(": e_value").any()             # exit routes keep their route
    across = e_values[(e_values["analysis"] == "cox_across_councils") & (e_values["term"] == "e_value")]
    assert across["estimate"].item() == pytest.approx(evalue_hazard_ratio(0.8, 0.7, 0.92, rare=False).estimate,
                                                      abs=0.01)
    internal = len(results["competing_e_values"]) + len(results["state_e_values"]) + 2
    assert len(e_values) == internal


def test_entries_balance_is_released_and_named_in_the_limitations(release):
    _, out = release
    balance = out["covariate_balance"]
    rows = balance[balance["outcome"] == "days_in_state"]
    assert len(rows) and rows["smd_after"].notna().all()               # entries counted, not suppressed
    tilted = balance.copy()
    tilted.loc[rows.index[0], "imbalanced_after"] = True
    text = " ".join(limitations_from({**out, "covariate_balance": tilted}, [], []))
    assert "Days in state: after weighting the cohorts still differ in" in text


def test_days_figure_draws_the_observed_days_once_per_state_and_cohort(release, monkeypatch, tmp_path):
    from evaluation.report import drawing

    drawn = {}
    monkeypatch.setattr(drawing.figures, "days_in_state_figure",
                        lambda view, path, **kwargs: drawn.setdefault("view", view))
    _, out = release
    drawing._days_in_state(out["days_in_state"], tmp_path / "days.png")
    view = drawn["view"]
    assert not view.duplicated(["state", "cohort"]).any()
    assert set(view["cohort"]) == {"pre_fsp", "transition", "post_fsp"}
