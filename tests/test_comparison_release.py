"""Releasing the comparison: tables marked with their public source in the output checker's log,
the two kinds of figure, the report section, and the tables carried through the release assembly."""
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from evaluation.comparison.panel import read_panel
from evaluation.comparison.staggered import run_staggered
from evaluation.comparison.synthetic import run_synthetic_control
from evaluation.disclosure import OutputLog
from evaluation.report.comparison_section import (COMPARISON_SCHEMAS, PUBLIC_SOURCE, SOURCES, TITLE,
                                                  comparison_figures, comparison_section, comparison_tables)

sys.path.insert(0, str(Path(__file__).parent))

MEASURES = ["cla_31mar_rate_per_10k_derived", "rereferrals_pct"]


@pytest.fixture(scope="module")
def inputs():
    """The comparison group's outputs for two rates, as the release asset receives them."""
    from evaluation.comparison.adopters import adopters

    panel = read_panel()
    sc = run_synthetic_control(panel, measures=MEASURES, holdout=2, augmented=False)
    st = run_staggered(panel, measures=MEASURES)
    out = {"adopters": adopters()}
    for name, table in {"effects": "synthetic_effects", "weights": "synthetic_weights",
                        "inference": "synthetic_inference", "placebos": "synthetic_placebos",
                        "placebo_gaps": "synthetic_placebo_gaps", "leave_one_out": "synthetic_leave_one_out"}.items():
        out[table] = sc[name]
    for table in ("synthetic_effects", "synthetic_inference"):
        out[table] = out[table].assign(council="931", council_name="Oxfordshire")
    for name, table in {"group_time": "staggered_group_time", "event": "staggered_event_study",
                        "overall": "staggered_overall", "cohorts": "staggered_cohorts"}.items():
        out[table] = st[name]
    return out


def test_released_tables_carry_their_public_source(inputs):
    tables = comparison_tables(inputs)
    assert set(tables) == set(COMPARISON_SCHEMAS) == set(SOURCES)
    for name, table in tables.items():
        assert table.attrs["disclosure"]["public_source"] == PUBLIC_SOURCE, name
        documented = COMPARISON_SCHEMAS[name][1]
        assert set(table.columns) <= set(documented), (name, set(table.columns) - set(documented))
    effects = tables["comparison_effects"]
    assert {"council_value", "synthetic", "gap"} <= set(effects.columns)
    assert (effects["gap"] - (effects["council_value"] - effects["synthetic"])).abs().max() < 1e-9
    assert tables["comparison_adopters"]["go_live"].dropna().str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


def test_output_log_marks_public_source_and_only_there(inputs, tmp_path):
    tables = comparison_tables(inputs)
    log = OutputLog(tmp_path)
    record = log.add_table(tmp_path / "tables" / "comparison_effects.csv", tables["comparison_effects"],
                           checks={"DisclosureControlApplied": "pass"})
    assert record.checks["PublishedAggregates"] == "pass" and record.status == "pass"
    assert any(PUBLIC_SOURCE in c for c in record.comments)
    tables["comparison_effects"].to_parquet(tmp_path / "tables" / "effects.parquet")
    parquet = log.add(tmp_path / "tables" / "effects.parquet", {"DisclosureControlApplied": "pass"},
                      properties={"disclosure": tables["comparison_effects"].attrs["disclosure"]})
    assert parquet.checks["PublishedAggregates"] == "pass"
    child_level = pd.DataFrame({"children": ["10", "c"]})
    child_level.attrs["disclosure"] = {"primary": {"children": 1}}
    other = log.add_table(tmp_path / "tables" / "counts.csv", child_level, checks={"DisclosureControlApplied": "pass"})
    assert "PublishedAggregates" not in other.checks  # never given without a named public source
    session = json.loads(log.write().read_text())
    acro = session["results"][record.uid]
    assert acro["properties"]["checks"]["PublishedAggregates"] == "pass"
    assert acro["properties"]["disclosure"]["public_source"] == PUBLIC_SOURCE


def test_figures_and_section(inputs, tmp_path):
    tables = comparison_tables(inputs)
    drawn = comparison_figures(tables, tmp_path)
    assert set(drawn) == {"comparison_synthetic_cla_31mar", "comparison_synthetic_rereferrals_pct",
                          "comparison_event_study_cla_31mar", "comparison_event_study_rereferrals_pct"}
    for path in drawn.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    section = comparison_section(tables)
    assert section["title"] == TITLE == "Against comparison areas" and section["produced"]
    assert section["figures"] == list(drawn) and set(section["tables"]) == set(COMPARISON_SCHEMAS)
    text = " ".join(section["paragraphs"])
    assert "cannot" in text and "Synthetic control" in text and "Staggered adoption" in text
    assert "Callaway &amp; Sant&#39;Anna" in text  # escaped HTML: inserted as it is
    # the findings are the released numbers, not fixed text
    gap = tables["comparison_placebo_tests"].set_index("measure").loc[MEASURES[0], "mean_post_gap"]
    assert f"{gap:+.1f}" in text and "Oxfordshire minus its synthetic control" in text
    empty = comparison_section({})
    assert not empty["produced"] and empty["figures"] == [] and empty["tables"] == []


def test_release_assembly_writes_the_comparison(inputs, tmp_path, tmp_path_factory):
    """The comparison goes through release_tables and write_release: tables with schemas, figures
    logged, and every comparison file marked with its public source in results.json."""
    from test_release_assembly import CONFIG, STUDY, simulated_estimates

    from evaluation.report import write_release
    from evaluation.report.assemble import release_tables, schema_for

    data, results = simulated_estimates(tmp_path_factory, 14, 3)   # the tiny county's estimates
    tables = release_tables(results, data["flow"], data["analysis"], data["monthly"], CONFIG,
                            study=STUDY, comparison=inputs)
    assert set(COMPARISON_SCHEMAS) <= set(tables)
    assert schema_for("comparison_effects").description == COMPARISON_SCHEMAS["comparison_effects"][0]
    release = write_release(tables, tmp_path, {"key_fingerprint": "hmac-sha256:test"})
    assert {"comparison_synthetic_cla_31mar", "comparison_event_study_rereferrals_pct"} <= set(release.figures)
    results = json.loads(release.results_json.read_text())["results"]
    for record in results.values():
        name = record["files"][0]["name"]
        if name.startswith(("tables/comparison_", "figures/comparison_")):
            assert record["properties"]["checks"]["PublishedAggregates"] == "pass", name
            assert record["status"] == "pass", name
        else:
            assert "PublishedAggregates" not in record["properties"]["checks"], name
    assert sum(r["files"][0]["name"].startswith("figures/comparison_") for r in results.values()) == 4
    html = release.report.read_text(encoding="utf-8")
    assert "Comparison synthetic cla 31mar" in html or "comparison_synthetic_cla_31mar" in html
