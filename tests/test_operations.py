"""Operating the pipeline as ``make run`` does: the two named jobs, re-runs, failures, councils in
parallel, and blocking checks.

A tiny two-LA synthetic county is run by ``python -m assets.run`` (the ``council`` job for each
local authority, then ``pooled_analysis``, through Dagster's multiprocess executor), in a process
of its own configured by environment variables only:

- once one council at a time, then again in the same home two councils at a time: the second
  run rewrites every table and stores exactly the same ones (idempotent, and parallel councils
  give what sequential ones give; the pooled estimates to 1e-9, see ``assert_same_tables``);
- a ``council`` run with a broken study setting fails at the spells after the door stored its
  tables, and Dagster's re-execution from failure (what the UI's "Re-execute from failure"
  does) completes it without reading the door again;
- a failing blocking spells check stops the cohorts in a run of the ``council`` job, the job the
  UI launches.
"""

from __future__ import annotations

import math
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from conftest import run_pipeline_process
from evaluation.synthetic import generate_county

TESTS = Path(__file__).parent
LAS = ("825", "931")


def _plant_unparseable_date(la_folder: Path) -> None:
    """Append one SSDA903 episode with an impossible date, so every LA has a quarantine row."""
    episodes = sorted(la_folder.glob("ssda903/*/episodes.csv"))[-1]
    lines = episodes.read_text().splitlines()
    fields = lines[-1].split(",")
    fields[1] = "31/02/2024"
    episodes.write_text("\n".join([*lines, ",".join(fields)]) + "\n")


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    root = generate_county(tmp_path_factory.mktemp("ops") / "input", seed=1,
                           local_authorities=2, scale=0.01, progress=False)
    for code in LAS:
        _plant_unparseable_date(root / code)
    return root


@pytest.fixture(scope="module")
def key():
    return secrets.token_hex(32)


