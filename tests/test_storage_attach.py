"""The DuckDB IO manager's connections are cursors of one in-memory DuckDB instance kept by the
process, with the database file ATTACHed while a connection is held (assets/storage.py,
``_KeptInstances``), not a new DuckDB instance (35-45 ms of CPU) for each ``duckdb.connect``.

The tables written and the frames read are those of the old path (a ``duckdb.connect`` per
connection); the file is locked exactly while a connection is held, so another process can open
it read-write at once after; read-only connections of two processes share the file; a forked child
makes its own instance; a file another process holds is retried until it is free."""

import os
import subprocess
import sys
import time

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

import assets.storage as storage
from assets.storage import _duckdb_client, io_manager_from_env

#: Columns of the types the pipeline's tables hold, with and without missing values.
FRAME = pd.DataFrame({
    "la_code": ["931", "931", "931"],
    "child_id": ["a" * 64, None, "c"],
    "age": np.array([1, 2, 3], dtype="int64"),
    "small": np.array([1, 2, 3], dtype="int16"),
    "weight": [0.5, np.nan, 1 / 3],
    "flag": [True, False, True],
    "flag_missing": pd.array([True, None, False], dtype="boolean"),
    "count_missing": pd.array([1, None, 3], dtype="Int64"),
    "start": pd.to_datetime(["2020-01-01", None, "2021-06-30 12:00"], format="ISO8601"),
    "day": [pd.Timestamp("2020-01-01").date(), None, pd.Timestamp("2022-02-02").date()],
})


def _config(database, **connection_config):
    return {"database": str(database), "connection_config": connection_config}


def _in_another_process(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


def _writes(database) -> str:
    """Code that opens ``database`` read-write in another process, writes and says so."""
    return (f"import duckdb; c = duckdb.connect({str(database)!r}); "
            "c.execute('create or replace table other_process as select 1 as a'); c.close(); print('wrote')")


def _connects(monkeypatch) -> list:
    """The ``duckdb.connect`` calls made from now on, as (database, read_only)."""
    opened, real = [], duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: opened.append(
        (k.get("database", a[0] if a else None), k.get("read_only"))) or real(*a, **k))
    return opened


def _assets():
    @dg.asset(key_prefix=["s"], partitions_def=dg.StaticPartitionsDefinition(["931"]),
              metadata={"partition_expr": "la_code"})
    def stored() -> pd.DataFrame:
        return FRAME

    @dg.asset(key_prefix=["s"])
    def empty() -> pd.DataFrame:
        return FRAME.iloc[:0]

    @dg.asset(key_prefix=["s"], partitions_def=dg.StaticPartitionsDefinition(["931"]),
              metadata={"partition_expr": "la_code"}, ins={"stored": dg.AssetIn(key=["s", "stored"]), "empty": dg.AssetIn(key=["s", "empty"])})
    def loaded(stored: pd.DataFrame, empty: pd.DataFrame) -> pd.DataFrame:
        loads.extend([stored, empty])
        return stored.assign(rows=len(stored) + len(empty))

    loads: list = []
    return [stored, empty, loaded], loads


def _materialise(database) -> list:
    made, loads = _assets()
    io = {"io_manager": io_manager_from_env(database=str(database))}
    assert dg.materialize(made[:2], resources=io, partition_key="931", selection=[made[0]]).success
    assert dg.materialize(made[:2], resources=io, selection=[made[1]]).success
    assert dg.materialize(made, resources=io, partition_key="931", selection=[made[2]]).success
    return loads


def _tables(database) -> dict:
    with duckdb.connect(str(database), read_only=True) as connection:
        names = connection.execute("select schema_name, table_name from duckdb_tables() "
                                   "order by all").fetchall()
        return {f"{s}.{t}": connection.execute(f"select * from {s}.{t}").df() for s, t in names}


