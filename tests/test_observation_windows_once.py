"""Observation windows are worked out once per extracts table and study end in a process
(``evaluation.spells.censoring._WINDOWS``): every caller gets the windows the computation gives,
as its own copy, and any change to what they depend on gives them afresh."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from evaluation.spells import censoring
from evaluation.spells.censoring import _observation_windows, observation_windows
from evaluation.study import StudyConfig


def _extracts() -> pd.DataFrame:
    rows = [("931", "cin_census", year, pd.Timestamp(f"{year}-03-31"), f"cin_{year}.xml")
            for year in range(2018, 2025)]
    rows += [("931", "ssda903", year, pd.Timestamp(f"{year}-03-31"), f"903_{year}.csv")
             for year in range(2019, 2024)]
    rows += [("932", "cin_census", 2023, pd.Timestamp("2023-03-31"), "cin_2023.xml")]
    return pd.DataFrame(rows, columns=["la_code", "dataset", "collection_year", "reference_date",
                                       "source_file"])


@pytest.fixture(autouse=True)
def _nothing_kept():
    censoring._WINDOWS.clear()
    yield
    censoring._WINDOWS.clear()


def test_a_second_ask_gives_the_same_windows_as_its_own_copy():
    extracts, config = _extracts(), StudyConfig()
    first = observation_windows({"extracts": extracts}, config)
    pd.testing.assert_frame_equal(first, _observation_windows(extracts, config), check_exact=True)
    first.loc[0, "admin_end"] = pd.Timestamp("2000-01-01")   # a caller changes its copy
    again = observation_windows({"extracts": extracts.copy()}, config)   # equal content, new frame
    assert len(censoring._WINDOWS) == 1
    pd.testing.assert_frame_equal(again, _observation_windows(extracts, config), check_exact=True)
    assert again is not first and not again["admin_end"].eq(pd.Timestamp("2000-01-01")).any()


@pytest.mark.parametrize("change", ["later_return", "other_dtype", "other_kind", "study_end", "row_dropped"])
def test_anything_the_windows_depend_on_gives_them_afresh(change):
    extracts, config = _extracts(), StudyConfig()
    observation_windows({"extracts": extracts}, config)
    if change == "later_return":
        extracts.loc[len(extracts) - 2, "reference_date"] = pd.Timestamp("2024-06-30")
    elif change == "other_dtype":
        extracts["la_code"] = extracts["la_code"].astype("category")
    elif change == "other_kind":   # the same text, numbers instead of strings (still object)
        extracts["la_code"] = extracts["la_code"].astype(int).astype(object)
    elif change == "study_end":
        config = StudyConfig(study_end=dt.date(2022, 12, 31))
    else:
        extracts = extracts.iloc[1:]
    windows = observation_windows({"extracts": extracts}, config)
    assert len(censoring._WINDOWS) == 2
    pd.testing.assert_frame_equal(windows, _observation_windows(extracts, config), check_exact=True)


def test_only_the_newest_windows_are_kept():
    config = StudyConfig()
    for year in range(2000, 2000 + censoring._WINDOWS_KEPT + 5):
        extracts = _extracts()
        extracts.loc[0, "collection_year"] = year
        observation_windows({"extracts": extracts}, config)
    assert len(censoring._WINDOWS) == censoring._WINDOWS_KEPT
