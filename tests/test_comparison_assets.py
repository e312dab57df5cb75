"""The ``comparison`` asset group as the session's ``make run`` stored it (conftest's
``pipeline_run``: its ``comparison_areas`` run materialises the group and its asset checks on the
bundled DfE panel, no EES folder set), the settings (treated council, EES folder) and the checks
failing on bad panels."""
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.comparison import COMPARISON_ASSETS, COMPARISON_INPUTS, EES_DIR_ENV_VAR, la_panel
from assets.storage import io_manager_from_env, load_frame
from checks.comparison import COMPARISON_CHECKS
from checks.resources import ValidationResource
from evaluation.comparison import validation as suites
from evaluation.comparison.adopters import adopters
from evaluation.comparison.panel import BOUNDARY_CHANGED, RATES, read_panel
from evaluation.comparison.synthetic import excluded_codes, treated_council

sys.path.insert(0, str(Path(__file__).parent))
from test_comparison_panel import C1_HEADER, _write  # noqa: E402


def _resources(tmp: Path) -> dict:
    return {"io_manager": io_manager_from_env(database=str(tmp / "db.duckdb")),
            "validation": ValidationResource(project_dir=str(tmp / "gx"), docs_dir=str(tmp / "docs"))}


@dataclass
class StoredComparison:
    """What the session run stored of the comparison group."""

    run: dg.DagsterRun              # the run that materialised ``comparison/la_panel``
    producers: set[str]             # ids of the runs that materialised the group's tables (last time)
    seconds: float                  # that run's duration, start to end
    checks: dict[str, bool]         # that run's asset check evaluations: check name -> passed
    tables: dict[str, pd.DataFrame]  # asset name -> its table, as the IO manager loads it


@pytest.fixture(scope="module")
def stored(pipeline_run) -> StoredComparison:
    """The comparison group from the session's ``make run`` (read only): its run and check
    evaluations from the run's Dagster instance, its tables from the run's DuckDB database."""
    assert pipeline_run.exit_code == 0, "\n".join(pipeline_run.messages[-20:])
    keys = [key for assets_def in COMPARISON_ASSETS for key in assets_def.keys]
    with dg.DagsterInstance.from_config(str(pipeline_run.home)) as instance:
        last = {key: instance.fetch_materializations(key, limit=1).records[0].run_id for key in keys}
        record = instance.get_run_record_by_id(last[dg.AssetKey(["comparison", "la_panel"])])
        events = instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    checks = {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data.passed
              for e in events}
    with duckdb.connect(str(pipeline_run.database), read_only=True) as connection:
        tables = {key.path[-1]: load_frame(connection, f"SELECT * FROM {'.'.join(key.path)}") for key in keys}
    return StoredComparison(record.dagster_run, set(last.values()), record.end_time - record.start_time,
                            checks, tables)


def test_group_materialises_with_every_check_passing(stored):
    """One successful ``comparison_areas`` run stored every table of the group, its checks all passing."""
    assert stored.run.job_name == "comparison_areas"
    assert stored.run.status == dg.DagsterRunStatus.SUCCESS
    assert stored.producers == {stored.run.run_id}
    assert stored.checks == {"suppression_marks": True, "boundary_changes": True, "gaps": True,
                             "go_live_sourced": True, "adopters_in_panel": True}
    assert set(stored.checks) == {key.name for check in COMPARISON_CHECKS for key in check.check_keys}
    keys = {k.path[-1] for a in COMPARISON_ASSETS for k in a.keys}
    assert {"la_panel", "adopters", "synthetic_effects", "synthetic_weights", "synthetic_inference",
            "staggered_group_time", "staggered_event_study", "staggered_overall"} <= keys
    assert all(k.path[0] == "comparison" for a in COMPARISON_ASSETS for k in a.keys)
    assert {a.group_names_by_key[k] for a in COMPARISON_ASSETS for k in a.keys} == {"comparison"}


