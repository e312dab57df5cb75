"""The door's text and date parsers (evaluation.ingest.values) give exactly what the plain
pandas formulations they replaced give: kept here as the oracle, on awkward values."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.ingest import values as v

AWKWARD = [
    "2020-05-01", " 2020-05-01 ", "2020-05-01Z", "2020-05-01+01:00", "2020-05-01-05:00",
    "2020-02-30", "2020-5-1", "0001-01-01", "9999-12-31", "2262-04-12", "", "   ", None,
    "\u00a02020-05-01\u2003", "01/05/2020", "1/5/2020", " 31/12/1999 ", "31/02/2020",
    "2020-05-01T10:00:00", "nf", "n1", " ab ", "\tx\n", "2020-05-01", "01/05/2020", None,
]


def _text_oracle(values: pd.Series) -> pd.Series:
    out = values.astype(v.STRING).str.strip()
    return out.mask(out == "")


def _dates_oracle(values: pd.Series, pattern: str, fmt: str) -> tuple[pd.Series, pd.Series]:
    raw = _text_oracle(values)
    dates = pd.to_datetime(raw, format=fmt, errors="coerce").astype("datetime64[ns]")
    retry = raw.notna() & dates.isna()
    if retry.any():
        core = raw[retry].str.extract(pattern, expand=False)
        dates[retry] = pd.to_datetime(core, format=fmt, errors="coerce").astype("datetime64[ns]")
    return dates, raw.notna() & dates.isna()


@pytest.mark.parametrize("dtype", [object, "string", v.STRING])
def test_text_and_code_match_pandas(dtype):
    values = pd.Series(AWKWARD, dtype=dtype, index=range(10, 10 + len(AWKWARD)), name="field")
    pd.testing.assert_series_equal(v.text(values), _text_oracle(values), check_exact=True)
    pd.testing.assert_series_equal(v.code(values), _text_oracle(values).str.upper(),
                                   check_exact=True)
    assert v.text(values.iloc[:0]).dtype == v.STRING


@pytest.mark.parametrize("parser,pattern,fmt", [(v.iso_dates, v._ISO_DATE, "%Y-%m-%d"),
                                                (v.uk_dates, v._UK_DATE, "%d/%m/%Y")])
@pytest.mark.parametrize("rows", [slice(None), slice(0, 0), slice(10, 14)])
def test_dates_parse_each_distinct_value_as_pandas_does(parser, pattern, fmt, rows):
    values = pd.Series(AWKWARD, dtype=v.STRING, index=range(5, 5 + len(AWKWARD)), name="d")[rows]
    dates, bad = parser(values)
    want_dates, want_bad = _dates_oracle(values, pattern, fmt)
    pd.testing.assert_series_equal(dates, want_dates, check_exact=True)
    pd.testing.assert_series_equal(bad, want_bad, check_exact=True)
    if len(values) == len(AWKWARD):
        assert dates.notna().sum() >= 4 and bad.sum() >= 5   # dates parsed and failures found
