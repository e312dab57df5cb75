"""differential_impact against R (post x combination coxph, robust contrasts), tests/reference/cox."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.results import RESULT_COLUMNS
from evaluation.survival.differential import differential_impact, holm

REF_DIR = Path(__file__).parent / "reference" / "cox"
REF = json.loads((REF_DIR / "reference.json").read_text())["differential"]
COMBINATIONS = ["none", "DA", "MH", "SM", "DA+MH", "DA+SM", "MH+SM", "DA+MH+SM"]


@pytest.fixture(scope="module")
def children() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "children.csv")


def run(d, **kwargs):
    return differential_impact(
        d, "duration", "event", "cohort", "combination", covariates=["age", "female"], entry="entry",
        cluster="family_id", combinations=COMBINATIONS, **kwargs,
    )


@pytest.fixture(scope="module")
def result(children):
    return run(children)


def test_contrasts_match_r(result):
    table = result.table[result.table.estimable]
    assert list(table.combination) == REF["combination"]
    np.testing.assert_allclose(table.log_hr, REF["log_hr"], rtol=1e-6)
    np.testing.assert_allclose(table.se, REF["se"], rtol=1e-4)
    np.testing.assert_allclose(table.ci_lower, REF["lower"], rtol=1e-4)
    np.testing.assert_allclose(table.ci_upper, REF["upper"], rtol=1e-4)
    np.testing.assert_allclose(table.p, REF["p"], rtol=1e-4)
    np.testing.assert_allclose(table.p_holm, REF["p_holm"], rtol=1e-4)


def test_heterogeneity_test_matches_r(result):
    np.testing.assert_allclose(result.heterogeneity_chisq, REF["heterogeneity_chisq"], rtol=1e-4)
    assert result.heterogeneity_df == REF["heterogeneity_df"]
    np.testing.assert_allclose(result.heterogeneity_p, REF["heterogeneity_p"], rtol=1e-4)


def test_sparse_combination_reported_not_estimable(result):
    row = result.table.set_index("combination").loc["DA+MH+SM"]
    assert not row.estimable and np.isnan(row.hr)
    assert "fewer than 5 events" in row.reason and "post_fsp: 0" in row.reason
    assert (row.events_reference, row.events_comparison) == (14, 0)


def test_threshold_is_configurable(children):
    # with the threshold off, the empty cell enters the model and its interaction diverges:
    # still reported as not estimable, not as a huge hazard ratio
    res = run(children, min_events=0)
    row = res.table.set_index("combination").loc["DA+MH+SM"]
    assert not row.estimable and "monotone" in row.reason
    assert res.table.estimable.sum() == 7
    # a stricter threshold removes more combinations
    strict = run(children, min_events=30)
    assert set(strict.table.combination[~strict.table.estimable]) == {"DA+MH+SM", "DA+MH"}


def test_other_cohorts_are_ignored(children, result):
    extra = children.head(200).assign(cohort="transition", event=1)
    res = run(pd.concat([children, extra], ignore_index=True))
    np.testing.assert_allclose(res.table.log_hr, result.table.log_hr, rtol=1e-12)


def test_tidy(result):
    rows = result.tidy(outcome="time_in_protection")
    assert tuple(rows.columns) == RESULT_COLUMNS
    assert len(rows) == 9
    assert rows.contrast.eq("post_fsp vs pre_fsp").all()
    est = rows[rows.combination.isin(REF["combination"])]
    np.testing.assert_allclose(est.estimate, REF["hr"], rtol=1e-6)
    np.testing.assert_allclose(est.p_value, REF["p_holm"], rtol=1e-4)
    assert rows.iloc[-1].term == "heterogeneity across combinations"


def test_holm_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
