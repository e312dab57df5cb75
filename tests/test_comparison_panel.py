"""The bundled DfE LA panel and the readers for newer explore-education-statistics releases."""
import gzip
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from evaluation.comparison.adopters import adopters
from evaluation.comparison.panel import (DEFAULT_PANEL, RATES, derive_rates, read_ees_folder, read_panel,
                                         update_panel, wide)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dfe_la_panel"


@pytest.fixture(scope="module")
def panel():
    return read_panel()


def test_bundled_panel_is_typed_and_flags_suppression(panel):
    assert len(panel) == 43844 and panel["la_code_old"].nunique() == 158
    assert str(panel["year"].dtype) == "Int64" and panel["value"].dtype == "float64"
    assert str(panel["la_code_old"].dtype) == "string"
    assert set(panel.loc[panel["suppressed"], "flag"].unique()) == {"c", "x", "u"}
    assert panel.loc[~panel["suppressed"], "flag"].isna().all()
    assert panel.loc[panel["suppressed"], "value"].isna().all()
    # Hackney's CIN-census figures for 2021 and 2022 are marked x (README "Known gaps")
    h = panel[(panel.la_code_old == "204") & (panel.measure == "referrals_number") & panel.year.isin([2021, 2022])]
    assert list(h["flag"]) == ["x", "x"]


def test_oxfordshire_matches_readme_table(panel):
    ox = panel[panel.la_code_old == "931"].set_index(["year", "measure"])["value"]
    assert ox[(2021, "cla_31mar_number")] == 782
    assert ox[(2021, "cpp_31mar_number")] == 451
    assert ox[(2020, "cla_31mar_number")] == 767
    assert ox[(2021, "cla_started_number")] == 289
    assert ox[(2021, "rereferrals_pct")] == 27.6
    for m in RATES:
        assert wide(panel, m).loc["931"].notna().all(), m


def test_bundled_copy_equals_shared_panel():
    shared = SHARED / "panel.csv"
    if not shared.exists():
        pytest.skip("shared/ not present")
    with gzip.open(DEFAULT_PANEL, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(shared.read_bytes()).hexdigest()


def test_adopter_codes_and_names_match_the_panel(panel):
    names = panel.drop_duplicates("la_code_old").set_index("la_code_old")
    for row in adopters().itertuples():
        assert names.loc[row.la_code_old, "la_name"] == row.la_name
        assert names.loc[row.la_code_old, "la_code_ons"] == row.la_code_ons


CLA_HEADER = ("time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,"
              "old_la_code,la_name,new_la_code,population_type,population_estimate,children_count,rate_per_10000")
C1_HEADER = ("time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,"
             "old_la_code,new_la_code,la_name,category,referral_count,rereferral_count,rereferral_percent")
POP_HEADER = ("time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,"
              "old_la_code,new_la_code,la_name,age_group,population_estimate")


def _write(tmp_path, name, header, rows):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\ufeff" + header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


def test_ees_folder_layout_is_mapped_to_panel_measures(tmp_path):
    la = "Reporting year,Local authority,E92000001,England,E12000008,South East"
    _write(tmp_path, "cla_2026/cla_number_and_rate_per_10k_children.csv", CLA_HEADER, [
        f"2026,{la},931,Oxfordshire,E10000025,Children looked after on 31 March each year,160000,\"1,001\",63",
        f"2026,{la},931,Oxfordshire,E10000025,Children starting to be looked after each year,160000,c,c",
        f"2026,{la},999,Gone,E10000099,Children looked after on 31 March each year,z,z,z",
        "2026,Reporting year,National,E92000001,England,,,,,,Children looked after on 31 March each year,1,2,3",
    ])
    _write(tmp_path, "cin_2026/c1_children_in_need_referrals_and_rereferrals_2013_to_2026.csv", C1_HEADER, [
        f"2025,{la},931,E10000025,Oxfordshire,Referrals and Re-referrals,5000,900,18.0",
        f"2026,{la},931,E10000025,Oxfordshire,Referrals and Re-referrals,5100,x,k",
    ])
    _write(tmp_path, "cin_2026/ons_mid-year_population_estimates_2012_to_2025.csv", POP_HEADER, [
        f"2025,{la},931,E10000025,Oxfordshire,Children aged 0 to 17 years,160000",
    ])
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    new = read_ees_folder(tmp_path)
    v = new.set_index(["la_code_old", "year", "measure"])
    assert v.loc[("931", 2026, "cla_31mar_number"), "value"] == 1001
    assert v.loc[("931", 2026, "cla_31mar_rate_per_10k"), "value"] == 63
    s = v.loc[("931", 2026, "cla_started_number")]
    assert s["suppressed"] and s["flag"] == "c"
    assert v.loc[("931", 2026, "rereferrals_pct"), "flag"] == "k"
    assert v.loc[("931", 2026, "population_0_17"), "value"] == 160000  # mid-2025 -> year 2026
    assert "999" not in set(new["la_code_old"])  # z rows dropped; national rows ignored
    merged = update_panel(read_panel(), new)
    m = merged.set_index(["la_code_old", "year", "measure"])["value"]
    assert m[("931", 2026, "cla_31mar_rate_per_10k_derived")] == pytest.approx(1001 / 160000 * 1e4, abs=0.01)
    assert m[("931", 2025, "referrals_number")] == 5000  # the newer release wins (bundled: 5047)
    assert m[("931", 2021, "cla_31mar_number")] == 782  # untouched years kept


def test_ees_reader_rebuilds_the_panel_from_shared_raw(panel):
    raw = SHARED / "raw"
    if not raw.exists():
        pytest.skip("shared/ not present")
    ees = derive_rates(read_ees_folder(raw))
    both = panel.merge(ees, on=["la_code_old", "year", "measure"], suffixes=("", "_ees"))
    assert len(both) > 39000
    same = (both["value"] - both["value_ees"]).abs().lt(1e-6) | (both["value"].isna() & both["value_ees"].isna())
    assert same.all()


def test_derive_rates_recomputes(panel):
    ox = panel[panel.la_code_old == "931"]
    again = derive_rates(ox).set_index(["year", "measure"])["value"]
    orig = ox.set_index(["year", "measure"])["value"]
    idx = [k for k in orig.index if k[1].endswith("_derived")]
    pd.testing.assert_series_equal(again.loc[idx], orig.loc[idx], check_names=False)
