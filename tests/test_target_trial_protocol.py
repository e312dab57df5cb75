"""The target-trial protocol table is written from the StudyConfig that ran, and released."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from evaluation.cohorts.protocol import PROTOCOL_COLUMNS, protocol_table
from evaluation.report.assemble import TABLE_SCHEMAS, release_tables
from evaluation.study import StudyConfig

ELEMENTS = ["design", "eligibility", "time zero", "treatment strategies", "assignment", "follow-up",
            "outcomes", "causal contrast", "analysis"]


def spec(table: pd.DataFrame, element: str) -> str:
    return table.set_index("element").loc[element, "specification"]


def test_the_primary_protocol_states_the_primary_rules():
    table = protocol_table(StudyConfig())
    assert list(table.columns) == list(PROTOCOL_COLUMNS) and table["element"].tolist() == ELEMENTS
    assert spec(table, "design") == "primary"
    assert "no CIN episode open at any time in the 12 months before" in spec(table, "eligibility")
    assert "once in each cohort period" in spec(table, "eligibility")
    assert "go-live (1 November 2020)" in spec(table, "follow-up")
    assert "inverse-probability-of-censoring" in spec(table, "follow-up")
    assert "never pooled" in spec(table, "treatment strategies")
    assert "define subgroups only" in spec(table, "assignment")
    assert table["specification"].iloc[1:].str.len().min() > 100


def test_the_protocol_follows_every_setting_it_describes():
    changed = StudyConfig(lookback_months=24, go_live=dt.date(2021, 1, 4), re_referral_days=180,
                          factor_grace_days=30)
    table = protocol_table(changed)
    assert "24 months" in spec(table, "eligibility") and "4 January 2021" in spec(table, "follow-up")
    assert "180 days" in spec(table, "outcomes") and "30 days after time zero" in spec(table, "analysis")
    old = protocol_table(StudyConfig(entry_rule="first_referral", censor_earlier_cohorts_at_go_live=False,
                                     adjust_for_index_assessment=True))
    assert spec(old, "design").startswith("sensitivity: entry_rule=first_referral")
    assert spec(old, "eligibility").startswith("Sensitivity (earlier definition)")
    assert spec(old, "follow-up").startswith("Sensitivity:") and "go-live" not in spec(old, "follow-up")
    assert "as a sensitivity, also the index assessment" in spec(old, "assignment")


def test_release_opens_with_the_protocol_and_every_estimate_names_its_design():
    flow = pd.DataFrame({"step": [0], "stage": ["start"], "reason": ["cin_children"],
                         "description": ["children with a CIN episode"], "cohort": ["all"],
                         "families": [100], "children": [120]})
    estimate = pd.DataFrame([{"outcome": "time_in_need", "analysis": "cox_adjusted", "cohort": None,
                              "contrast": "post_fsp vs pre_fsp", "combination": "all",
                              "term": "cohort[post_fsp]", "time": float("nan"), "estimate": 0.8,
                              "ci_lower": 0.7, "ci_upper": 0.9, "se": 0.05, "statistic": -3.0,
                              "p_value": 0.003, "n": 400, "events": 300, "method": "Cox"}])
    analysis = pd.DataFrame({"outcome": ["time_in_need"] * 2, "cohort": ["pre_fsp", "post_fsp"],
                             "child_id": ["a", "b"]})
    sensitivity = StudyConfig(censor_earlier_cohorts_at_go_live=False)
    out = release_tables({"hazard_ratios": estimate}, flow, analysis.iloc[:0], None, study=sensitivity)
    assert list(out)[0] == "protocol"
    assert spec(out["protocol"], "design") == "sensitivity: censor_earlier_cohorts_at_go_live=False"
    assert (out["hazard_ratios"]["design"] == "sensitivity: censor_earlier_cohorts_at_go_live=False").all()
    assert set(TABLE_SCHEMAS["protocol"].columns) == set(PROTOCOL_COLUMNS)
    assert "design" in TABLE_SCHEMAS["hazard_ratios"].columns


def test_the_docs_carry_the_protocol_of_the_default_settings():
    from pathlib import Path

    from evaluation.cohorts.protocol import protocol_markdown

    doc = (Path(__file__).parents[1] / "docs" / "target_trial.md").read_text(encoding="utf-8")
    inside = doc.split("<!-- protocol:begin", 1)[1].split("-->", 1)[1].split("<!-- protocol:end -->")[0]
    assert inside.strip() == protocol_markdown(StudyConfig()).strip()
