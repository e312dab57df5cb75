"""The release: internal result tables -> safe tables (Parquet + CSV), schema, figures, report, log.

A small simulated pipeline (analysis dataset, journeys, monthly counts, flow)
is run through the real estimators of :mod:`evaluation.analysis`, released
with :func:`release_tables` and written with :func:`write_release`. The
checks read the written files back, never the in-memory tables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis import competing_results, state_results, survival_results, time_series_results
from evaluation.codes.groupings import COMBINATIONS
from evaluation.cohorts.analysis_dataset import ANALYSIS_COLUMNS
from evaluation.study import StudyConfig
from evaluation.disclosure import DisclosureConfig, released_numbers, sha256_of
from evaluation.report import write_release
from evaluation.report.assemble import release_tables, schema_for
from _shared_once import once_across_workers
from test_disclosure import assert_safe

STUDY = StudyConfig()
CONFIG = DisclosureConfig()
COHORTS = ("pre_fsp", "transition", "post_fsp")
EXITS = {
    "time_in_need": ("closure",),
    "time_in_protection": ("step_down", "closure", "escalation_care", "other"),
    "time_in_care": ("return_home", "permanence", "other"),
}
COUNT_COLUMNS = ("children", "families", "count")
SMALL_RUN = dict(times=(91, 365, 730))


def simulate_pipeline(n_families: int, seed: int) -> dict:
    """Analysis dataset, journeys, monthly counts and a consistent flow table for one small county."""
    rng = np.random.default_rng(seed)
    size = rng.choice([1, 1, 2, 3], n_families)
    family = np.repeat(np.arange(n_families), size)
    n = len(family)
    flags = rng.random((n_families, 3)) < [0.3, 0.2, 0.15]
    cohort = rng.choice(COHORTS, n_families, p=[0.4, 0.25, 0.35])[family]
    labels = dict(COMBINATIONS)
    children = pd.DataFrame({
        "la_code": "931", "child_id": [f"C{i:06d}" for i in range(n)], "family_id": [f"F{f:05d}" for f in family],
        "cohort": cohort,
        "time_zero": pd.Timestamp("2018-06-01") + pd.to_timedelta(rng.integers(0, 1200, n_families)[family], "D"),
        "domestic_abuse": flags[family, 0], "mental_health": flags[family, 1], "substance_misuse": flags[family, 2],
        "age_band": rng.choice(["0", "1-4", "5-9", "10-15", "16-17"], n, p=[0.1, 0.25, 0.3, 0.3, 0.05]),
        "sex": rng.choice(["F", "M"], n), "ethnic_group": rng.choice(["White", "Mixed", "Asian", "Black"], n,
                                                                     p=[0.75, 0.1, 0.1, 0.05]),
        "family_size": size[family], "prior_cin_episodes": rng.poisson(0.5, n),
        "primary_need": rng.choice(["N1", "N4", "N5"], n), "referral_source_group": rng.choice(["Police", "Health"], n),
        "lockdown_period": rng.random(n) < 0.1,
    })
    children["combination"] = [labels[tuple(f)] for f in flags[family]]
    rows = []
    for outcome, causes in EXITS.items():
        picked = (rng.random(n_families) < {"time_in_need": 1.0, "time_in_protection": 0.6,
                                            "time_in_care": 0.4}[outcome])[family]
        part = children[picked].copy()
        fam = family[picked]
        slower = np.where(part["cohort"].to_numpy() == "post_fsp", 0.6, 1.0)
        latent = rng.exponential(300 * len(causes), (n_families, len(causes)))[fam] / slower[:, None]
        exit_time = np.ceil(latent.min(axis=1))
        censor = np.floor(rng.uniform(150, 1100, n_families)[fam])
        event = exit_time <= censor
        part["outcome"] = outcome
        part["duration"] = np.where(event, exit_time, censor).astype(float)
        part["event"] = event.astype(int)
        part["cause"] = np.where(event, np.asarray(causes)[latent.argmin(axis=1)], "censored")
        part["entry"] = 0.0
        part["route_entry"] = 0.0
        rows.append(part)
    analysis = pd.concat(rows, ignore_index=True)
    for column in ("la_code", "child_id", "family_id", "outcome", "cohort", "cause", "combination"):
        analysis[column] = analysis[column].astype("string")
    if "go_live_day" in ANALYSIS_COLUMNS:       # no follow-up is cut at go-live in this simulation
        analysis["go_live_day"] = np.inf
    analysis = analysis[list(ANALYSIS_COLUMNS)]

    # journeys: referral -> (cin_plan | cp_plan) -> closed, censored at a random day
    first = rng.exponential(120, n) + 1
    second = first + rng.exponential(200, n) + 1
    middle = np.where(rng.random(n) < 0.3, "cp_plan", "cin_plan")
    stop = rng.uniform(200, 900, n)
    journeys = []
    for k in range(n):
        ident, cluster, group = f"931:{children.child_id[k]}", f"931:{children.family_id[k]}", cohort[k]
        legs = [(0.0, first[k], "referral", middle[k]), (first[k], second[k], middle[k], "closed"),
                (second[k], 1000.0, "closed", "censored")]
        for start, end, state, to in legs:
            if start >= stop[k]:
                break
            censored = end > stop[k]
            journeys.append((ident, cluster, group, start, min(end, stop[k]), state, "censored" if censored else to))
    intervals = pd.DataFrame(journeys, columns=["id", "cluster", "group", "tstart", "tstop", "from_state", "to_state"])

    months = pd.date_range("2017-04-01", "2023-03-01", freq="MS")
    after = months >= pd.Timestamp("2020-11-01")
    monthly = []
    for series, level in (("referrals", 60.0), ("cp_plan_starts", 12.0), ("care_entries", 4.0)):
        counts = rng.poisson(level * np.where(after, 0.8, 1.0))
        monthly.append(pd.DataFrame({"month": months, "la_code": "931", "series": series, "count": counts,
                                     "exposure": months.days_in_month.astype(float)}))
    monthly = pd.concat(monthly, ignore_index=True)

    per_child = analysis.drop_duplicates("child_id")
    families = per_child.groupby("cohort", observed=True)["family_id"].nunique()
    kids = per_child.groupby("cohort", observed=True).size()
    unlinked = int(rng.integers(1, 5))
    flow = [(0, "start", "cin_children", "children with a CIN episode", "all",
             int(families.sum()) + unlinked, int(kids.sum()) + unlinked),
            (1, "excluded", "no_family_link", "no family link", "all", unlinked, unlinked),
            (1, "remaining", "no_family_link", "remaining after: no family link", "all",
             int(families.sum()), int(kids.sum())),
            (2, "analysed", "analysed", "families and children analysed", "all", int(families.sum()), int(kids.sum()))]
    flow += [(2, "analysed", "analysed", "families and children analysed", c, int(families.get(c, 0)),
              int(kids.get(c, 0))) for c in COHORTS]
    flow = pd.DataFrame(flow, columns=["step", "stage", "reason", "description", "cohort", "families", "children"])
    validation = pd.DataFrame({
        "asset": ["door/cin_episodes", "spells/protection"], "check": ["schema", "no_overlaps"],
        "local_authority": ["931", "931"], "passed": [True, False], "severity": ["ERROR", "WARN"],
        "blocking": [True, False], "expectations": [12, 3], "expectations_failed": [0, 1]})
    return dict(analysis=analysis, intervals=intervals, monthly=monthly, flow=flow, validation=validation)


def run_estimators(data: dict) -> dict:
    results = {}
    results.update(survival_results(data["analysis"], STUDY, **SMALL_RUN))
    results.update(competing_results(data["analysis"], STUDY, times=SMALL_RUN["times"]))
    results.update(state_results(data["intervals"], STUDY, n_boot=10))
    results.update(time_series_results(data["monthly"], STUDY))
    return results


def simulated_estimates(tmp_path_factory, n_families: int, seed: int) -> tuple[dict, dict]:
    """``simulate_pipeline`` and ``run_estimators`` on it, once per test session for each size and
    seed (the comparison's release test estimates the tiny county too); each caller its own copy."""
    return once_across_workers(tmp_path_factory, f"estimates_{n_families}_{seed}",
                               lambda _folder: _simulate_and_estimate(n_families, seed))


def _simulate_and_estimate(n_families: int, seed: int) -> tuple[dict, dict]:
    data = simulate_pipeline(n_families, seed)
    return data, run_estimators(data)


def build_release(directory: Path, n_families: int = 170, seed: int = 11, estimates=None):
    """Simulate, estimate, release and write; returns (simulated data, released tables, Release).
    ``estimates``: ``simulated_estimates`` of the same size and seed, when already at hand."""
    data, results = estimates if estimates is not None else _simulate_and_estimate(n_families, seed)
    tables = release_tables(results, data["flow"], data["analysis"], data["monthly"], CONFIG,
                            validation=data["validation"], study=STUDY, extract_date="2025-03-31")
    return data, tables, write_release(tables, directory, {"key_fingerprint": "hmac-sha256:test"})


_BUILT: dict = {}


def county_release(tmp_path_factory):
    """The simulated county's release, built once per test session (the figure, report, notebook
    and browser tests read it too), also when those files run in another pytest-xdist worker:
    read it, never change it."""
    if "county" not in _BUILT:
        _BUILT["county"] = once_across_workers(tmp_path_factory, "county_release", build_release)
    return _BUILT["county"]


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return county_release(tmp_path_factory)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_release(tmp_path_factory.mktemp("tiny"), n_families=14, seed=3,
                         estimates=simulated_estimates(tmp_path_factory, 14, 3))


def written_tables(release) -> dict[str, pd.DataFrame]:
    return {path.stem: pd.read_parquet(path) for path in sorted((release.directory / "tables").glob("*.parquet"))}


def count_values(table: pd.DataFrame) -> pd.Series:
    """Every released person count in a table: count columns, n / events of model rows, curves' at-risk.

    A curve's per-interval exits and censorings are differences of rounded
    cumulative counts (multiples of the base, possibly 5): they are checked
    for rounding in :func:`test_curves_carry_no_exact_event_time`.
    """
    parts = [released_numbers(table[c].astype(object)) for c in COUNT_COLUMNS if c in table]
    for column in ("n", "events", "n_risk"):
        if column in table:
            parts.append(pd.to_numeric(table[column], errors="coerce"))
    if "term" in table and "analysis" in table:        # log-rank observed exits are counts too
        observed = (table["term"] == "observed").fillna(False).to_numpy(dtype=bool)
        parts.append(pd.to_numeric(table.loc[observed, "estimate"], errors="coerce"))
    parts = [p.astype(float) for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True).dropna() if parts else pd.Series(dtype=float)


@pytest.mark.parametrize("which", ["county", "tiny"])
def test_no_small_and_no_unrounded_count_is_released(which, request):
    _, _, release = request.getfixturevalue(which)
    tables = written_tables(release)
    assert len(tables) >= 20
    for name, table in tables.items():
        counts = count_values(table)
        if name == "time_series_effects":          # n there is months, not people
            counts = count_values(table.drop(columns="n"))
        assert not ((counts >= 1) & (counts < CONFIG.threshold)).any(), name
        assert (counts % CONFIG.rounding_base == 0).all(), name
    for name in ("cohort_characteristics", "cohort_flow", "monthly_series"):
        for column in ("children", "families", "count"):
            if column in tables[name]:
                text = tables[name][column].astype(str)
                assert set(text[released_numbers(text).isna()]) <= {CONFIG.suppressed}, name


def test_cohort_characteristics_withstand_subtraction(county):
    data, _, release = county
    released = pd.read_parquet(release.directory / "tables" / "cohort_characteristics.parquet")
    children = data["analysis"].drop_duplicates("child_id")
    checked = 0
    for covariate in ("combination", "age_band", "ethnic_group", "sex"):
        part = released[released["covariate"] == covariate].drop(columns="covariate").reset_index(drop=True)
        interior = part[(part["level"] != "Total") & (part["cohort"] != "Total")]
        true = (children.groupby(["cohort", covariate], observed=True).size()
                .reindex(pd.MultiIndex.from_arrays([interior["cohort"], interior["level"]]), fill_value=0)
                .rename("children").reset_index())
        true.columns = ["cohort", "level", "children"]
        assert_safe(true, part[["cohort", "level", "children"]], ["cohort", "level"], "children",
                    elsewhere=[("cohort",)])
        # a percentage is shown only beside a shown count, and comes from the rounded numbers
        shown = part["percent"] != CONFIG.suppressed
        assert (part.loc[shown, "children"] != CONFIG.suppressed).all()
        checked += int((part["children"] == CONFIG.suppressed).sum())
    assert checked > 0, "the simulated county should have some suppressed cells"
    # the combination slice is released as cohort_counts too, identical
    counts = pd.read_parquet(release.directory / "tables" / "cohort_counts.parquet")
    combination = released[released["covariate"] == "combination"]
    assert counts["children"].tolist() == combination["children"].tolist()


def test_curves_carry_no_exact_event_time(county):
    data, tables, release = county
    written = written_tables(release)
    curve_tables = [n for n in written if n.startswith(("km_time", "cif_"))]
    assert {"km_time_in_need", "km_time_in_protection", "km_time_in_care", "cif_exit_from_protection",
            "cif_exit_from_care"} <= set(curve_tables)
    for name in curve_tables:
        table = written[name]
        assert (table["time"] % 91 == 0).all(), name
        assert (table["n_risk"] >= CONFIG.min_at_risk).all(), name
        for column in ("n_risk", "n_event", "n_censor"):
            assert (table[column] % CONFIG.rounding_base == 0).all(), (name, column)
    medians = written["km_estimates"][written["km_estimates"]["term"] == "median"]["estimate"].dropna()
    assert len(medians) and (medians % 7 == 0).all()
    exact = set(data["analysis"]["duration"][data["analysis"]["event"] == 1])
    for name in ("km_estimates", "rmst_differences", "cumulative_incidence"):
        times = set(written[name]["time"].dropna())
        assert times <= {91.0, 182.0, 365.0, 730.0, 1095.0}, name
        assert times != exact


def test_no_identifier_or_birth_date_leaves(county):
    data, _, release = county
    ids = set(data["analysis"]["child_id"]) | set(data["analysis"]["family_id"])
    for path in (release.directory / "tables").glob("*.csv"):
        frame = pd.read_csv(path, dtype=str)
        for column in frame.columns:
            assert not re.search(r"(^|_)(id|upn|dob|birth|postcode|name)($|_)", column.lower()), (path.name, column)
        assert not (set(frame.stack().astype(str)) & ids), path.name
    text = (release.directory / "report.html").read_text(encoding="utf-8")
    assert not any(identifier in text for identifier in list(ids)[:200])


def test_every_file_is_logged_with_its_checksum(county):
    _, tables, release = county
    session = json.loads(release.results_json.read_text())
    records = {r["files"][0]["name"]: r for r in session["results"].values()}
    on_disk = {p.relative_to(release.directory).as_posix() for p in release.directory.rglob("*")
               if p.is_file() and not p.relative_to(release.directory).as_posix().startswith("checksums/") and p.name not in ("results.json", "config.json")}
    assert on_disk == set(records)
    for name, record in records.items():
        assert record["files"][0]["sha256"] == sha256_of(release.directory / name)
        assert record["status"] == "pass", name
    for name in tables:
        assert f"tables/{name}.parquet" in records and f"tables/{name}.csv" in records


def test_schema_describes_every_column(county):
    _, tables, release = county
    schema = json.loads(release.schema.read_text())["tables"]
    assert set(schema) == set(tables)
    for name, entry in schema.items():
        assert entry["description"] and entry["columns"]
        written = pd.read_parquet(release.directory / "tables" / f"{name}.parquet")
        assert [c["name"] for c in entry["columns"]] == list(written.columns)
        for column in entry["columns"]:
            assert column["meaning"], (name, column["name"])
    assert schema_for("km_time_to_care").columns["survival"]


def test_report_covers_every_released_kind(county):
    import lxml.html

    _, tables, release = county
    document = lxml.html.fromstring(release.report.read_text(encoding="utf-8"))
    for section in ("result-time_in_protection", "result-exits_from_care", "result-differential_impact",
                    "result-rmst_differences", "result-days_in_state", "result-monthly_referrals",
                    "result-covariate_balance", "result-hazard_ratios", "result-estimates_by_extract"):
        node = document.get_element_by_id(section)
        assert node.xpath(".//img"), section
    from evaluation.report import RESULT_SECTIONS

    released = set(tables)
    for section in RESULT_SECTIONS:
        node = document.xpath(f"//section[@id='result-{section.key}']")
        # every section whose table was released shows it; the simulated county has no CIN plans,
        # times to a plan or care, or re-referrals, and those sections say they were not produced
        if section.table in released:
            assert "Not produced" not in node[0].text_content(), section.key
        else:
            assert "Not produced" in node[0].text_content(), section.key
    assert "no_overlaps" in document.get_element_by_id("validation").text_content()
    assert {"cohort_flow", "km_time_in_protection", "differential_impact", "monthly_referrals"} <= set(release.figures)


def test_tiny_county_releases_mostly_suppressed_without_crashing(tiny):
    _, tables, release = tiny
    characteristics = pd.read_parquet(release.directory / "tables" / "cohort_characteristics.parquet")
    assert (characteristics["children"] == CONFIG.suppressed).mean() > 0.8
    hazard = pd.read_parquet(release.directory / "tables" / "differential_impact.parquet")
    assert hazard["estimate"].isna().mean() > 0.8
    assert release.report.is_file() and release.statuses["fail"] == 0


def test_model_tables_are_released_with_counts_and_notes(county):
    _, _, release = county
    tests = pd.read_parquet(release.directory / "tables" / "ph_tests.parquet")
    assert tests["n"].notna().all() and not tests["release_note"].str.startswith("counts not supplied").any()
    logrank = pd.read_parquet(release.directory / "tables" / "logrank.parquet")
    observed = logrank[logrank["term"] == "observed"]["estimate"].dropna()
    assert len(observed) and (observed % CONFIG.rounding_base == 0).all()
    effects = pd.read_parquet(release.directory / "tables" / "time_series_effects.parquet")
    segmented = effects[effects["analysis"] == "its_segmented"]
    assert effects["events"].isna().all() and (segmented["n"].dropna() == 72).all()   # months, as counted
    validation = pd.read_parquet(release.directory / "tables" / "validation_summary.parquet")
    assert validation["expectations_failed"].tolist() == [0, 1]


def test_a_cohort_hidden_in_the_flow_is_hidden_in_the_characteristics(county):
    from evaluation.report.assemble import cohort_characteristics

    data, _, _ = county
    table = cohort_characteristics(data["analysis"], CONFIG, hidden_cohorts=["transition"])
    hidden = table[table["cohort"].isin(["transition", "Total"])]
    assert (hidden["children"] == CONFIG.suppressed).all() and (hidden["percent"] == CONFIG.suppressed).all()
    shown = table[(table["cohort"] == "pre_fsp") & (table["level"] == "Total")]
    assert (shown["children"] != CONFIG.suppressed).all()


def test_outputs_readme_documents_every_table_and_column():
    from evaluation.report.assemble import TABLE_SCHEMAS

    readme = (Path(__file__).parents[1] / "outputs" / "README.md").read_text(encoding="utf-8")
    for name, schema in TABLE_SCHEMAS.items():
        assert f"## `{name}`" in readme, name
        section = readme.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for column in schema.columns:
            assert f"| `{column}` |" in section, (name, column)
    assert "## `km_<outcome>`" in readme and "cif_exit_from_care" in readme
