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


# --- pseudonyms: the Arrow paths of evaluation.pseudonymise give the pandas formulations' ids ---

IDS = ["0012a", " 0012A ", "\t0012a\n", "\x0b7\x0c", "\x1c8\x1f", "\x1d9\x1e", "", "   ", "abc-77",
       "0012A", "z", " ", "7", "FAM 1", "x\ty"]
NON_ASCII = ["\u00df12", "\ufb01x", "i\u0131", "7\u00a0", "\u20088", "9\x85", "\u2028a"]


def _pseudonyms_oracle(values: pd.Series, key, namespace) -> pd.Series:
    """pseudonymise as it was written with pandas' (Python's) string methods and a dict map
    (the pseudonyms now come as Arrow strings: the same texts)."""
    from evaluation.pseudonymise import _digests, normalise_ids

    normalised = normalise_ids(values)
    return normalised.map(_digests(key, namespace, normalised.dropna().unique())).astype(v.STRING)


@pytest.mark.parametrize("dtype", [object, "string", v.STRING])
@pytest.mark.parametrize("ids", [IDS, IDS + NON_ASCII, IDS + [None], NON_ASCII, []])
def test_pseudonyms_of_awkward_ids_match_pandas(dtype, ids):
    from evaluation.pseudonymise import CHILD, _normalised_ascii, load_key, normalise_ids, pseudonymise

    key = load_key("e9d3c0d7b4f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f80").for_council("931")
    values = pd.Series(ids, dtype=dtype, index=range(5, 5 + len(ids)), name="CHILD")
    pd.testing.assert_series_equal(pseudonymise(values, key, CHILD),
                                   _pseudonyms_oracle(values, key, CHILD), check_exact=True)
    fast = _normalised_ascii(values)
    ascii_text = all(x.isascii() for x in ids if x is not None)
    # the Arrow path is taken for ASCII text (as Arrow strings, or str objects with none missing),
    # and strips and upper-cases as Python does
    assert (fast is not None) == (ascii_text and (dtype == v.STRING or dtype is object
                                                  and len(ids) > 0 and None not in ids))
    if fast is not None:
        pd.testing.assert_series_equal(fast.astype("string"), normalise_ids(values), check_exact=True)


def test_derived_ids_match_pandas_joined_text():
    from evaluation.pseudonymise import CIN_EPISODE, _UNIT_SEPARATOR, _digests, derived_id, load_key

    key = load_key("e9d3c0d7b4f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f80")
    index = pd.RangeIndex(3, 10)
    child = pd.Series(["a", "b", None, "a", "\u00e9", "a", "c"], dtype="string", index=index,
                      name="child_id")
    dates = pd.Series(pd.to_datetime(["2020-01-01", None, "2020-01-01", "1677-09-22",
                                      "2262-04-11", "2020-01-01", "1999-12-31"]), index=index)
    ordinal = pd.Series([0, 0, 1, 0, 0, 1, 0], index=index).astype(v.STRING)
    for parts in ([child], [child, dates], [child, dates, ordinal], [child.astype(v.STRING), dates],
                  [dates]):
        texts = [p.dt.strftime("%Y-%m-%d").astype("string") if p.dtype == "datetime64[ns]"
                 else p.astype("string") for p in parts]
        joined = texts[0]
        for text in texts[1:]:
            joined = joined + _UNIT_SEPARATOR + text
        expected = joined.map(_digests(key, CIN_EPISODE, joined.dropna().unique())).astype(v.STRING)
        pd.testing.assert_series_equal(derived_id(parts, key, CIN_EPISODE), expected,
                                       check_exact=True)


def test_conform_gives_dates_as_to_datetime_does():
    """A column of dates already is cast without pd.to_datetime (which looks at values one by
    one): the same table as passing every date column through it."""
    from evaluation import tables as contract

    frame = pd.DataFrame({
        "la_code": ["931"] * 3, "child_id": ["a" * 16, None, "b" * 16],
        "birth_month": pd.to_datetime(["2012-05-01", None, "2001-01-01"]),
        "sex": ["M", "F", "U"], "ethnicity": ["WBRI", None, "ABAN"],
        "death_date": ["2020-01-02", None, "2019-12-31"],   # text: parsed by to_datetime
        "disabled": [True, None, False], "in_cin_census": [True, False, True],
        "in_ssda903": [False, True, True], "national_id": pd.Series([None] * 3, dtype=object),
    })
    expected = pd.DataFrame({c: frame[c] for c in contract.TABLES["children"]})
    for column, dtype in contract.TABLES["children"].items():
        expected[column] = (pd.to_datetime(expected[column]) if dtype == contract.DATE
                            else expected[column]).astype(dtype)
    got = contract.conform(frame, "children")
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    pd.testing.assert_frame_equal(contract.conform(got, "children"), expected, check_exact=True)
