"""Estimates by extract: each release's headline hazard ratios kept under its extract date."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd

from evaluation.report.history import (
    HISTORY_COLUMNS, estimates_by_extract, from_records, headline_estimates, to_records,
)

OUTCOMES = ("time_in_need", "time_in_protection", "time_in_care")


def released_hazard_ratios(scale: float = 1.0) -> pd.DataFrame:
    """A released hazard_ratios table: headline rows among others that must not be taken."""
    rows = []
    for k, outcome in enumerate(OUTCOMES):
        for analysis in ("cox_unadjusted", "cox_adjusted"):
            for contrast, term in (("post_fsp vs pre_fsp", "cohort[post_fsp]"),
                                   ("transition vs pre_fsp", "cohort[transition]")):
                hr = scale * (0.8 + 0.1 * k) + (0.01 if analysis == "cox_unadjusted" else 0.0)
                rows.append(dict(outcome=outcome, analysis=analysis, contrast=contrast, combination="all",
                                 term=term, estimate=hr, ci_lower=hr * 0.8, ci_upper=hr * 1.25, p_value=0.04,
                                 n=500, events=200, release_note=""))
        rows.append(dict(outcome=outcome, analysis="cox_adjusted", contrast=None, combination="all",
                         term="domestic_abuse", estimate=1.3, ci_lower=1.1, ci_upper=1.5, p_value=0.01,
                         n=500, events=200, release_note=""))
    table = pd.DataFrame(rows)
    table.loc[(table["outcome"] == "time_in_care") & (table["analysis"] == "cox_adjusted"),
              ["estimate", "ci_lower", "ci_upper", "p_value", "n", "events"]] = np.nan
    table.loc[(table["outcome"] == "time_in_care"), "release_note"] = "not estimable (small numbers)"
    return table


def test_headline_rows_are_the_adjusted_post_vs_pre_hazard_ratios():
    rows = headline_estimates(released_hazard_ratios(), "2024-03-31")
    assert list(rows.columns) == list(HISTORY_COLUMNS)
    assert list(rows["outcome"]) == list(OUTCOMES)
    assert set(rows["extract_date"]) == {"2024-03-31"} and set(rows["analysis"]) == {"cox_adjusted"}
    assert rows["estimate"].iloc[:2].round(6).tolist() == [0.8, 0.9]
    care = rows[rows["outcome"] == "time_in_care"].iloc[0]
    assert pd.isna(care["estimate"]) and care["release_note"] == "not estimable (small numbers)"
    assert headline_estimates(None, "2024-03-31").empty


def test_extracts_accumulate_in_date_order_and_a_rerun_replaces_its_extract():
    first = headline_estimates(released_hazard_ratios(1.0), "2024-03-31")
    second = headline_estimates(released_hazard_ratios(0.9), "2025-03-31")
    table = estimates_by_extract(second, [first])
    assert table["extract_date"].tolist() == ["2024-03-31"] * 3 + ["2025-03-31"] * 3
    # the same extract again (a re-run, here with other numbers): its rows are replaced, not added
    again = headline_estimates(released_hazard_ratios(0.95), "2025-03-31")
    replaced = estimates_by_extract(again, [first, second])
    assert len(replaced) == 6
    assert replaced.loc[replaced["extract_date"] == "2025-03-31", "estimate"].round(6).tolist()[:2] == [
        round(0.95 * 0.8, 6), round(0.95 * 0.9, 6)]
    # an older extract analysed later still sorts by its date
    late = estimates_by_extract(first, [second])
    assert late["extract_date"].tolist() == table["extract_date"].tolist()
    # the older extract released again (after both): its rows replaced in place, none added
    older_again = estimates_by_extract(headline_estimates(released_hazard_ratios(1.05), "2024-03-31"),
                                       [first, second, table])
    assert older_again["extract_date"].tolist() == table["extract_date"].tolist()
    assert older_again.loc[older_again["extract_date"] == "2024-03-31", "estimate"].round(6).tolist()[:2] == [
        round(1.05 * 0.8, 6), round(1.05 * 0.9, 6)]
    pd.testing.assert_frame_equal(older_again[older_again["extract_date"] == "2025-03-31"],
                                  table[table["extract_date"] == "2025-03-31"])
    # idempotent: the history of a table that already holds this release is the same table
    pd.testing.assert_frame_equal(estimates_by_extract(second, [first, second]), table)


def test_records_keep_missing_values_and_types():
    rows = headline_estimates(released_hazard_ratios(), "2024-03-31")
    records = to_records(rows)
    assert records[2]["estimate"] is None and records[0]["n"] == 500
    pd.testing.assert_frame_equal(from_records(records), rows)
    assert from_records(None).empty and list(from_records([]).columns) == list(HISTORY_COLUMNS)


def test_figure_draws_one_or_several_extracts(tmp_path):
    from PIL import Image

    from evaluation.figures import estimates_by_extract_figure

    first = headline_estimates(released_hazard_ratios(1.0), "2024-03-31")
    table = estimates_by_extract(headline_estimates(released_hazard_ratios(0.9), "2025-03-31"), [first])
    for name, data in (("one", first), ("two", table), ("none", first.iloc[:0])):
        path = estimates_by_extract_figure(data, tmp_path / f"{name}.png")
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 300


def test_each_release_adds_its_extract(pipeline_run, tmp_path, monkeypatch):
    """Through Dagster, on a copy of the session's instance: its release (the full extract) is
    already recorded. The door's table of extracts is then made an older extract's (the latest
    collection year's returns removed, as the door stores an extract without them) and the release
    run again: it releases a table holding both extract dates, the full extract's rows as they
    were. (Releasing an extract again adds nothing: the whole pipeline run again into the same
    outputs folder and instance, ``test_operations.test_releasing_the_same_extract_again_adds_no_extract``,
    and the history's rows replaced, ``test_extracts_accumulate_in_date_order_and_a_rerun_replaces_its_extract``.
    A shorter extract through the door and the analysis is ``test_observation_windows``'s.)"""
    import dagster as dg
    import duckdb

    from assets.definitions import ALL_ASSETS, ALL_CHECKS, build_resources

    assert pipeline_run.exit_code == 0
    home = tmp_path / "home"
    shutil.copytree(pipeline_run.home, home)
    with duckdb.connect(str(home / "evaluation.duckdb")) as connection:
        (latest,) = connection.execute(
            "select max(collection_year) from pseudonymised.extracts").fetchone()
        connection.execute("delete from pseudonymised.extracts where collection_year = ?", [latest])
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # The same study's key: a new key on this instance would be refused (children would not link).
    monkeypatch.setenv("FSP_PSEUDONYMISATION_KEY", pipeline_run.key)
    out = tmp_path / "outputs"   # a new folder: the earlier release is known from the instance
    resources = build_resources(database=str(home / "evaluation.duckdb"),
                                input_dir=str(pipeline_run.input_dir), output_dir=str(out))
    released = out / "tables" / "estimates_by_extract.parquet"
    full = pd.read_parquet(pipeline_run.output_dir / "tables" / "estimates_by_extract.parquet")
    assert set(full["extract_date"]) == {f"{latest}-03-31"}

    def release(instance):
        result = dg.materialize([*ALL_ASSETS, *ALL_CHECKS], selection=dg.AssetSelection.groups("release"),
                                instance=instance, resources=resources)
        assert result.success
        (event,) = [e for e in result.get_asset_materialization_events()
                    if e.asset_key == dg.AssetKey(["release", "released_outputs"])]
        return event.materialization.metadata

    with dg.DagsterInstance.from_config(str(home)) as instance:
        metadata = release(instance)
        table = pd.read_parquet(released)
        assert sorted(set(table["extract_date"])) == [f"{latest - 1}-03-31", f"{latest}-03-31"]
        assert table[table["extract_date"] == f"{latest}-03-31"].reset_index(drop=True).equals(full)
        assert (table["analysis"] == "cox_adjusted").all()
        assert metadata["extract_date"].value == f"{latest - 1}-03-31"
        assert metadata["extracts_so_far"].value == 2
    assert (out / "figures" / "estimates_by_extract.png").exists()


def test_history_outlives_the_instance(tmp_path):
    """A new Dagster instance (its metadata gone) still finds the earlier extracts' headline rows in
    the released history table of the outputs folder; the instance's records come after them."""
    import dagster as dg

    from assets.release import RELEASED_HISTORY, earlier_headlines

    first = headline_estimates(released_hazard_ratios(1.0), "2024-03-31")
    second = headline_estimates(released_hazard_ratios(0.9), "2025-03-31")
    released = estimates_by_extract(second, [first])
    (tmp_path / RELEASED_HISTORY).parent.mkdir(parents=True)
    released.to_parquet(tmp_path / RELEASED_HISTORY, index=False)
    key = dg.AssetKey(["release", "released_outputs"])
    with dg.instance_for_test() as fresh:
        (history,) = earlier_headlines(fresh, key, tmp_path)
        assert earlier_headlines(fresh, key, tmp_path / "elsewhere") == []
    pd.testing.assert_frame_equal(history, released)
    third = headline_estimates(released_hazard_ratios(0.8), "2026-03-31")
    table = estimates_by_extract(third, [history])
    assert list(table["extract_date"].unique()) == ["2024-03-31", "2025-03-31", "2026-03-31"]