def test_the_release_figures_drawn_here_are_stored_as_pngs(stored):
    """comparison_figures as the run stored it in DuckDB: 14 rows, the figures the stored comparison
    tables plan in the planned order, each a whole PNG (signature, chunks' checksums, end), all
    drawn from exactly those tables (``drawn_from`` their digest, as the release checks before
    using them)."""
    from PIL import Image

    from evaluation.report.comparison_section import comparison_figure_plan, comparison_tables
    from evaluation.report.predrawn import tables_digest

    figures = stored.tables["comparison_figures"]
    released = comparison_tables({name: stored.tables[name] for name in COMPARISON_INPUTS})
    assert len(figures) == 14   # a synthetic control and an event study per rate
    assert list(figures["figure"]) == [name for name, _, _ in comparison_figure_plan(released)]
    pngs = [bytes(png) for png in figures["png"]]   # DuckDB's BLOBs load as bytearray
    for png in pngs:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            image.verify()      # every chunk's CRC, up to IEND
    assert len(set(pngs)) == 14
    assert set(figures["drawn_from"]) == {tables_digest(released)}


def test_oxfordshire_synthetic_control(stored):
    weights = stored.tables["synthetic_weights"]
    inference = stored.tables["synthetic_inference"]
    effects = stored.tables["synthetic_effects"]
    assert set(inference["measure"]) == set(RATES) == set(weights["measure"])
    sums = weights.groupby("measure")["weight"].sum()
    assert np.allclose(sums, 1, atol=1e-3)  # weights below 1e-4 are not listed
    assert not set(weights["donor"]) & excluded_codes("931")
    assert not set(weights["donor"]) & set(BOUNDARY_CHANGED)
    for column in ("placebo_p", "placebo_p_gap"):
        assert ((inference[column] > 0) & (inference[column] <= 1)).all()
    # placebo units: Oxfordshire and its 40 donors
    assert (inference["placebo_units"] == 41).all() and (inference["n_donors"] == 40).all()
    assert (inference["holdout_years"] == 2).all() and (inference["pre_rmspe"] > 0).all()
    assert set(effects["council_name"]) == {"Oxfordshire"}
    assert list(effects.loc[effects["period"] == "transition", "year"].unique()) == [2021]
    assert inference["in_time_mean_gap"].notna().all() and inference["loo_min_gap"].notna().all()
    loo = stored.tables["synthetic_leave_one_out"]
    assert set(loo["measure"]) == set(RATES) and loo["mean_post_gap"].notna().all()
    gaps = stored.tables["synthetic_placebo_gaps"]
    assert gaps.groupby("measure")["unit"].nunique().eq(40).all()


def test_staggered_adoption_tables(stored):
    overall = stored.tables["staggered_overall"]
    cohorts = stored.tables["staggered_cohorts"]
    event = stored.tables["staggered_event_study"]
    assert set(overall["measure"]) == set(RATES)
    assert set(overall["aggregation"]) == {"simple", "group", "dynamic"}
    assert set(overall["control_group"]) == {"never_treated", "not_yet_treated"}
    dated = adopters()
    dated = set(dated.loc[dated["sourced"], "la_code_old"])
    assert set(cohorts["la_code_old"]) <= dated and "931" in set(cohorts["la_code_old"])
    assert event["relative_period"].min() < 0 < event["relative_period"].max()


def test_group_time_budget(stored):
    """Issue #17: the comparison adds under a minute to ``make run``: the session run's
    ``comparison_areas`` run, start to end (on a shared machine; the budget is loose so a loaded
    machine does not fail it)."""
    assert stored.seconds < 180


def test_treated_council_needs_a_sourced_adopter_with_five_pre_years():
    table = adopters()
    assert treated_council(table, "931", 2013) == ("Oxfordshire", 2021)
    assert treated_council(table, "212", 2013) == ("Wandsworth", 2022)  # January 2022: year ending March 2022
    assert treated_council(table, "867", 2013) == ("Bracknell Forest", 2018)  # exactly 5 pre-years
    with pytest.raises(ValueError, match="only 4 panel years"):
        treated_council(table, "867", 2014)
    with pytest.raises(ValueError, match="not sourced"):
        treated_council(table, "821", 2013)  # Luton: no go-live date
    with pytest.raises(ValueError, match="not in the adopters"):
        treated_council(table, "330", 2013)  # Birmingham: not a listed adopter