def test_tables_and_loads_are_those_of_a_connect_per_connection(tmp_path, monkeypatch):
    from test_storage_loads import assert_same_frames

    opened = _connects(monkeypatch)
    new_loads = _materialise(tmp_path / "new.duckdb")
    # the file itself is never opened with duckdb.connect: one in-memory instance serves every step
    assert [database for database, _ in opened] == [":memory:"], opened
    monkeypatch.setattr(storage._KEPT_INSTANCES, "lease", lambda *args: None)   # the old path
    old_loads = _materialise(tmp_path / "old.duckdb")
    assert {(read_only) for _, read_only in opened[1:]} == {True, False}, opened
    new, old = _tables(tmp_path / "new.duckdb"), _tables(tmp_path / "old.duckdb")
    assert list(new) == list(old) == ["s.empty", "s.loaded", "s.stored"]
    for name in new:
        assert_same_frames(new[name], old[name])
    assert len(new_loads) == len(old_loads) == 2
    for new_frame, old_frame in zip(new_loads, old_loads):
        assert_same_frames(new_frame, old_frame)
    assert len(new_loads[0]) == 3 and new_loads[1].empty


def test_the_file_is_locked_while_a_connection_is_held_and_free_at_once_after(tmp_path):
    database = tmp_path / "x.duckdb"
    client = _duckdb_client()
    with client.connect(dg.build_output_context(resource_config=_config(database)), None) as connection:
        connection.execute("create table t as select 1 as a")
        held = _in_another_process(_writes(database))
        assert held.returncode != 0 and "lock" in held.stderr, held.stderr[-500:]
    after = _in_another_process(_writes(database))
    assert after.returncode == 0 and after.stdout.strip() == "wrote", after.stderr[-500:]
    with duckdb.connect(str(database)) as connection:    # and this process, by another instance
        connection.execute("insert into t values (2)")
    # and after an input's read-only connection
    with client.connect(dg.build_input_context(resource_config=_config(database)), None) as connection:
        assert connection.execute("select a from t").fetchall() == [(1,), (2,)]
        held = _in_another_process(_writes(database))
        assert held.returncode != 0 and "lock" in held.stderr, held.stderr[-500:]
    after = _in_another_process(_writes(database))
    assert after.returncode == 0, after.stderr[-500:]


def test_a_steps_connection_is_released_before_it_computes(tmp_path):
    """Another process writes the file while the step computes, with its inputs loaded."""
    database = tmp_path / "x.duckdb"
    made, _ = _assets()

    @dg.asset(key_prefix=["s"], ins={"empty": dg.AssetIn(key=["s", "empty"])})
    def writes_meanwhile(empty: pd.DataFrame) -> pd.DataFrame:
        writer = _in_another_process(_writes(database))
        assert writer.returncode == 0, writer.stderr[-500:]
        return empty

    io = {"io_manager": io_manager_from_env(database=str(database))}
    assert dg.materialize([made[1], writes_meanwhile], resources=io).success
    after = _in_another_process(_writes(database))
    assert after.returncode == 0, after.stderr[-500:]


def test_an_input_and_another_processs_reader_share_the_file(tmp_path):
    database = tmp_path / "x.duckdb"
    duckdb.connect(str(database)).execute("create table t as select 1 as a").close()
    client = _duckdb_client()
    reads = (f"import duckdb; c = duckdb.connect({str(database)!r}, read_only=True); "
             "print(c.execute('select a from t').fetchall())")
    with client.connect(dg.build_input_context(resource_config=_config(database)), None) as connection:
        reader = _in_another_process(reads)
        assert reader.returncode == 0 and reader.stdout.strip() == "[(1,)]", reader.stderr[-500:]
        assert connection.execute("select a from t").fetchall() == [(1,)]
        with pytest.raises(duckdb.Error, match="read-only"):
            connection.execute("insert into t values (2)")
    holder = subprocess.Popen([sys.executable, "-c", reads[:-len("print(c.execute('select a from t').fetchall())")]
                               + "print('open', flush=True); import time; time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with client.connect(dg.build_input_context(resource_config=_config(database)), None) as connection:
            assert connection.execute("select a from t").fetchall() == [(1,)]
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_a_forked_child_makes_its_own_instance(tmp_path):
    database = tmp_path / "x.duckdb"
    duckdb.connect(str(database)).execute("create table t as select 1 as a").close()
    client = _duckdb_client()
    context = dg.build_input_context(resource_config=_config(database))
    with client.connect(context, None) as connection:
        parents = [kept.base for kept in storage._KEPT_INSTANCES.instances.values() if kept is not None]
        assert parents
        read, write = os.pipe()
        child = os.fork()
        if child == 0:   # the child reads through its own instance while the parent holds its own
            outcome = "failed"
            try:
                with client.connect(context, None) as own:
                    mine = [kept.base for kept in storage._KEPT_INSTANCES.instances.values()]
                    if own.execute("select a from t").fetchall() == [(1,)] and len(mine) == 1 \
                            and all(mine[0] is not parent for parent in parents):
                        outcome = "own instance"
            finally:
                os.write(write, outcome.encode())
                os._exit(0)
        os.close(write)
        assert os.read(read, 100).decode() == "own instance"
        os.waitpid(child, 0)
        os.close(read)
        # the parent's connection is untouched by the child's
        assert connection.execute("select a from t").fetchall() == [(1,)]


def test_a_locked_file_is_retried_until_it_is_free(tmp_path, monkeypatch):
    database = tmp_path / "x.duckdb"
    duckdb.connect(str(database)).execute("create table t as select 1 as a").close()
    refused, lease = [], storage._KEPT_INSTANCES.lease

    def counted(*args):
        try:
            return lease(*args)
        except Exception as error:
            refused.append(type(error))
            raise
    monkeypatch.setattr(storage._KEPT_INSTANCES, "lease", counted)
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(database)!r}); "
                               "print('open', flush=True); time.sleep(0.5); c.close(); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        started = time.monotonic()
        client = _duckdb_client()
        with client.connect(dg.build_output_context(resource_config=_config(database)), None) as connection:
            connection.execute("insert into t values (2)")
        assert time.monotonic() - started > 0.2
        assert refused and set(refused) == {duckdb.IOException}, refused
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute("select a from t order by a").fetchall() == [(1,), (2,)]