def snapshot(database: Path) -> dict[str, tuple[list[str], list[tuple[str, ...]]]]:
    """Every table: its columns and its rows as exact value reprs, sorted (order-insensitive)."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        tables = con.execute("select table_schema, table_name from information_schema.tables "
                             "order by 1, 2").fetchall()
        out = {}
        for schema, table in tables:
            cursor = con.execute(f'select * from "{schema}"."{table}"')
            columns = [d[0] for d in cursor.description]
            rows = sorted(tuple(repr(v) for v in row) for row in cursor.fetchall())
            out[f"{schema}.{table}"] = (columns, rows)
        return out
    finally:
        con.close()


def _close(a: str, b: str) -> bool:
    """Two value reprs: equal, or both floats within 1e-9 relative."""
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _pairing_key(row: tuple[str, ...]) -> tuple[str, ...]:
    def coarse(value: str) -> str:
        try:
            return f"{float(value):.6g}" if "." in value or "e" in value else value
        except ValueError:
            return value
    return tuple(coarse(v) for v in row)


def assert_same_tables(one: dict, other: dict, rounding_schemas: tuple[str, ...] = ()) -> None:
    """Exactly the same tables; those of ``rounding_schemas`` to 1e-9 relative (see above)."""
    assert sorted(one) == sorted(other)
    for name in one:
        if name.split(".")[0] not in rounding_schemas:
            assert one[name] == other[name], name
            continue
        (columns, rows), (other_columns, other_rows) = one[name], other[name]
        assert columns == other_columns and len(rows) == len(other_rows), name
        for row, other_row in zip(sorted(rows, key=_pairing_key), sorted(other_rows, key=_pairing_key)):
            assert all(_close(a, b) for a, b in zip(row, other_row)), (name, row, other_row)


def _materialisations(home: Path) -> dict[tuple[str, str | None], int]:
    """Number of materialisations of each (asset, partition) in the instance at ``home``."""
    from assets.definitions import ALL_ASSETS

    counts = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for key in (key for assets_def in ALL_ASSETS for key in assets_def.keys):
            for record in instance.fetch_materializations(key, limit=10_000).records:
                at = (key.to_user_string(), record.partition_key)
                counts[at] = counts.get(at, 0) + 1
    return counts


def _runs(home: Path) -> list:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [(r.dagster_run, r.start_time, r.end_time) for r in instance.get_run_records()]


@pytest.fixture(scope="module")
def runs(county, key, tmp_path_factory):
    """The county run one council at a time, then again in the same home two at a time."""
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("out")
    first_code, first_lines = run_pipeline_process(county, home, out, key,
                                                   env={"FSP_PARALLEL_COUNCILS": "1"})
    assert first_code == 0, "\n".join(first_lines[-20:])
    first = snapshot(home / "evaluation.duckdb")
    first_events = _materialisations(home)
    first_runs = _runs(home)
    again_code, again_lines = run_pipeline_process(county, home, out, key,
                                                   env={"FSP_PARALLEL_COUNCILS": "2"})
    assert again_code == 0, "\n".join(again_lines[-20:])
    return dict(home=home, first=first, first_events=first_events, first_runs=first_runs,
                lines=first_lines, again=snapshot(home / "evaluation.duckdb"),
                again_events=_materialisations(home), all_runs=_runs(home))


def test_every_stage_stores_tables(runs):
    tables = runs["first"]
    schemas = {name.split(".")[0] for name, (_, rows) in tables.items() if rows}
    assert {"pseudonymised", "spells", "cohorts", "analysis"} <= schemas
    for name in ("pseudonymised.children", "spells.need_spells", "cohorts.index_episodes",
                 "cohorts.analysis_dataset"):
        columns, rows = tables[name]
        codes = {row[columns.index("la_code")] for row in rows}
        assert codes == {repr(code) for code in LAS}, name


def test_make_run_runs_the_two_named_jobs(runs):
    """One ``council`` run per local authority, then one ``pooled_analysis`` run, all tagged with
    the process that ran them; progress is printed per council."""
    jobs = sorted((run.job_name, run.tags.get("dagster/partition")) for run, *_ in runs["first_runs"])
    assert jobs == sorted([("council", code) for code in LAS] + [("pooled_analysis", None)])
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run, *_ in runs["first_runs"])
    assert all({"fsp/pid", "fsp/host"} <= set(run.tags) for run, *_ in runs["first_runs"])
    text = "\n".join(runs["lines"])
    for code in LAS:
        assert f"council {code} done" in text
    assert "pooled analysis done" in text and "Traceback" not in text


def test_running_again_rewrites_every_table_identically(runs):
    first, again = runs["first_events"], runs["again_events"]
    assert set(first) == set(again) and all(again[at] == 2 * first[at] for at in first)
    per_council = {n: c for n, c in runs["again"].items() if not n.startswith("analysis.")}
    assert per_council == {n: c for n, c in runs["first"].items() if not n.startswith("analysis.")}
    assert_same_tables({n: c for n, c in runs["again"].items() if n.startswith("analysis.")},
                       {n: c for n, c in runs["first"].items() if n.startswith("analysis.")},
                       rounding_schemas=("analysis",))


def test_two_councils_at_a_time_run_side_by_side(runs):
    first = {run.run_id for run, *_ in runs["first_runs"]}
    spans = [(start, end) for run, start, end in runs["all_runs"]
             if run.job_name == "council" and run.run_id not in first]
    assert len(spans) == 2
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start < b_end and b_start < a_end, "the two councils' runs should overlap in time"


def test_same_key_and_input_give_same_pseudonyms(runs, county, key):
    from evaluation.ingest import ingest_local_authority
    from evaluation.pseudonymise import load_key

    columns, rows = runs["first"]["pseudonymised.children"]
    stored = {row[columns.index("child_id")] for row in rows
              if row[columns.index("la_code")] == repr("931")}
    again = ingest_local_authority(county / "931", load_key(key))["children"]["child_id"]
    assert {repr(v) for v in again} == stored and len(stored) > 100


def test_another_key_gives_other_pseudonyms(county):
    from evaluation.ingest import ingest_local_authority
    from evaluation.pseudonymise import load_key

    one, two = (load_key(secrets.token_hex(32)) for _ in range(2))
    ids = [set(ingest_local_authority(county / "931", key)["children"]["child_id"]) for key in (one, two)]
    assert len(ids[0]) == len(ids[1]) > 100 and not ids[0] & ids[1]


#: Run in a process of its own: a council run that fails, then Dagster's re-execution from failure.
RESUME = textwrap.dedent("""
    import json, sys
    import dagster as dg
    from assets.definitions import council_job
    from assets.partitions import register_local_authorities

    broken = {"resources": {"study": {"config": {"go_live": "not-a-date"}}}}
    with dg.DagsterInstance.get() as instance:
        register_local_authorities(instance, ["931"])
        tags = {"dagster/partition": "931"}
        job = dg.reconstructable(council_job)
        failed = dg.execute_job(job, instance=instance, tags=tags, run_config=broken,
                                raise_on_error=False)
        steps = lambda result: sorted({e.step_key for e in result.all_events if e.is_step_success})
        stored_after_failure = sorted(
            "/".join(k.path) for k in instance.get_asset_keys()
            if instance.get_latest_materialization_event(k) is not None)
        # Re-execution takes the parent's settings unless given others: the corrected ones here,
        # as an analyst edits them in the launchpad before "Re-execute from failure".
        from evaluation.study import StudyConfig
        fixed = {"resources": {"study": {"config": {"go_live": StudyConfig().go_live.isoformat()}}}}
        resumed = dg.execute_job(job, instance=instance, tags=tags, raise_on_error=False,
            run_config=fixed,
            reexecution_options=dg.ReexecutionOptions.from_failure(failed.run_id, instance))
        errors = lambda result: [f"{e.step_key}: {e.step_failure_data.error.message[:300]}"
                                 + "".join(f" <- {c.message[:500]}" for c in
                                           [e.step_failure_data.error.cause] if c is not None)
                                 for e in result.all_events if e.is_step_failure]
        print(json.dumps({"failed": failed.success, "failed_steps": steps(failed),
                          "errors": errors(failed), "resumed_errors": errors(resumed),
                          "stored_after_failure": stored_after_failure,
                          "resumed": resumed.success, "resumed_steps": steps(resumed),
                          "parent": resumed.dagster_run.parent_run_id == failed.run_id}))
