"""The whole pipeline on a small synthetic county, and the canary: no raw identifier survives it.

Raw ids, UPNs, postcodes and full dates of birth read from the input files must appear nowhere
after the run: not in any DuckDB table, not in Dagster's run and event storage, compute logs or
asset metadata, not in validation results or Data Docs, not in released outputs.
"""

from __future__ import annotations

import duckdb
import pytest

from evaluation.tables import PSEUDONYM_PATTERN
from conftest import CANARY_CHILD


def test_pipeline_succeeds(pipeline_run):
    assert pipeline_run.exit_code == 0, "\n".join(pipeline_run.messages)


def _string_values(database):
    con = duckdb.connect(str(database), read_only=True)
    try:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR'").fetchall()
        for schema, table, column in columns:
            values = con.execute(f'select distinct "{column}" from "{schema}"."{table}"').fetchall()
            yield f"{schema}.{table}.{column}", {v[0] for v in values if v[0] is not None}
    finally:
        con.close()


def test_no_raw_identifier_in_any_duckdb_table(pipeline_run):
    raw = (pipeline_run.raw_child_ids | pipeline_run.raw_upns | pipeline_run.raw_postcodes
           | pipeline_run.raw_birth_dates)
    assert CANARY_CHILD in raw and len(pipeline_run.raw_upns) > 10
    scanned = 0
    for where, values in _string_values(pipeline_run.database):
        scanned += 1
        leaked = values & raw
        assert not leaked, f"{len(leaked)} raw values in {where}"
        if where.endswith("_id"):
            assert all(__import__("re").match(PSEUDONYM_PATTERN, v) for v in values), where
    assert scanned > 20


def test_no_raw_identifier_in_any_stored_file(pipeline_run):
    """Byte-level search of everything the run left: DAGSTER_HOME (DuckDB, run/event storage,
    compute logs, GX results) and the outputs folder (Data Docs and released files)."""
    needles = [v.encode() for v in (pipeline_run.raw_upns | {CANARY_CHILD}
                                    | pipeline_run.raw_birth_dates)]
    needles += [p.encode() for p in pipeline_run.raw_postcodes if len(p) >= 5]
    files = [p for root in (pipeline_run.home, pipeline_run.output_dir) if root.exists()
             for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "Dagster's event storage is searched"
    for path in files:
        blob = path.read_bytes()
        hits = [n for n in needles if n in blob]
        assert not hits, f"{len(hits)} raw values found in {path.relative_to(path.parents[1])}"
    assert CANARY_CHILD not in "\n".join(pipeline_run.messages)
