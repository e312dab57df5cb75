"""The DfE local-authority panel: read the bundled copy, or newer DfE releases.

The bundled panel (``data/panel.csv.gz``, a gzip of the shared ``panel.csv`` built by
``data/build_panel.py``; provenance and the Open Government Licence attribution in
``data/README.md``) is a long table: one row per LA code, year ending 31 March and measure.

Newer releases from explore-education-statistics ("Children in need" and "Children looked
after in England including adoptions") can be dropped, unchanged, into a folder and read with
:func:`read_ees_folder`; :func:`update_panel` lays them over the bundled panel (a newer release
wins for the LA-years it covers) and re-derives the consistent rates.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PANEL = DATA_DIR / "panel.csv.gz"

PANEL_COLUMNS = ["la_code_old", "la_code_ons", "la_name", "year", "measure", "value", "source", "flag"]

#: The seven rates compared across councils (the `_derived` rates use one population vintage).
RATES: dict[str, str] = {
    "cla_31mar_rate_per_10k_derived": "Children looked after at 31 March, per 10,000 children",
    "cla_started_rate_per_10k_derived": "Children starting to be looked after, per 10,000",
    "cpp_31mar_rate_per_10k_derived": "Child protection plans at 31 March, per 10,000",
    "cpp_started_rate_per_10k_derived": "Child protection plans started, per 10,000",
    "cpp_second_or_subsequent_pct": "Child protection plans that were a second or subsequent plan, %",
    "referrals_rate_per_10k_derived": "Referrals, per 10,000 children",
    "rereferrals_pct": "Re-referrals within 12 months, % of referrals",
}

#: numerator -> derived rate (count / population_0_17 * 10,000), as in build_panel.py
DERIVED = {
    "cla_31mar_number": "cla_31mar_rate_per_10k_derived",
    "cla_started_number": "cla_started_rate_per_10k_derived",
    "cla_ceased_number": "cla_ceased_rate_per_10k_derived",
    "cin_31mar_number": "cin_31mar_rate_per_10k_derived",
    "referrals_number": "referrals_rate_per_10k_derived",
    "cpp_31mar_number": "cpp_31mar_rate_per_10k_derived",
    "cpp_started_number": "cpp_started_rate_per_10k_derived",
}

#: Councils whose boundary changed in the panel's span (README "LA boundary and code changes").
BOUNDARY_CHANGED = {
    "835": "Dorset county (to 2019)", "836": "Poole (to 2019)", "837": "Bournemouth (to 2019)",
    "838": "Dorset UA (from 2020)", "839": "Bournemouth, Christchurch and Poole (from 2020)",
    "928": "Northamptonshire (to 2021)", "940": "North Northamptonshire (from 2022)",
    "941": "West Northamptonshire (from 2022)",
    "909": "Cumbria (to 2023)", "942": "Cumberland (from 2024)", "943": "Westmorland and Furness (from 2024)",
}
#: Tiny or mostly suppressed councils, left out of comparisons (README "Known gaps").
TOO_SMALL = {"201": "City of London", "420": "Isles of Scilly"}

#: DfE symbols for a cell with no value (explore-education-statistics conventions).
SUPPRESSION_MARKS = {"c", "x", "z", "k", "u", "low", ":", "..", ".", "blank", "-", "~"}


def parse_dfe_value(raw) -> tuple[float, str | None]:
    """Return (value, flag) for one DfE cell: numbers (commas allowed) -> (float, None);
    a suppression mark or blank -> (nan, mark)."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return np.nan, "blank"
    t = str(raw).strip().replace(",", "")
    if t == "":
        return np.nan, "blank"
    try:
        return float(t), None
    except ValueError:
        return np.nan, t.lower()


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in ("la_code_old", "la_code_ons", "la_name", "measure", "source"):
        out[col] = out[col].astype("string")
    out["la_code_old"] = out["la_code_old"].str.strip()
    out["year"] = pd.to_numeric(out["year"]).astype("Int64")
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    flag = out["flag"].astype("string").str.strip().str.lower()
    out["flag"] = flag.where(flag.notna() & (flag != ""), pd.NA)
    out["suppressed"] = out["value"].isna()
    out.loc[out["suppressed"] & out["flag"].isna(), "flag"] = "blank"
    return out[PANEL_COLUMNS + ["suppressed"]].reset_index(drop=True)