""")


def test_a_failed_council_run_resumes_from_its_failure(county, key, tmp_path):
    import json

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FSP_", "DAGSTER_HOME"))}
    env.update(DAGSTER_HOME=str(home), FSP_INPUT_DIR=str(county), FSP_OUTPUT_DIR=str(tmp_path / "out"),
               FSP_PSEUDONYMISATION_KEY=key)
    (home / "dagster.yaml").write_text((TESTS.parent / "assets" / "instance" / "dagster.yaml").read_text())
    done = subprocess.run([sys.executable, "-c", RESUME], cwd=TESTS.parent, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert not outcome["failed"] and "not-a-date" in "\n".join(outcome["errors"])
    assert outcome["resumed"] and outcome["parent"], outcome["resumed_errors"]
    assert "ingest_and_pseudonymise" in outcome["failed_steps"]
    assert not any(step.startswith(("spells__", "cohorts__")) for step in outcome["failed_steps"])
    assert {k.split("/")[0] for k in outcome["stored_after_failure"]} == {"pseudonymised"}
    assert "ingest_and_pseudonymise" not in outcome["resumed_steps"]   # the door was not read again
    assert {"spells__need_spells", "cohorts__analysis_dataset"} <= set(outcome["resumed_steps"])


def test_a_failing_blocking_spells_check_stops_the_cohorts(county, key, tmp_path, monkeypatch):
    """The ``council`` job as the UI launches it (its selection and checks; in process here): a
    blocking check of ``need_spells`` that fails stops everything built on the spells."""
    from assets.definitions import ALL_ASSETS, ALL_CHECKS, JOBS, build_resources
    from evaluation.validation import suites

    monkeypatch.setenv("FSP_PSEUDONYMISATION_KEY", key)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FSP_OUTPUT_DIR", str(tmp_path / "out"))
    real = suites.spells_suite

    def failing(frame, care=False):
        derived, expectations = real(frame, care=care)
        if not care:   # need spells: no spell may be censored (false in any real county)
            expectations = [*expectations, suites.E.ExpectColumnValuesToBeInSet(
                column="censored", value_set=[False])]
        return derived, expectations

    monkeypatch.setattr(suites, "spells_suite", failing)
    defs = dg.Definitions(assets=ALL_ASSETS, asset_checks=ALL_CHECKS, jobs=JOBS,
                          resources=build_resources(database=str(tmp_path / "db.duckdb"),
                                                    input_dir=str(county),
                                                    output_dir=str(tmp_path / "out")))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("local_authority", ["931"])
        result = defs.resolve_job_def("council").execute_in_process(
            partition_key="931", instance=instance, raise_on_error=False)
    assert not result.success
    (check,) = [e for e in result.get_asset_check_evaluations()
                if e.asset_key == dg.AssetKey(["spells", "need_spells"]) and e.check_name == "spells"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "spells/need_spells" in built and "pseudonymised/children" in built
    on_spells = {"cohorts/analysis_dataset", "cohorts/state_intervals", "cohorts/monthly_counts"}
    assert not on_spells & built, built
    assert "cohorts/index_episodes" in built   # built on the door alone: not stopped
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "spells__need_spells" in started
    assert not {"cohorts__analysis_dataset", "cohorts__state_intervals",
                "cohorts__monthly_counts"} & started   # never started


def test_table_from_an_earlier_version_is_refused_with_what_to_do(tmp_path):
    import duckdb

    from assets.storage import io_manager_from_env

    database = tmp_path / "old.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema cohorts")
        connection.execute("create table cohorts.analysis_dataset (la_code varchar, entry double)")

    import pandas as pd

    @dg.asset(key_prefix=["cohorts"], name="analysis_dataset")
    def analysis_dataset():
        return pd.DataFrame({"la_code": ["931"], "entry": [0.0], "route_entry": [0.0]})

    result = dg.materialize([analysis_dataset], resources={"io_manager": io_manager_from_env(
        database=str(database))}, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message + "".join(
        c.message for c in [failure.step_failure_data.error.cause] if c is not None)
    assert "another version of the pipeline" in message and "route_entry" in message
