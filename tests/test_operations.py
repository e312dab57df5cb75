"""Operating the pipeline as ``make run`` does: the named jobs, re-runs, failures, councils in
parallel, and blocking checks.

The session's shared two-LA county run by ``make run`` (``pipeline_run`` in conftest.py: the
``council`` job for each local authority, by default one council run per core at once, each
executing its steps one after another in its own process where that leaves one step per run,
then ``pooled_analysis`` through Dagster's multiprocess executor) is run again by
``python -m assets.run`` in a copy of its instance, in a process of its own configured by
environment variables only:

- again: the second run rewrites every table and stores exactly the same ones (idempotent; the
  pooled estimates to 1e-9, see ``assert_same_tables``), and, releasing into (a copy of) the same
  outputs folder, adds no extract to the history of estimates.

Failures and their recovery are in ``test_operations_failures.py``, where the council runs take
the executor's default as a run launched from the UI does (a process per step).
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from conftest import run_pipeline_process

LAS = ("825", "931")


@pytest.fixture(scope="module")
def county(pipeline_run):
    """The session run's input folders (two councils, each with a quarantined row): read only."""
    return pipeline_run.input_dir


@pytest.fixture(scope="module")
def key(pipeline_run):
    return pipeline_run.key


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
def runs(pipeline_run, tmp_path_factory):
    """The session's run, then again in a copy of its home, releasing into a copy of its outputs
    folder (as the README's re-run does: the same instance and output folder)."""
    assert pipeline_run.exit_code == 0, "\n".join(pipeline_run.messages[-20:])
    first = snapshot(pipeline_run.database)
    first_events = _materialisations(pipeline_run.home)
    first_runs = _runs(pipeline_run.home)
    home = tmp_path_factory.mktemp("again") / "home"
    shutil.copytree(pipeline_run.home, home)
    out = tmp_path_factory.mktemp("again_out") / "outputs"
    shutil.copytree(pipeline_run.output_dir, out)
    again_code, again_lines = run_pipeline_process(pipeline_run.input_dir, home, out,
                                                   pipeline_run.key)
    assert again_code == 0, "\n".join(again_lines[-20:])
    return dict(home=home, out=out, first=first, first_events=first_events, first_runs=first_runs,
                lines=pipeline_run.messages, again_lines=again_lines,
                again=snapshot(home / "evaluation.duckdb"),
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


def test_make_run_runs_the_named_jobs(runs):
    """One ``council`` run per local authority and one ``comparison_areas`` run beside them, then
    one ``pooled_analysis`` run of the rest, all tagged with the process that ran them; progress
    is printed per council."""
    jobs = sorted((run.job_name, run.tags.get("dagster/partition")) for run, *_ in runs["first_runs"])
    assert jobs == sorted([("council", code) for code in LAS] + [("comparison_areas", None),
                                                                  ("pooled_analysis", None)])
    spans = {run.job_name: (start, end) for run, start, end in runs["first_runs"]}
    assert spans["comparison_areas"][0] < max(end for run, _, end in runs["first_runs"]
                                              if run.job_name == "council"), "beside the councils"
    assert spans["pooled_analysis"][0] >= spans["comparison_areas"][1]
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


def test_releasing_the_same_extract_again_adds_no_extract(runs, pipeline_run):
    """The re-run releases the extract the session's run released, into the same outputs folder
    and instance: the history of estimates (read back from both the released table and the
    instance's records of the first release) holds that extract once, its rows as they were (to
    1e-9, as the pooled estimates), and the release records one extract so far. (An older
    extract's release added to the history is ``test_estimates_by_extract``'s.)"""
    import pandas as pd

    from assets.release import RELEASED_HISTORY

    first = pd.read_parquet(pipeline_run.output_dir / RELEASED_HISTORY)
    again = pd.read_parquet(runs["out"] / RELEASED_HISTORY)
    assert len(first) > 0 and first["extract_date"].nunique() == 1
    pd.testing.assert_frame_equal(again, first, check_exact=False, rtol=1e-9, atol=1e-12)
    key = dg.AssetKey(["release", "released_outputs"])
    with dg.DagsterInstance.from_config(str(runs["home"])) as instance:
        records = instance.fetch_materializations(key, limit=10).records
    assert len(records) == 2      # the session's release and the re-run's
    for record in records:
        metadata = record.asset_materialization.metadata
        assert metadata["extracts_so_far"].value == 1
        assert metadata["extract_date"].value == first["extract_date"].iloc[0]


def _step_processes(home: Path, run_id: str) -> int:
    """Steps of a run started in processes of their own (Dagster's multiprocess executor)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return len(instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED))


def test_councils_run_side_by_side_one_per_core(runs, pipeline_run):
    """By default one council run per core at once; sharing the cores, each runs its steps one
    after another in its own process (no process per step), the comparison run too."""
    cores = os.cpu_count() or 1
    at_once, steps = min(cores, len(LAS)), max(1, cores // min(cores, len(LAS)))
    text = "\n".join(runs["lines"])
    assert f"{len(LAS)} local authorities, {at_once} at a time" in text
    councils = [(run, start, end) for run, start, end in runs["first_runs"] if run.job_name == "council"]
    assert {run.run_config["execution"]["config"]["max_concurrent"] for run, *_ in councils} == {steps}
    if at_once > 1:
        (_, a_start, a_end), (_, b_start, b_end) = councils
        assert a_start < b_end and b_start < a_end, "the two councils' runs should overlap in time"
    if steps == 1:
        assert "the steps of each one after another" in text
        assert all(_step_processes(pipeline_run.home, run.run_id) == 0 for run, *_ in councils)
    (comparison,) = [run for run, *_ in runs["first_runs"] if run.job_name == "comparison_areas"]
    assert comparison.run_config["execution"]["config"]["max_concurrent"] == 1
    assert _step_processes(pipeline_run.home, comparison.run_id) == 0
    (pooled,) = [run for run, *_ in runs["first_runs"] if run.job_name == "pooled_analysis"]
    if cores > 1:   # the executor's default: a process per step, one per core at once
        assert _step_processes(pipeline_run.home, pooled.run_id) > 0


@pytest.fixture(scope="module")
def children_931(county, key):
    """Council 931's children as the door reads them again with the session run's key."""
    from evaluation.ingest import ingest_local_authority
    from evaluation.pseudonymise import load_key

    return ingest_local_authority(county / "931", load_key(key))["children"]


def test_same_key_and_input_give_same_pseudonyms(runs, children_931):
    columns, rows = runs["first"]["pseudonymised.children"]
    stored = {row[columns.index("child_id")] for row in rows
              if row[columns.index("la_code")] == repr("931")}
    assert {repr(v) for v in children_931["child_id"]} == stored and len(stored) > 100


def test_another_key_gives_other_pseudonyms(county, children_931):
    """The same input read with a new key (beside the run's, read above): no pseudonym shared."""
    from evaluation.ingest import ingest_local_authority
    from evaluation.pseudonymise import load_key

    other = ingest_local_authority(county / "931", load_key(secrets.token_hex(32)))["children"]
    ids = [set(children_931["child_id"]), set(other["child_id"])]
    assert len(ids[0]) == len(ids[1]) > 100 and not ids[0] & ids[1]


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
