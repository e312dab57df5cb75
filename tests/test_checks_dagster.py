"""Asset checks in Dagster: blocking checks stop downstream assets; nothing identifying leaks
into check metadata or the Data Docs."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from assets.partitions import local_authorities
from checks import ALL_CHECKS
from checks.pseudonymised import PSEUDONYMISED_CHECKS
from checks.resources import ValidationResource
from evaluation.validation import build_data_docs
from validation_fixtures import valid_tables

CANARIES = ("CANARY0001ZZ", "A123456789012", "OX4 2AB", "2011-07-23", "23/07/2011")


def _assets(tables: dict[str, pd.DataFrame]):
    def make(name, frame):
        @dg.asset(key_prefix=["pseudonymised"], name=name, group_name="pseudonymised",
                  partitions_def=local_authorities)
        def _table():
            return frame
        return _table
    return [make(name, frame) for name, frame in tables.items()]


@dg.asset(deps=[dg.AssetKey(["pseudonymised", "children"])], group_name="spells",
          partitions_def=local_authorities)
def downstream_of_children():
    return 1


def _checks_on(*tables: str):
    return [c for c in PSEUDONYMISED_CHECKS
            if any(k.asset_key.path[-1] in tables for k in c.check_keys)]


def _run(tables, checks, tmp_path, extra_assets=()):
    validation = ValidationResource(project_dir=str(tmp_path / "gx"), docs_dir=str(tmp_path / "docs"))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(local_authorities.name, ["931"])
    return dg.materialize([*_assets(tables), *extra_assets, *checks], partition_key="931",
                          instance=instance, resources={"validation": validation},
                          raise_on_error=False)


def _canary_tables():
    tables = valid_tables()
    children = tables["children"].copy()
    for column in ("child_id", "ethnicity", "sex"):
        children[column] = children[column].astype(object)
    children.loc[0, "child_id"] = CANARIES[0]
    children.loc[0, "ethnicity"] = CANARIES[1]
    children.loc[1, "ethnicity"] = CANARIES[2]
    children.loc[1, "sex"] = CANARIES[3]
    children.loc[0, "birth_month"] = pd.Timestamp(CANARIES[3])
    tables["children"] = children
    return tables


def test_every_check_passes_on_valid_tables(tmp_path):
    result = _run(valid_tables(), _checks_on(*valid_tables()), tmp_path)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)


@pytest.fixture(scope="module")
def canary_run(tmp_path_factory):
    """The canary tables' checks on children and families, with an asset downstream of children:
    one run read by the two tests below (its result, GX project and Data Docs folders)."""
    folder = tmp_path_factory.mktemp("canary_run")
    return _run(_canary_tables(), _checks_on("children", "families"), folder,
                extra_assets=[downstream_of_children]), folder


def test_failing_blocking_check_stops_downstream(canary_run):
    result, _ = canary_run
    assert not result.success
    failed = {(e.asset_key.path[-1], e.check_name) for e in result.get_asset_check_evaluations()
              if not e.passed}
    assert ("children", "pseudonyms") in failed
    materialised = {e.asset_key.path[-1] for e in result.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert "children" in materialised
    assert "downstream_of_children" not in materialised


def test_no_identifying_value_in_metadata_or_data_docs(canary_run):
    result, tmp_path = canary_run
    build_data_docs(ValidationResource(project_dir=str(tmp_path / "gx"),
                                       docs_dir=str(tmp_path / "docs")).context())
    metadata_text = repr([e.metadata for e in result.get_asset_check_evaluations()])
    docs = list((tmp_path / "docs").rglob("*"))
    assert any(p.suffix == ".html" for p in docs), "Data Docs were built"
    blobs = [p.read_bytes() for p in [*docs, *(tmp_path / "gx").rglob("*")] if p.is_file()]
    for canary in CANARIES:
        assert canary not in metadata_text
        assert not any(canary.encode() in blob for blob in blobs), canary


def test_checks_target_the_documented_assets():
    keys = {tuple(k.asset_key.path) for c in ALL_CHECKS for k in c.check_keys}
    assert ("pseudonymised", "reconciliation") in keys
    assert ("spells", "care_periods") in keys
    assert ("cohorts", "analysis_dataset") in keys


# --- check steps read their inputs through read-only DuckDB connections (#20) ------------------

def test_inputs_are_read_through_a_read_only_connection_and_outputs_written_read_write(tmp_path):
    import duckdb

    from assets.storage import _duckdb_client

    database = str(tmp_path / "x.duckdb")
    duckdb.connect(database).execute("create table t as select 1 as a").close()
    config = {"database": database, "connection_config": {}}
    client = _duckdb_client()
    with client.connect(dg.build_input_context(resource_config=config), None) as connection:
        assert connection.execute("select a from t").fetchall() == [(1,)]
        with pytest.raises(duckdb.Error, match="read-only"):
            connection.execute("insert into t values (2)")
    with client.connect(dg.build_output_context(resource_config=config), None) as connection:
        connection.execute("insert into t values (2)")
    # this process already holds the file read-write, as Dagster's client opens it (DuckDB allows
    # one configuration of a file per process)
    held = duckdb.connect(database, config={"custom_user_agent": "dagster"})
    with client.connect(dg.build_input_context(resource_config=config), None) as connection:
        assert connection.execute("select count(*) from t").fetchall() == [(2,)]
    held.close()
    # a database not created yet is opened read-write, as before
    fresh = {"database": str(tmp_path / "new.duckdb"), "connection_config": {}}
    with client.connect(dg.build_input_context(resource_config=fresh), None) as connection:
        connection.execute("select 1").fetchall()


def test_an_input_is_read_while_another_process_reads_the_database(tmp_path, monkeypatch):
    """Two check steps used to wait for each other's read-write lock (0.1 s, 0.2 s, 0.4 s...):
    a read-only reader in another process no longer holds up a step's input, only a write."""
    import subprocess
    import sys

    import duckdb

    import assets.storage as storage

    monkeypatch.setattr(storage, "LOCK_RETRIES", 1)
    database = str(tmp_path / "x.duckdb")
    duckdb.connect(database).execute("create table t as select 1 as a").close()
    config = {"database": database, "connection_config": {}}
    reader = subprocess.Popen([sys.executable, "-c", "import duckdb, time; "
                               f"c = duckdb.connect({database!r}, read_only=True); "
                               "print('open', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        client = storage._duckdb_client()
        with client.connect(dg.build_input_context(resource_config=config), None) as connection:
            assert connection.execute("select a from t").fetchall() == [(1,)]
        with pytest.raises(duckdb.IOException):  # as every input was opened before
            with client.connect(dg.build_output_context(resource_config=config), None):
                pass
    finally:
        reader.kill()
        reader.wait()
        reader.stdout.close()


def test_a_steps_inputs_share_one_connection_closed_before_it_computes(tmp_path, monkeypatch):
    """Each connection attaches the file and reads its catalog: a step's three inputs
    are loaded through one read-only connection, closed after the last load, so the step computes
    (and another process writes) with nothing held; a failed load closes it too."""
    import subprocess
    import sys

    import duckdb
    import pandas as pd

    import assets.storage as storage

    opened, lease = [], storage._KEPT_INSTANCES.lease
    monkeypatch.setattr(storage._KEPT_INSTANCES, "lease", lambda database, read_only, config:
                        opened.append(read_only) or lease(database, read_only, config))
    database = str(tmp_path / "x.duckdb")
    made = [dg.asset(key_prefix=["s"], name=name)(lambda: pd.DataFrame({"a": [1, 2]}))
            for name in ("one", "two", "three")]

    @dg.asset(key_prefix=["s"], ins={n: dg.AssetIn(key=["s", n]) for n in ("one", "two", "three")})
    def total(one: pd.DataFrame, two: pd.DataFrame, three: pd.DataFrame) -> pd.DataFrame:
        assert storage._STEP_INPUTS.connection is None   # nothing held while the step computes
        writer = subprocess.run([sys.executable, "-c", "import duckdb; "
                                 f"duckdb.connect({database!r}).execute('create table w as select 1').close()"],
                                capture_output=True, text=True, timeout=60)
        assert writer.returncode == 0, writer.stderr[-500:]
        return pd.DataFrame({"a": [len(one) + len(two) + len(three)]})

    io = {"io_manager": storage.io_manager_from_env(database=database)}
    assert dg.materialize(made, resources=io).success
    opened.clear()
    result = dg.materialize([*made, total], selection=[total], resources=io)
    assert result.success and result.output_for_node("s__total")["a"].tolist() == [6]
    assert opened == [True, False], opened   # one read-only for the three inputs, one read-write
    assert storage._STEP_INPUTS.connection is None

    with duckdb.connect(database) as connection:
        connection.execute("drop table s.two")
    opened.clear()
    failed = dg.materialize([*made, total], selection=[total], resources=io, raise_on_error=False)
    assert not failed.success and storage._STEP_INPUTS.connection is None
    assert opened == [True], opened


def test_checks_on_tables_stored_in_duckdb_give_the_same_outcomes(tmp_path):
    from assets.storage import io_manager_from_env

    tables = {name: frame for name, frame in valid_tables().items()
              if name in ("cp_plans", "cin_episodes", "children", "extracts")}
    checks = _checks_on("cp_plans", "cin_episodes")

    def stored(name, frame):
        @dg.asset(key_prefix=["pseudonymised"], name=name, group_name="pseudonymised",
                  partitions_def=local_authorities, metadata={"partition_expr": "la_code"})
        def _table():
            return frame
        return _table

    validation = ValidationResource(project_dir=str(tmp_path / "gx"), docs_dir=str(tmp_path / "docs"))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(local_authorities.name, ["931"])
    result = dg.materialize([*(stored(n, f) for n, f in tables.items()), *checks], partition_key="931",
                            instance=instance, raise_on_error=False,
                            resources={"validation": validation,
                                       "io_manager": io_manager_from_env(database=str(tmp_path / "e.duckdb"))})
    pickled = _run(tables, checks, tmp_path / "pickled")

    def outcomes(run):
        return sorted((e.asset_key.path[-1], e.check_name, e.passed, e.metadata["expectations"].value,
                       e.metadata["expectations_failed"].value) for e in run.get_asset_check_evaluations())

    assert result.success and outcomes(result) == outcomes(pickled) and len(outcomes(result)) >= 10


def test_comparison_checks_rebuild_the_docs_index_once_per_table(tmp_path, monkeypatch):
    """The comparison group's checks (one GX suite per concern) rebuild the docs index once per
    table, after its last page, as a council's checks do: the index lists every page."""
    import json

    from checks.comparison import COMPARISON_CHECKS
    from evaluation.comparison.adopters import adopters
    from evaluation.comparison.panel import read_panel
    from evaluation.validation import docs

    rebuilt = []
    write_index = docs.write_index
    monkeypatch.setattr(docs, "write_index", lambda folder: rebuilt.append(folder) or write_index(folder))

    @dg.asset(key=["comparison", "la_panel"])
    def la_panel():
        return read_panel()

    @dg.asset(key=["comparison", "adopters"])
    def adopters_table():
        return adopters()

    validation = ValidationResource(project_dir=str(tmp_path / "gx"), docs_dir=str(tmp_path / "docs"))
    result = dg.materialize([la_panel, adopters_table, *COMPARISON_CHECKS], resources={"validation": validation},
                            instance=dg.DagsterInstance.ephemeral())
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 5 and all(e.passed for e in evaluations)
    assert len(rebuilt) == 2
    pages = {json.loads(p.read_text())["suite"] for p in (tmp_path / "docs" / docs.RUNS).glob("*/*.json")}
    assert len(pages) == 5
    index = (tmp_path / "docs" / docs.INDEX).read_text()
    assert all(f"{suite.replace('__', '/')}" in index for suite in pages)