def read_panel(path: str | Path | None = None) -> pd.DataFrame:
    """Read the LA panel (default: the bundled copy) as a tidy, typed frame.

    Columns: ``la_code_old`` (3-digit DfE code, string), ``la_code_ons``, ``la_name``, ``year``
    (Int64, year ending 31 March), ``measure``, ``value`` (float; NaN where DfE suppressed or
    withheld the cell), ``source``, ``flag`` (the DfE mark for a missing value, e.g. ``c``, ``x``,
    ``u``; NA where there is a value) and ``suppressed`` (bool).
    """
    path = Path(path) if path is not None else DEFAULT_PANEL
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(PANEL_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: not an LA panel, missing columns {sorted(missing)}")
    return _typed(frame)


# ------------------------------------------------------------------ newer DfE releases (EES)

_CLA_POPULATION_TYPES = {
    "children looked after at 31 march each year": "cla_31mar",
    "children looked after on 31 march each year": "cla_31mar",
    "children starting to be looked after each year": "cla_started",
    "children ceasing to be looked after each year": "cla_ceased",
}

#: EES column (lower case) -> panel measure, for the CIN release files b1, c1, d1, d3, d5.
EES_COLUMNS = {
    "at31_episodes": "cin_31mar_number",
    "at31_episodes_rate": "cin_31mar_rate_per_10k",
    "referral_count": "referrals_number",
    "referrals": "referrals_number",
    "referrals_rate": "referrals_rate_per_10k",
    "rereferral_percent": "rereferrals_pct",
    "re_referrals_percent": "rereferrals_pct",
    "cpp_at31": "cpp_31mar_number",
    "cpp_at31_rate": "cpp_31mar_rate_per_10k",
    "cpp_start": "cpp_started_number",
    "cpp_start_rate": "cpp_started_rate_per_10k",
    "cpp_subsequent_percent": "cpp_second_or_subsequent_pct",
}


def _ees_records(path: Path, label: str) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        return []
    cols = {c.strip().lower(): c for c in reader.fieldnames}
    if not {"time_period", "geographic_level", "old_la_code"} <= set(cols):
        return []
    rows = [r for r in reader if (r[cols["geographic_level"]] or "").strip() == "Local authority"]
    out: list[dict] = []

    def put(r, year, measure, raw, column):
        value, flag = parse_dfe_value(raw)
        if flag == "z":  # not applicable: the LA did not exist that year
            return
        out.append({
            "la_code_old": (r[cols["old_la_code"]] or "").strip(),
            "la_code_ons": (r.get(cols.get("new_la_code", ""), "") or "").strip(),
            "la_name": (r.get(cols.get("la_name", ""), "") or "").strip(),
            "year": year, "measure": measure, "value": value,
            "source": f"{label} [{column}]", "flag": flag or "",
        })

    ptype_col = cols.get("population_type") or cols.get("population_count")
    if ptype_col is not None and "rate_per_10000" in cols:  # CLA national tables
        num_col = cols.get("children_count") or cols.get("number")
        for r in rows:
            stem = _CLA_POPULATION_TYPES.get((r[ptype_col] or "").strip().lower())
            if stem is None:
                continue
            year = int(r[cols["time_period"]])
            put(r, year, stem + "_number", r[num_col], num_col)
            put(r, year, stem + "_rate_per_10k", r[cols["rate_per_10000"]], cols["rate_per_10000"])
        return out
    if "population_estimate" in cols and "age_group" in cols:  # ONS population file (CIN release)
        for r in rows:
            # DfE's denominator for year ending March Y is the mid-(Y-1) estimate
            put(r, int(r[cols["time_period"]]) + 1, "population_0_17", r[cols["population_estimate"]],
                cols["population_estimate"])
        return out
    for low, measure in EES_COLUMNS.items():
        if low in cols:
            for r in rows:
                put(r, int(r[cols["time_period"]]), measure, r[cols[low]], cols[low])
    return out


def read_ees_folder(folder: str | Path) -> pd.DataFrame:
    """Read every explore-education-statistics CSV under ``folder`` into the panel's layout.

    Understood: the CLA ``cla_number_and_rate_per_10k_children.csv`` table, the CIN ``b1``,
    ``c1``, ``d1``, ``d3`` and ``d5`` tables and the ONS population file shipped with the CIN
    release. Other CSVs are ignored. When two files give the same LA-year-measure, the file whose
    latest ``time_period`` is newest wins (a later release revises earlier years).
    """
    folder = Path(folder)
    pieces = []
    for path in sorted(folder.rglob("*.csv")):
        recs = _ees_records(path, f"EES file {path.relative_to(folder)}")
        if recs:
            frame = pd.DataFrame.from_records(recs)
            frame["_release"] = frame["year"].max()
            pieces.append(frame)
    if not pieces:
        return _typed(pd.DataFrame(columns=PANEL_COLUMNS))
    frame = pd.concat(pieces, ignore_index=True)
    frame = frame.sort_values("_release", kind="stable")
    frame = frame.drop_duplicates(["la_code_old", "year", "measure"], keep="last")
    return _typed(frame.drop(columns="_release"))


def derive_rates(panel: pd.DataFrame) -> pd.DataFrame:
    """(Re)compute each ``*_rate_per_10k_derived`` measure as count / population_0_17 * 10,000
    (2 decimals), replacing any existing derived rows."""
    base = panel[~panel["measure"].isin(list(DERIVED.values()))]
    pop = base[base["measure"] == "population_0_17"].set_index(["la_code_old", "year"])
    pieces = [base]
    for num, rate in DERIVED.items():
        n = base[base["measure"] == num].set_index(["la_code_old", "year"])
        n = n.join(pop[["value", "flag"]], rsuffix="_pop", how="inner")
        if n.empty:
            continue
        ok = n["value"].notna() & n["value_pop"].notna() & (n["value_pop"] != 0)
        out = n.reset_index()[["la_code_old", "la_code_ons", "la_name", "year"]].copy()
        out["measure"] = rate
        out["value"] = np.where(ok, np.round(n["value"] / n["value_pop"] * 10000, 2), np.nan)
        out["source"] = f"DERIVED (not published): {num} / population_0_17 * 10000"
        out["flag"] = np.where(ok, "", n["flag"].fillna(n["flag_pop"]).fillna("blank").astype(str))
        pieces.append(out)
    return _typed(pd.concat(pieces, ignore_index=True))


def update_panel(panel: pd.DataFrame, newer: pd.DataFrame) -> pd.DataFrame:
    """Lay a newer release (from :func:`read_ees_folder`) over ``panel`` and re-derive rates."""
    both = pd.concat([panel.assign(_o=0), newer.assign(_o=1)], ignore_index=True)
    both = both.sort_values("_o", kind="stable").drop_duplicates(["la_code_old", "year", "measure"], keep="last")
    return derive_rates(both.drop(columns="_o"))


def wide(panel: pd.DataFrame, measure: str) -> pd.DataFrame:
    """One measure as a table: rows LA code, columns year, values float (NaN if missing)."""
    sub = panel[panel["measure"] == measure]
    return sub.pivot_table(index="la_code_old", columns="year", values="value", aggfunc="first",
                           dropna=False).sort_index()


def la_names(panel: pd.DataFrame) -> pd.Series:
    """LA code -> the most recent name."""
    return panel.sort_values("year").groupby("la_code_old", observed=True)["la_name"].last()
