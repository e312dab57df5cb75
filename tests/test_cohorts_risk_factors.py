"""Parental risk-factor flags and combinations at the index referral."""

from __future__ import annotations

from evaluation.codes.groupings import COMBINATIONS
from evaluation.cohorts.cohorts import index_episodes
from evaluation.study import StudyConfig
from evaluation.cohorts.risk_factors import risk_factors
from test_spells_builder import Timeline, pid

CONFIG = StudyConfig()


def flags(t: Timeline, config: StudyConfig = CONFIG):
    tables = t.tables()
    r = risk_factors(tables, index_episodes(tables, config), config).set_index("child_id")
    return r


def one_child(*assessments):
    t = Timeline()
    t.child("amy")
    e = t.episode("amy", "2019-01-10")
    for start, authorised, factors in assessments:
        t.assessment("amy", e, start, authorised, factors)
    return t


def test_factors_within_grace_are_used_and_later_ones_are_not():
    t = one_child(("2019-01-11", "2019-02-24", ["3B"]),        # day 45: used
                  ("2019-01-20", "2019-02-25", ["4B", "2B"]))  # day 46: after grace
    row = flags(t).loc[pid("amy")]
    assert (row["domestic_abuse"], row["mental_health"], row["substance_misuse"]) == (True, False, False)
    assert row["combination"] == "Domestic abuse only" and row["assessments_used"] == 1
    wider = flags(t, StudyConfig(factor_grace_days=46)).loc[pid("amy")]
    assert wider["combination"] == "All three"


def test_assessments_of_other_episodes_are_ignored():
    t = one_child(("2019-01-11", "2019-01-20", ["1B"]))
    other = t.episode("amy", "2017-01-10", "2017-05-01")
    t.assessment("amy", other, "2017-01-11", "2017-02-01", ["3B", "4B"])
    assert flags(t).loc[pid("amy"), "combination"] == "Substance misuse only"


def test_child_or_other_person_factors_only_count_in_the_broad_definition():
    t = one_child(("2019-01-11", "2019-01-20", ["3A", "4A", "1C", "2A"]))
    assert flags(t).loc[pid("amy"), "combination"] == "None of the three"
    broad = flags(t, StudyConfig(domestic_abuse_definition="broad")).loc[pid("amy")]
    assert broad["combination"] == "Domestic abuse only"
    t2 = one_child(("2019-01-11", "2019-01-20", ["3C"]))
    assert flags(t2, StudyConfig(domestic_abuse_definition="broad")).loc[pid("amy"), "domestic_abuse"]


def test_unauthorised_assessment_is_dated_by_its_start_or_excluded():
    t = one_child(("2019-01-11", None, ["4B"]), ("2019-03-30", None, ["3B"]))
    assert flags(t).loc[pid("amy"), "combination"] == "Mental health only"
    excluded = flags(t, StudyConfig(unauthorised_assessments="exclude")).loc[pid("amy")]
    assert excluded["combination"] == "None of the three" and excluded["assessments_used"] == 0


def test_all_eight_combinations_have_their_labels():
    t = Timeline()
    codes = {"domestic_abuse": "3B", "mental_health": "4B", "substance_misuse": "1B"}
    expected = {}
    for i, (combo, label) in enumerate(COMBINATIONS):
        name = f"child{i}"
        t.child(name, family=name)
        e = t.episode(name, "2019-01-10")
        present = [code for code, on in zip(codes.values(), combo) if on]
        t.assessment(name, e, "2019-01-11", "2019-01-30", present or ["21"])
        expected[pid(name)] = label
    assert flags(t)["combination"].to_dict() == expected


def test_family_unit_pools_children_referred_on_the_index_date():
    t = Timeline()
    for name in ("amy", "ben", "cal"):
        t.child(name, family="smith")
    e = t.episode("amy", "2019-01-10")
    t.assessment("amy", e, "2019-01-11", "2019-01-20", ["3B"])
    e = t.episode("ben", "2019-01-10")
    t.assessment("ben", e, "2019-01-11", "2019-01-20", ["4B"])
    e = t.episode("cal", "2020-01-10")                      # referred a year later
    t.assessment("cal", e, "2020-01-11", "2020-01-20", ["2B"])
    child = flags(t)["combination"]
    assert child[pid("amy")] == "Domestic abuse only" and child[pid("cal")] == "Substance misuse only"
    family = flags(t, StudyConfig(risk_factor_unit="family"))["combination"]
    assert set(family) == {"Domestic abuse + mental health"}
