"""The whole pipeline on a small synthetic county, and the canary: no raw identifier survives it.

Raw ids, UPNs, postcodes and full dates of birth read from the input files must appear nowhere
after the run: not in any DuckDB table, not in Dagster's run and event storage, compute logs or
asset metadata, not in validation results or Data Docs, not in released outputs.
"""

from __future__ import annotations

from pathlib import Path

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


def _files_holding_any(needles: list[bytes], files: list, folder) -> list:
    """The files holding any of the byte strings: GNU grep's fixed-string search (one pass over
    each file for all the values), where a Python scan took half a minute; Python where there is
    no grep."""
    import shutil
    import subprocess

    if shutil.which("grep") is None:
        return [p for p in files if any(n in p.read_bytes() for n in needles)]
    listed = folder / "needles"
    listed.write_bytes(b"\n".join(needles) + b"\n")
    found = subprocess.run(["grep", "--binary-files=text", "-F", "-l", "-f", str(listed), "--",
                            *map(str, files)], capture_output=True, env={"LC_ALL": "C"})
    assert found.returncode in (0, 1), found.stderr
    return [Path(line) for line in found.stdout.decode().splitlines()]


def test_no_raw_identifier_in_any_stored_file(pipeline_run, tmp_path):
    """Byte-level search of everything the run left: DAGSTER_HOME (DuckDB, run/event storage,
    compute logs, GX results) and the outputs folder (Data Docs and released files)."""
    needles = [v.encode() for v in (pipeline_run.raw_upns | {CANARY_CHILD}
                                    | pipeline_run.raw_birth_dates)]
    needles += [p.encode() for p in pipeline_run.raw_postcodes if len(p) >= 5]
    files = [p for root in (pipeline_run.home, pipeline_run.output_dir) if root.exists()
             for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "Dagster's event storage is searched"
    # The search finds what it looks for: every raw value is in the input files.
    inputs = [p for p in pipeline_run.input_dir.rglob("*") if p.suffix in (".xml", ".csv")]
    assert len(_files_holding_any([CANARY_CHILD.encode()], inputs, tmp_path)) >= 2
    for path in _files_holding_any(needles, files, tmp_path):
        hits = [n for n in needles if n in path.read_bytes()]
        assert not hits, f"{len(hits)} raw values found in {path.relative_to(path.parents[1])}"
    assert CANARY_CHILD not in "\n".join(pipeline_run.messages)


# --- issue #13: safe with real data ---------------------------------------------------------------

def test_make_run_leaves_every_input_byte_and_the_listing_unchanged(pipeline_run):
    """`make run` on a council's folder (FSP_INPUT_DIR set, a real key) writes nothing there:
    no synthetic county generated into it, no marker planted, no file touched."""
    assert pipeline_run.exit_code == 0, "\n".join(pipeline_run.messages[-30:])
    assert pipeline_run.inputs_before and pipeline_run.inputs_after == pipeline_run.inputs_before
    assert not any("synthetic county written" in m for m in pipeline_run.messages)
    assert any("report:" in m for m in pipeline_run.messages)


def test_stores_are_owner_only(pipeline_run):
    """The instance folder, its run storage and the DuckDB file of pseudonymised tables are
    created owner-only (0700 / 0600), whatever the user's umask."""
    import stat

    assert stat.S_IMODE(pipeline_run.home.stat().st_mode) == 0o700
    for path in [pipeline_run.database, *pipeline_run.home.rglob("*.db")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


def test_release_says_whether_the_demo_key_was_used(pipeline_run):
    """A real key: no demo notice in the report or the output checker's log, and no staging
    folder left behind by the release."""
    import json

    report = (pipeline_run.output_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="demo-key"' not in report
    session = json.loads((pipeline_run.output_dir / "results.json").read_text(encoding="utf-8"))
    assert "session_notes" not in session
    assert not list(pipeline_run.output_dir.glob(".release-partial-*"))


def test_door_records_every_file_of_the_folder(pipeline_run):
    """The reconciliation lists every input file of the council with its status."""
    con = duckdb.connect(str(pipeline_run.database), read_only=True)
    try:
        rows = con.execute('select source_file, status from pseudonymised.reconciliation').fetchall()
    finally:
        con.close()
    listed = {f for f, _ in rows}
    for la_folder in (p for p in pipeline_run.input_dir.iterdir() if p.is_dir()):
        files = {p.relative_to(la_folder).as_posix() for p in la_folder.rglob("*") if p.is_file()}
        assert files <= listed, files - listed
    assert dict(rows)["SYNTHETIC_COUNTY.json"] == "ignored"
