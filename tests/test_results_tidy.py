"""``evaluation.results.tidy``: every estimator's rows as the one typed result table."""

import numpy as np
import pandas as pd
import pytest

from evaluation.results import RESULT_COLUMNS, tidy

FLOATS = ("time", "estimate", "ci_lower", "ci_upper", "se", "statistic", "p_value")


def test_rows_become_the_typed_table_with_every_column():
    table = tidy([{"outcome": "time_in_need", "analysis": "cox", "estimate": "0.8", "n": 12.0, "events": None},
                  {"outcome": "time_in_need", "analysis": "cox", "estimate": None, "p_value": "x", "n": 3}])
    assert tuple(table.columns) == RESULT_COLUMNS
    assert all(table[c].dtype == "float64" for c in FLOATS)
    assert table["n"].dtype == table["events"].dtype == "Int64"
    assert table["n"].tolist() == [12, 3] and table["events"].isna().all()
    assert table["estimate"].iloc[0] == 0.8 and np.isnan(table["estimate"].iloc[1])
    assert np.isnan(table["p_value"]).all()   # text that is not a number: missing, not an error
    assert table["cohort"].dtype == object and table["cohort"].isna().all() and table["method"].isna().all()


def test_a_frame_keeps_its_values_and_gets_a_fresh_index():
    frame = pd.DataFrame({"outcome": ["a", "b"], "estimate": [1, 2], "events": [5, 6]}, index=[7, 3])
    table = tidy(frame)
    assert table.index.tolist() == [0, 1] and table["outcome"].tolist() == ["a", "b"]
    assert table["estimate"].tolist() == [1.0, 2.0] and table["events"].tolist() == [5, 6]
    assert frame.columns.tolist() == ["outcome", "estimate", "events"]   # the caller's frame unchanged


def test_no_rows_is_an_empty_table_of_the_same_columns():
    table = tidy([])
    assert tuple(table.columns) == RESULT_COLUMNS and table.empty
    assert table["estimate"].dtype == "float64" and table["n"].dtype == "Int64"


def test_an_unknown_column_is_refused():
    with pytest.raises(ValueError, match="unknown result columns: \\['estimte'\\]"):
        tidy([{"outcome": "x", "estimte": 1.0}])


def test_a_result_table_tidied_again_is_the_same_table_in_new_memory():
    """Stacked result tables are tidied again (``evaluation.analysis.guard.concat``): the same
    values, types and missing cells (NaN in a text column an estimate left out), and a copy."""
    table = tidy([{"outcome": "a", "analysis": "km", "time": 1.0, "estimate": 0.5, "n": 4},
                  {"outcome": "a", "analysis": "km", "time": 2.0, "estimate": None, "events": 2}])
    stacked = pd.concat([table, table], ignore_index=True)
    again = tidy(stacked)
    pd.testing.assert_frame_equal(again, stacked, check_exact=True)
    assert isinstance(again["cohort"].iloc[0], float) and np.isnan(again["cohort"].iloc[0])
    again.loc[0, "estimate"] = 9.0
    again.loc[0, "n"] = 7
    assert stacked.loc[0, "estimate"] == 0.5 and stacked.loc[0, "n"] == 4
