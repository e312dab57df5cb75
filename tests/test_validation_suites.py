"""Every validation suite passes on valid tables and fails on a table broken its way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation import tables as contract
from evaluation.validation import run_suite, suites, validation_context
from validation_fixtures import pid, valid_tables


@pytest.fixture(scope="module")
def gx_context(tmp_path_factory):
    root = tmp_path_factory.mktemp("gx")
    return validation_context(root / "project", root / "docs")


def _spells(care: bool = False) -> pd.DataFrame:
    d = pd.Timestamp
    return pd.DataFrame({
        "la_code": ["931"] * 3, "child_id": [pid(1), pid(1), pid(2)],
        "family_id": [pid(100), pid(100), pid(101)], "spell_id": [pid(31), pid(32), pid(33)],
        "start_date": [d("2019-01-01"), d("2019-06-01"), d("2020-01-01")],
        "end_date": [d("2019-03-01"), pd.NaT, d("2020-02-01")],
        "end_reason": ["E4A", None, "E11"], "exit_type": ["return_home", None, "permanence"],
        "censored": [False, True, False],
        "censor_date": [pd.NaT, d("2022-03-31"), pd.NaT],
        "observation_start": [d("2016-04-01")] * 3, "entry_days": [0.0, 0.0, 0.0],
        "duration_days": [59.0, 1034.0, 31.0],
    })


def _analysis(balanced: bool = True, events: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 200
    cohort = np.repeat(["pre_fsp", "post_fsp"], n)
    age = rng.choice(["1-4", "5-9"], 2 * n)
    if not balanced:
        age = np.where(cohort == "post_fsp", "1-4", "5-9")
    event = np.zeros(2 * n, dtype=int)
    event[:events] = 1
    event[n:n + events] = 1
    return pd.DataFrame({"la_code": "931", "child_id": [pid(i) for i in range(2 * n)],
                         "family_id": [pid(1000 + i) for i in range(2 * n)],
                         "outcome": "time_in_need", "cohort": cohort, "age_band": age,
                         "event": event, "duration": 100.0})


def _set(frame: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    frame = frame.copy()
    if frame[column].dtype == "string":
        frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    return frame


T = valid_tables


# (case id, builder of (frame, expectations) from the fixture, should pass)
CASES = [
    ("schema-ok", lambda t: suites.schema_suite(t["cin_episodes"], "cin_episodes"), True),
    ("schema-missing-column", lambda t: suites.schema_suite(
        t["cin_episodes"].drop(columns="closure_date"), "cin_episodes"), False),
    ("schema-extra-column", lambda t: suites.schema_suite(
        t["cin_episodes"].assign(upn="x"), "cin_episodes"), False),
    ("schema-wrong-type", lambda t: suites.schema_suite(
        t["cin_episodes"].assign(closure_date="30/06/2020"), "cin_episodes"), False),
    ("keys-ok", lambda t: suites.keys_suite(t["cin_episodes"], "cin_episodes"), True),
    ("keys-null", lambda t: suites.keys_suite(_set(t["cin_episodes"], "child_id", 0, None),
                                              "cin_episodes"), False),
    ("keys-duplicate", lambda t: suites.keys_suite(
        _set(t["cin_episodes"], "episode_id", 1, pid(11)), "cin_episodes"), False),
    ("pseudonyms-ok", lambda t: suites.pseudonym_suite(t["children"]), True),
    ("pseudonyms-raw-id", lambda t: suites.pseudonym_suite(
        _set(t["children"], "child_id", 0, "0012345")), False),
    ("pseudonyms-upn-as-id", lambda t: suites.pseudonym_suite(
        _set(t["children"], "child_id", 0, "A123456789012")), False),
    ("pseudonyms-upn", lambda t: suites.pseudonym_suite(
        _set(t["children"], "ethnicity", 0, "A123456789012")), False),
    ("pseudonyms-postcode", lambda t: suites.pseudonym_suite(
        _set(t["children"], "ethnicity", 0, "OX4 2AB")), False),
    ("pseudonyms-full-date-text", lambda t: suites.pseudonym_suite(
        _set(t["children"], "sex", 0, "2012-05-17")), False),
    ("pseudonyms-full-birth-date", lambda t: suites.pseudonym_suite(
        _set(t["children"], "birth_month", 0, pd.Timestamp("2012-05-17"))), False),
    ("codes-ok", lambda t: suites.codes_suite(t["cin_episodes"], "cin_episodes"), True),
    ("codes-wrong-year", lambda t: suites.codes_suite(
        _set(t["cin_episodes"], "reason_for_closure", 0, "RC9"), "cin_episodes"), False),
    ("codes-903-ok", lambda t: suites.codes_suite(t["care_episodes"], "care_episodes"), True),
    ("codes-903-wrong-year", lambda t: suites.codes_suite(
        _set(t["care_episodes"], "place", 0, "Z11"), "care_episodes"), False),
    ("codes-children-sex", lambda t: suites.codes_suite(
        _set(t["children"], "sex", 0, "1"), "children", years=pd.Series([2020, 2020])), False),
    ("dates-ok", lambda t: suites.dates_suite(t["cin_episodes"], "cin_episodes",
                                              t["children"], t["extracts"]), True),
    ("dates-end-before-start", lambda t: suites.dates_suite(
        _set(t["cin_episodes"], "closure_date", 0, pd.Timestamp("2019-01-01")), "cin_episodes",
        t["children"], t["extracts"]), False),
    ("dates-after-extract", lambda t: suites.dates_suite(
        _set(t["cin_episodes"], "referral_date", 1, pd.Timestamp("2022-04-02")), "cin_episodes",
        t["children"], t["extracts"]), False),
    ("dates-after-its-own-file", lambda t: suites.dates_suite(  # 2021 return, LA's extract 2022
        _set(t["cin_episodes"], "closure_date", 0, pd.Timestamp("2021-04-02")), "cin_episodes",
        t["children"], t["extracts"]), False),
    ("dates-before-birth", lambda t: suites.dates_suite(
        _set(t["cin_episodes"], "referral_date", 1, pd.Timestamp("2013-12-01")), "cin_episodes",
        t["children"], t["extracts"]), False),
    ("dates-unborn-child-referral", lambda t: suites.dates_suite(  # a month before birth
        _set(t["cin_episodes"], "referral_date", 1, pd.Timestamp("2014-12-01")), "cin_episodes",
        t["children"], t["extracts"]), True),
    ("dates-care-before-birth", lambda t: suites.dates_suite(
        _set(t["care_episodes"], "decom", 0, pd.Timestamp("2012-04-01")), "care_episodes",
        t["children"], t["extracts"]), False),
    ("windows-ok", lambda t: suites.windows_suite(pd.concat(
        [t["extracts"], t["extracts"].assign(dataset="ssda903")], ignore_index=True)), True),
    ("windows-903-ends-early", lambda t: suites.windows_suite(pd.concat(
        [t["extracts"], t["extracts"].assign(dataset="ssda903", collection_year=2021)],
        ignore_index=True)), False),
    ("dates-age-over-25", lambda t: suites.dates_suite(
        t["cin_episodes"], "cin_episodes",
        _set(t["children"], "birth_month", 0, pd.Timestamp("1990-01-01")), t["extracts"]), False),
    ("within-episode-ok", lambda t: suites.plan_dates_suite(t["cp_plans"], "cp_plans",
                                                            t["cin_episodes"]), True),
    ("within-episode-early-start", lambda t: suites.plan_dates_suite(
        _set(t["cp_plans"], "start_date", 0, pd.Timestamp("2019-01-01")), "cp_plans",
        t["cin_episodes"]), False),
    ("referential-ok", lambda t: suites.referential_suite(t["cp_plans"], "cp_plans", t), True),
    ("referential-orphan-plan", lambda t: suites.referential_suite(
        _set(t["cp_plans"], "episode_id", 0, pid(999)), "cp_plans", t), False),
    ("referential-child-without-family", lambda t: suites.referential_suite(
        t["children"], "children", {**t, "families": t["families"].iloc[:1]}), False),
    ("referential-episode-child-unknown", lambda t: suites.referential_suite(
        _set(t["cin_episodes"], "child_id", 0, pid(77)), "cin_episodes", t), False),
    ("reconciliation-ok", lambda t: suites.reconciliation_suite(t["reconciliation"]), True),
    ("reconciliation-lost-row", lambda t: suites.reconciliation_suite(
        _set(t["reconciliation"], "rows_read", 0, 11)), False),
    ("spells-ok", lambda t: suites.spells_suite(_spells(), care=True), True),
    ("spells-censored-with-reason", lambda t: suites.spells_suite(
        _set(_spells(), "end_reason", 1, "E4A")), False),
    ("spells-duplicate-id", lambda t: suites.spells_suite(_set(_spells(), "spell_id", 1, pid(31))),
     False),
    ("spells-care-overlap", lambda t: suites.spells_suite(
        _set(_spells(), "start_date", 1, pd.Timestamp("2019-02-01")), care=True), False),
    ("balance-ok", lambda t: suites.balance_suite(_analysis()), True),
    ("balance-imbalanced", lambda t: suites.balance_suite(_analysis(balanced=False)), False),
    ("model-counts-ok", lambda t: suites.model_counts_suite(_analysis()), True),
    ("model-counts-too-few-events", lambda t: suites.model_counts_suite(_analysis(events=5)), False),
]


@pytest.mark.parametrize("case, build, should_pass", CASES, ids=[c[0] for c in CASES])
def test_suite_outcome(gx_context, case, build, should_pass):
    frame, expectations = build(valid_tables())
    outcome = run_suite(gx_context, f"test_{case}", frame, expectations, build_docs=False)
    assert outcome.success is should_pass, outcome.metadata()
    if not should_pass:
        assert outcome.failed, "a failing suite names the failed expectation"


def test_valid_fixture_conforms_to_contract():
    for name, frame in valid_tables().items():
        assert list(frame.columns) == list(contract.TABLES[name])


def test_window_gaps_and_uneven_ends_are_counted_in_years():
    d = pd.Timestamp
    rows = [("cin_census", y) for y in range(2017, 2026)] + [
        ("ssda903", y) for y in range(2017, 2025) if y != 2019]
    extracts = pd.DataFrame({"la_code": "931", "dataset": [r[0] for r in rows],
                             "collection_year": [r[1] for r in rows],
                             "reference_date": [d(f"{r[1]}-03-31") for r in rows],
                             "source_file": [f"{r[0]}_{r[1]}" for r in rows]})
    derived, _ = suites.windows_suite(extracts)
    assert (~derived["no_gap_inside_window"]).sum() == 1      # SSDA903 2019
    assert (~derived["runs_to_latest_year"]).sum() == 1       # SSDA903 ends a year early
    assert derived["starts_with_earliest_year"].all()


def test_each_row_gets_its_own_files_reference_date():
    """Rows look up their dataset's return for their council and collection year (a merge since
    #20); a year or council not listed falls back to 31 March of the year, an unknown year to NaT;
    the rows keep their order and index."""
    from evaluation.validation.suites import own_reference_dates

    extracts = pd.DataFrame({
        "la_code": ["931", "931", "931", "825"], "dataset": ["cin_census", "cin_census", "ssda903", "cin_census"],
        "collection_year": [2023, 2024, 2024, 2024],
        "reference_date": pd.to_datetime(["2023-03-30", "2024-03-29", "2024-03-31", "2024-03-28"])})
    frame = pd.DataFrame({"la_code": ["931", "825", "931", "931", "825", None],
                          "collection_year": pd.array([2024, 2024, 2023, 2022, None, 2024], dtype="Int64")},
                         index=[10, 3, 7, 1, 2, 5])
    found = own_reference_dates(frame, "cin_episodes", extracts)
    assert found.index.equals(frame.index) and found.dtype == "datetime64[ns]"
    assert found.tolist() == [pd.Timestamp("2024-03-29"), pd.Timestamp("2024-03-28"), pd.Timestamp("2023-03-30"),
                              pd.Timestamp("2022-03-31"), pd.NaT, pd.Timestamp("2024-03-31")]
    care = own_reference_dates(frame.assign(collection_year=frame["collection_year"].astype(float)),
                               "care_episodes", extracts)
    assert care.tolist()[:4] == [pd.Timestamp("2024-03-31"), pd.Timestamp("2024-03-31"),
                                 pd.Timestamp("2023-03-31"), pd.Timestamp("2022-03-31")]
    assert own_reference_dates(frame, "cin_episodes", extracts.iloc[:0]).tolist()[0] == pd.Timestamp("2024-03-31")


def test_referential_flags_equal_the_multiindex_lookup_whatever_the_keys_hold():
    """The keys' hash join (#20) finds exactly what MultiIndex.isin found: missing keys of every
    kind, mixed types and text dtypes included (those take the MultiIndex path)."""
    import itertools

    from evaluation.validation.suites import referential_suite

    def reference(left, right, cols):
        return pd.MultiIndex.from_frame(left[cols]).isin(pd.MultiIndex.from_frame(right[cols].drop_duplicates()))

    values = ["a", None, np.nan]  # in a "string" column both missing kinds become pd.NA
    checked = 0
    for dtypes in itertools.product([object, "string"], repeat=2):
        for left_values, right_values in itertools.product(itertools.product(values, repeat=2), repeat=2):
            try:
                left, right = (pd.DataFrame({c: pd.Series(list(v) if c != "child_id" else ["p", "q"], dtype=d)
                                             for c in ("la_code", "child_id", "episode_id")})
                               for v, d in ((left_values, dtypes[0]), (right_values, dtypes[1])))
            except (TypeError, ValueError):
                continue  # values a dtype cannot hold
            flags, _ = referential_suite(left, "cin_episodes", {"children": right})
            assert flags["child_in_children"].tolist() == reference(left, right, ["la_code", "child_id"]).tolist()
            flags, _ = referential_suite(left, "cin_plans", {"cin_episodes": right})
            assert flags["episode_exists"].tolist() == reference(left, right, ["episode_id"]).tolist()
            checked += 1
    assert checked > 300
    mixed = pd.DataFrame({"la_code": pd.Series(["931", 931, 931.0], dtype=object), "child_id": ["p", "p", "p"]})
    flags, _ = referential_suite(mixed, "cin_episodes", {"children": mixed.iloc[[1]]})
    assert flags["child_in_children"].tolist() == reference(mixed, mixed.iloc[[1]], ["la_code", "child_id"]).tolist()


def test_the_one_raw_shape_pattern_matches_exactly_what_one_of_the_shapes_matches():
    """The pseudonym suite checks text columns against the raw shapes joined into one pattern
    (one regular-expression pass per column): a value is flagged by it iff one shape flags it."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    near = ["A123456789012", "a12345678901X", "A12345678901", "SW1A 1AA", "sw1a1aa", "OX4 4XX ",
            "OX44XX", "2020-01-31", "31/01/2020", "2020-1-31", "x2020-01-31", "", " ", "<NA>",
            "A123456789012\n", "\nSW1A 1AA", "OX1 2AB OX1 2AB"]

    def flagged_by_one(value: str) -> bool:
        return any(re.search(pattern, value) for pattern in suites.RAW_SHAPES.values())

    for value in near:
        assert bool(re.search(suites.RAW_SHAPE, value)) == flagged_by_one(value), value

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.text(alphabet="AaOXSW0123456789 -/\n", max_size=16), st.sampled_from(near)))
    def agrees(value):
        assert bool(re.search(suites.RAW_SHAPE, value)) == flagged_by_one(value)

    agrees()
    # id columns are left to the pseudonym pattern: no pseudonym can take a raw shape
    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet="0123456789abcdef", min_size=contract.PSEUDONYM_HEX_CHARS,
                   max_size=contract.PSEUDONYM_HEX_CHARS))
    def no_pseudonym_has_a_raw_shape(value):
        assert re.fullmatch(contract.PSEUDONYM_PATTERN[1:-1], value)
        assert not re.search(suites.RAW_SHAPE, value)

    no_pseudonym_has_a_raw_shape()
    series = pd.Series(near, dtype="string")
    one = series.astype(str).str.contains(suites.RAW_SHAPE)
    each = pd.concat([series.astype(str).str.contains(p) for p in suites.RAW_SHAPES.values()], axis=1).any(axis=1)
    assert one.equals(each) and one.sum() >= 5