def test_connection_config_applies_and_one_duckdb_refuses_in_memory_opens_the_file(tmp_path, monkeypatch):
    database = tmp_path / "x.duckdb"
    duckdb.connect(str(database)).execute("create table t as select 1 as a").close()
    client = _duckdb_client()
    opened = _connects(monkeypatch)
    with client.connect(dg.build_input_context(resource_config=_config(database, threads=1)), None) as connection:
        assert connection.execute("select current_setting('threads'), current_setting('temp_directory'), "
                                  "current_setting('custom_user_agent')").fetchall() == [
            (1, f"{database}.tmp", "dagster")]
        assert connection.execute("select a from t").fetchall() == [(1,)]
    assert [database for database, _ in opened] == [":memory:"]
    opened.clear()
    # an in-memory instance cannot be read-only: this setting is honoured by opening the file
    read_only = _config(database, access_mode="READ_ONLY")
    with client.connect(dg.build_input_context(resource_config=read_only), None) as connection:
        assert connection.execute("select a from t").fetchall() == [(1,)]
    assert opened[-1] == (str(database), True), opened


def test_a_file_this_process_holds_is_read_through_that_connection(tmp_path):
    database = tmp_path / "x.duckdb"
    held = duckdb.connect(str(database), config={"custom_user_agent": "dagster"})
    held.execute("create table t as select 1 as a")
    client = _duckdb_client()
    with client.connect(dg.build_input_context(resource_config=_config(database)), None) as connection:
        assert connection.execute("select count(*) from t").fetchall() == [(1,)]
    with client.connect(dg.build_output_context(resource_config=_config(database)), None) as connection:
        connection.execute("insert into t values (2)")
    assert held.execute("select count(*) from t").fetchall() == [(2,)]
    held.close()
    # released: the kept instance attaches it again
    with client.connect(dg.build_input_context(resource_config=_config(database)), None) as connection:
        assert connection.execute("select current_database()").fetchall() == [("x",)]


def _exits():
    pass


def test_a_child_forked_beside_a_kept_instance_exits_cleanly(tmp_path):
    """Freeing the parent's instance in the child would close it, waiting for threads that exist
    only in the parent (the child crashed)."""
    import multiprocessing

    database = tmp_path / "x.duckdb"
    duckdb.connect(str(database)).execute("create table t as select 1 as a").close()
    with _duckdb_client().connect(dg.build_input_context(resource_config=_config(database)), None) as connection:
        connection.execute("select a from t").fetchall()
    for _ in range(3):
        child = multiprocessing.get_context("fork").Process(target=_exits)
        child.start()
        child.join(60)
        assert child.exitcode == 0
