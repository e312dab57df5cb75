"""cox_zph against R survival::cox.zph (survival >= 3.0 form), tests/reference/cox."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.results import RESULT_COLUMNS
from evaluation.survival.cox import cox_ph, dummy_columns
from evaluation.survival.zph import cox_zph

REF_DIR = Path(__file__).parent / "reference" / "cox"
REF = json.loads((REF_DIR / "reference.json").read_text())
COVARIATES = ["post", "age", "female", "da", "mh", "sm"]
COMBINATIONS = ["none", "DA", "MH", "SM", "DA+MH", "DA+SM", "MH+SM", "DA+MH+SM"]
TRANSFORMS = ("km", "rank", "identity", "log")
MODELS = sorted({key.rsplit("_", 1)[0] for key in REF["zph"] if not key.startswith("factor")})


@pytest.fixture(scope="module")
def children() -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "children.csv")
    d["post"] = (d["cohort"] == "post_fsp").astype(float)
    return d


def fit_model(d, key):
    spec = REF["models"][key]
    return cox_ph(
        d, "duration", "event", COVARIATES,
        entry="entry" if spec["lhs"].startswith("Surv(entry") else None,
        strata="area" if spec["strata"] else None,
        cluster="family_id" if spec["cluster"] else None,
        weights="weight" if spec["weights"] else None,
        ties=spec["ties"],
    )


@pytest.mark.parametrize("model", MODELS)
def test_matches_r_cox_zph(children, model):
    fit = fit_model(children, model)
    for transform in TRANSFORMS:
        ref = REF["zph"][f"{model}_{transform}"]
        table = cox_zph(fit, transform=transform).table
        assert list(table.index) == ref["term"]
        np.testing.assert_allclose(table["chisq"], ref["chisq"], rtol=1e-4, err_msg=transform)
        np.testing.assert_allclose(table["p"], ref["p"], rtol=1e-4, atol=1e-12, err_msg=transform)
        np.testing.assert_array_equal(table["df"], ref["df"])


@pytest.fixture(scope="module")
def factor_fit(children):
    d, names = dummy_columns(children, "combination", "none", levels=COMBINATIONS)
    return cox_ph(d, "duration", "event", ["post", "age", *names], entry="entry", strata="area")


def test_factor_is_one_multi_df_term(factor_fit):
    ref = REF["zph"]["factor_terms"]
    table = cox_zph(factor_fit, terms=True).table
    assert list(table.index) == ["post", "age", "combination", "GLOBAL"]
    np.testing.assert_allclose(table["chisq"], ref["chisq"], rtol=1e-4)
    np.testing.assert_array_equal(table["df"], ref["df"])


def test_terms_false_tests_each_column(factor_fit):
    ref = REF["zph"]["factor_columns"]
    table = cox_zph(factor_fit, terms=False).table
    np.testing.assert_allclose(table["chisq"], ref["chisq"], rtol=1e-4)
    assert len(table) == 10


def test_explicit_term_mapping_equals_automatic_grouping(factor_fit):
    names = [c for c in factor_fit.covariates if c.startswith("combination[")]
    mapped = cox_zph(factor_fit, terms={"risk factors": names}).table
    auto = cox_zph(factor_fit, terms=True).table
    np.testing.assert_allclose(mapped.loc["risk factors", "chisq"], auto.loc["combination", "chisq"], rtol=1e-12)


def test_callable_transform_and_tidy(children):
    fit = fit_model(children, "entry_strata_efron")
    by_function = cox_zph(fit, transform=lambda t: t).table
    identity = cox_zph(fit, transform="identity").table
    np.testing.assert_allclose(by_function["chisq"], identity["chisq"], rtol=1e-12)
    rows = cox_zph(fit).tidy(outcome="time_in_protection")
    assert tuple(rows.columns) == RESULT_COLUMNS
    assert rows.term.iloc[-1] == "GLOBAL"
    with pytest.raises(ValueError, match="transform"):
        cox_zph(fit, transform="sqrt")