def test_ees_folder_setting_and_environment(stored, tmp_path, monkeypatch):
    la = "Reporting year,Local authority,E92000001,England,E12000008,South East"
    _write(tmp_path / "releases", "cin_2026/c1_children_in_need_referrals_and_rereferrals_2013_to_2026.csv",
           C1_HEADER, [f"2026,{la},931,E10000025,Oxfordshire,Referrals and Re-referrals,5100,900,17.6"])
    # without the setting or the environment variable (make run's environment drops every FSP_*
    # variable but the key and the folders): the bundled panel, as the session run stored it
    bundled = stored.tables["la_panel"]
    assert len(bundled) == len(read_panel())
    monkeypatch.delenv(EES_DIR_ENV_VAR, raising=False)
    monkeypatch.setenv(EES_DIR_ENV_VAR, str(tmp_path / "releases"))
    result = dg.materialize([la_panel], resources=_resources(tmp_path))
    panel = result.output_for_node("comparison__la_panel").set_index(["la_code_old", "year", "measure"])["value"]
    assert panel[("931", 2026, "rereferrals_pct")] == pytest.approx(17.6)
    config = {"ops": {"comparison__la_panel": {"config": {"ees_folder": str(tmp_path / "missing")}}}}
    with pytest.raises(FileNotFoundError, match="missing"):
        dg.materialize([la_panel], resources=_resources(tmp_path), run_config=config)
    (tmp_path / "empty").mkdir()
    config = {"ops": {"comparison__la_panel": {"config": {"ees_folder": str(tmp_path / "empty")}}}}
    with pytest.raises(ValueError, match="no explore-education-statistics CSV"):
        dg.materialize([la_panel], resources=_resources(tmp_path), run_config=config)


def test_panel_suites_fail_on_bad_panels():
    panel = read_panel()
    bad = panel.copy()
    bad["flag"] = bad["flag"].astype("string")
    missing = bad.index[bad["value"].isna()][:3]
    bad.loc[missing, "flag"] = "q"  # not a DfE mark
    derived, _ = suites.suppression_suite(bad)
    assert (~derived["missing_has_known_mark"]).sum() == 3
    assert derived["suppressed_matches_value"].all()
    # Oxfordshire missing 2016-2018: an unlisted boundary change
    gap = panel[~((panel["la_code_old"] == "931") & panel["year"].between(2016, 2018))]
    derived, _ = suites.boundary_suite(gap)
    assert derived.loc[~derived["whole_span_or_listed"], "la_code_old"].tolist() == ["931"]
    # a rate reported by half the councils in 2019
    codes = sorted(panel["la_code_old"].unique())[::2]
    thin = panel[~((panel["measure"] == "rereferrals_pct") & (panel["year"] == 2019)
                   & panel["la_code_old"].isin(codes))]
    table, _ = suites.gaps_suite(thin)
    low = table[table["share"] < suites.MIN_COVERAGE]
    assert list(zip(low["measure"], low["year"])) == [("rereferrals_pct", 2019)]


def test_adopters_suites_fail_on_unsourced_or_mistyped_rows():
    table = adopters()
    table.loc[table["la_code_old"] == "335", "source"] = ""
    table.loc[table["la_code_old"] == "866", "go_live"] = pd.NaT
    derived, _ = suites.adopters_suite(table)
    assert derived.loc[~derived["names_a_source"], "la_code_old"].tolist() == ["335"]
    assert derived.loc[~derived["dated_if_sourced"], "la_code_old"].tolist() == ["866"]
    table.loc[table["la_code_old"] == "212", "la_code_old"] = "999"
    derived, _ = suites.adopters_in_panel_suite(table, read_panel())
    assert (~derived["in_panel"]).sum() == 1


def test_checks_report_failure_through_dagster(tmp_path):
    """A bad panel fails its blocking check in Dagster; an adopter row without a source its own."""
    def panel_asset(bad: bool):
        @dg.asset(key=["comparison", "la_panel"])
        def la_panel():
            panel = read_panel()
            if bad:
                panel["flag"] = panel["flag"].astype("string")
                panel.loc[panel.index[panel["value"].isna()][:2], "flag"] = "q"
            return panel
        return la_panel

    def adopters_asset(bad: bool):
        @dg.asset(key=["comparison", "adopters"])
        def adopters_table():
            table = adopters()
            if bad:
                table.loc[0, "source"] = None
            return table
        return adopters_table

    def evaluations(bad_panel: bool, bad_adopters: bool):
        result = dg.materialize([panel_asset(bad_panel), adopters_asset(bad_adopters), *COMPARISON_CHECKS],
                                resources=_resources(tmp_path), raise_on_error=False)
        return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}

    first = evaluations(bad_panel=True, bad_adopters=False)
    assert first["suppression_marks"] is False and first["boundary_changes"] and first["gaps"]
    second = evaluations(bad_panel=False, bad_adopters=True)
    assert second["go_live_sourced"] is False and second["adopters_in_panel"]
    assert second["suppression_marks"]
