"""Log-rank / Cox score tests against R survival 3.5 (survdiff and coxph$score / $rscore).

Reference numbers: tests/reference/km/make_reference.R (data from make_inputs.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.results import RESULT_COLUMNS
from evaluation.survival.logrank import logrank_test

REFERENCE = Path(__file__).parent / "reference" / "km"
COHORTS = ["pre_fsp", "transition", "post_fsp"]


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE / "reference.json").read_text())


@pytest.fixture(scope="module")
def children() -> pd.DataFrame:
    frame = pd.read_csv(REFERENCE / "children.csv")
    frame["cohort"] = pd.Categorical(frame["cohort"], COHORTS)  # R's factor order
    return frame


@pytest.mark.parametrize(("name", "strata"), [("survdiff", None), ("survdiff_strata", "age_band")])
def test_matches_survdiff(name, strata, children, reference):
    expected = reference[name]
    test = logrank_test(children, "duration", "event", "cohort", strata=strata)
    assert test.variance_type == "hypergeometric"
    assert list(test.table["group"]) == COHORTS
    np.testing.assert_allclose(test.table["n"], expected["n"])
    np.testing.assert_allclose(test.table["observed"], expected["observed"], rtol=1e-10)
    np.testing.assert_allclose(test.table["expected"], expected["expected"], rtol=1e-6)
    if strata is None:
        np.testing.assert_allclose(test.variance, expected["variance"], rtol=1e-4)
    assert test.chisq == pytest.approx(expected["chisq"], rel=1e-4)
    assert test.df == expected["df"]
    assert test.p_value == pytest.approx(expected["p_value"], rel=1e-4)


# R coxph score test -> keyword arguments of logrank_test
SCORE_TESTS = {
    "breslow": {"variance": "breslow"},
    "breslow_strata": {"variance": "breslow", "strata": "age_band"},
    "entry_breslow": {"entry": "entry"},
    "entry_breslow_strata": {"entry": "entry", "strata": "age_band"},
    "exact": {"variance": "hypergeometric"},
    "entry_exact_strata": {"entry": "entry", "strata": "age_band", "variance": "hypergeometric"},
    "entry_breslow_strata_cluster": {"entry": "entry", "strata": "age_band", "cluster": "family_id"},
    "breslow_cluster": {"variance": "breslow", "cluster": "family_id"},
}


@pytest.mark.parametrize("name", list(SCORE_TESTS))
def test_matches_coxph_score_test(name, children, reference):
    expected = reference["cox_score"][name]
    test = logrank_test(children, "duration", "event", "cohort", **SCORE_TESTS[name])
    assert test.chisq == pytest.approx(expected["score"], rel=1e-4)
    assert test.df == expected["df"]
    if "robust_score" in expected:
        assert test.robust_chisq == pytest.approx(expected["robust_score"], rel=1e-4)
        assert test.robust_p_value == pytest.approx(stats.chi2.sf(expected["robust_score"], expected["df"]))
    else:
        assert test.robust_chisq is None


def test_delayed_entry_defaults_to_breslow_score_test(children, reference):
    test = logrank_test(children, "duration", "event", "cohort", entry="entry")
    assert test.variance_type == "breslow"
    # delayed entry changes the risk sets, so the statistic is not the right-censored one
    assert test.chisq != pytest.approx(reference["cox_score"]["breslow"]["score"], rel=1e-3)


def test_group_order_does_not_change_the_test(children):
    forward = logrank_test(children, "duration", "event", "cohort", strata="age_band")
    backward = children.assign(cohort=pd.Categorical(children["cohort"].astype(str), COHORTS[::-1]))
    reverse = logrank_test(backward, "duration", "event", "cohort", strata="age_band")
    assert reverse.chisq == pytest.approx(forward.chisq, rel=1e-10)
    assert list(reverse.table["group"]) == COHORTS[::-1]


def test_two_identical_groups_give_zero():
    df = pd.DataFrame({"duration": [3.0, 5, 7, 3, 5, 7], "event": [1, 0, 1, 1, 0, 1], "g": list("aaabbb")})
    test = logrank_test(df, "duration", "event", "g")
    assert test.chisq == pytest.approx(0.0, abs=1e-12)
    assert test.p_value == pytest.approx(1.0)


def test_tidy_reports_robust_test_when_clustered(children, reference):
    test = logrank_test(children, "duration", "event", "cohort", entry="entry", strata="age_band",
                        cluster="family_id")
    table = test.tidy(outcome="time_in_protection")
    assert list(table.columns) == list(RESULT_COLUMNS)
    head = table.iloc[0]
    assert head["term"] == "chisq"
    assert head["statistic"] == pytest.approx(
        reference["cox_score"]["entry_breslow_strata_cluster"]["robust_score"], rel=1e-4)
    assert head["n"] == len(children) and head["events"] == children["event"].sum()
    assert "family-clustered" in head["method"] and "df=2" in head["method"]
    observed = table[table["term"] == "observed"]
    assert list(observed["cohort"]) == COHORTS


def test_invalid_input_is_rejected(children):
    with pytest.raises(ValueError, match="two groups"):
        logrank_test(children.assign(one="x"), "duration", "event", "one")
    with pytest.raises(ValueError, match="variance"):
        logrank_test(children, "duration", "event", "cohort", variance="efron")
    with pytest.raises(ValueError, match="not found"):
        logrank_test(children, "duration", "event", "arm")


def test_groups_never_sharing_a_risk_set_give_no_test():
    # each stratum holds a single group, so no within-stratum comparison exists
    df = pd.DataFrame({"duration": [3.0, 5, 7, 3, 5, 7], "event": [1, 0, 1, 1, 0, 1],
                       "g": list("aaabbb"), "s": list("xxxyyy")})
    test = logrank_test(df, "duration", "event", "g", strata="s")
    assert test.df == 0 and np.isnan(test.chisq) and np.isnan(test.p_value)
    np.testing.assert_allclose(test.table["observed"], test.table["expected"])
