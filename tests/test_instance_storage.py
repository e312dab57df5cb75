"""The local instance's run and event storage (assets/instance_storage.py): Dagster's SQLite
storage with one engine per database file per process and ``synchronous=NORMAL``, selected by
assets/instance/dagster.yaml. What it writes stock Dagster reads; it opens a connection per file,
not per event; a forked process never uses its parent's engines."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as db
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

import assets.instance_storage as instance_storage
from assets.instance_storage import (LocalEventLogStorage, LocalInstance, LocalRunStorage,
                                     LocalSqliteStorage)

REPO = Path(__file__).resolve().parents[1]
SYNCHRONOUS_FULL, SYNCHRONOUS_NORMAL = 2, 1


@pytest.fixture
def home(tmp_path) -> Path:
    """An instance folder with the project's dagster.yaml, as the Makefile and tests make one."""
    folder = tmp_path / "home"
    folder.mkdir()
    shutil.copy(REPO / "assets" / "instance" / "dagster.yaml", folder / "dagster.yaml")
    return folder


def _message(run_id: str, text: str) -> EventLogEntry:
    return EventLogEntry(error_info=None, level="INFO", user_message=text, run_id=run_id,
                         timestamp=time.time())


def _materialisation(run_id: str, asset: str) -> EventLogEntry:
    from dagster._core.events import DagsterEvent, StepMaterializationData

    event = DagsterEvent(DagsterEventType.ASSET_MATERIALIZATION.value, job_name="council",
                         event_specific_data=StepMaterializationData(dg.AssetMaterialization(asset)))
    return EventLogEntry(error_info=None, level="DEBUG", user_message="", run_id=run_id,
                         timestamp=time.time(), job_name="council", dagster_event=event)


def _pragma(connection, name: str):
    return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


# --- the instance of assets/instance/dagster.yaml ----------------------------------------------------

def test_the_projects_instance_uses_these_storages_in_its_own_folder(home, tmp_path, monkeypatch):
    # Opened by path with DAGSTER_HOME elsewhere (as tests open a copied instance): its storage is
    # still that folder's, in Dagster's layout.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance) is LocalInstance
        assert isinstance(instance.get_ref().storage, LocalSqliteStorage)
        assert type(instance.event_log_storage) is LocalEventLogStorage
        assert type(instance.run_storage) is LocalRunStorage
        assert Path(instance.event_log_storage._base_dir) == home / "history" / "runs"
        # What a step process rebuilds from the run's instance reference: the same classes.
        with dg.DagsterInstance.from_ref(instance.get_ref()) as rebuilt:
            assert type(rebuilt) is LocalInstance
            assert type(rebuilt.event_log_storage) is LocalEventLogStorage
    assert (home / "history" / "runs.db").is_file()
    assert (home / "history" / "runs" / "index.db").is_file()
    assert not list(tmp_path.glob("history"))


def test_a_storage_block_in_the_yaml_still_wins(home):
    (home / "dagster.yaml").write_text((home / "dagster.yaml").read_text()
                                       + f"\nstorage:\n  sqlite:\n    base_dir: {home / 'elsewhere'}\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.get_ref().storage) is DagsterSqliteStorage
        assert type(instance.event_log_storage) is SqliteEventLogStorage


# --- two step processes, one run; stock Dagster reads it all ----------------------------------------

EVENTS_PER_STEP, MATERIALISATIONS_PER_STEP = 60, 6


def _writer(name: str):
    @dg.op(name=name, config_schema={"folder": str})
    def writer(context) -> int:
        # Both steps start before either writes its events: they write the run's shard together.
        folder = Path(context.op_config["folder"])
        (folder / f"{name}.started").write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while len(list(folder.glob("*.started"))) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the other step never started")
            time.sleep(0.02)
        for i in range(EVENTS_PER_STEP):
            context.log.info(f"{name} message {i}")
            if i % (EVENTS_PER_STEP // MATERIALISATIONS_PER_STEP) == 0:
                context.log_event(dg.AssetMaterialization(f"{name}_table", metadata={"i": i}))
        return os.getpid()
    return writer


def two_writers() -> dg.JobDefinition:
    """Two steps, each in a process of its own (rebuilt there from this file)."""
    @dg.job(executor_def=dg.multiprocess_executor)
    def two_writers():
        _writer("writer_a")()
        _writer("writer_b")()
    return two_writers


def test_two_step_processes_write_one_run_and_stock_dagster_reads_every_event(home, tmp_path):
    names = ("writer_a", "writer_b")
    run_config = {"ops": {name: {"config": {"folder": str(tmp_path)}} for name in names},
                  "execution": {"config": {"max_concurrent": 2}}}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        job = dg.build_reconstructable_job(Path(__file__).stem, "two_writers",
                                           reconstructor_working_directory=str(Path(__file__).parent))
        result = dg.execute_job(job, instance=instance, run_config=run_config)
        assert result.success
        run_id = result.run_id
        ours = instance.all_logs(run_id)
    starts = [e for e in ours if e.dagster_event_type == DagsterEventType.STEP_START]
    assert len({e.dagster_event.pid for e in starts}) == 2 and os.getpid() not in {
        e.dagster_event.pid for e in starts}

    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    stored = stock.get_logs_for_run(run_id)
    assert [dg.serialize_value(e) for e in stored] == [dg.serialize_value(e) for e in ours]
    messages = [e.user_message for e in stored if not e.is_dagster_event]
    for name in names:
        assert sorted(m for m in messages if m.startswith(f"{name} message ")) == sorted(
            f"{name} message {i}" for i in range(EVENTS_PER_STEP))
        records = stock.fetch_materializations(dg.AssetKey(f"{name}_table"), limit=100).records
        assert len(records) == MATERIALISATIONS_PER_STEP
        assert {r.run_id for r in records} == {run_id}
    for kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.RUN_SUCCESS):
        assert [e for e in stored if e.dagster_event_type == kind]
    stock_runs = SqliteRunStorage.from_local(str(home / "history"))
    (run,) = stock_runs.get_runs(dg.RunsFilter(run_ids=[run_id]))
    assert run.status == dg.DagsterRunStatus.SUCCESS
    stock.dispose()


def test_stock_and_local_storage_take_turns_on_the_same_files(tmp_path):
    run_id = str(uuid.uuid4())
    local = LocalEventLogStorage(str(tmp_path))
    local.store_event(_message(run_id, "local 1"))
    stock = SqliteEventLogStorage(str(tmp_path))
    stock.store_event(_message(run_id, "stock"))
    stock.store_event(_materialisation(run_id, "from_stock"))
    local.store_event(_message(run_id, "local 2"))   # its open connection sees the stock writes
    local.store_event(_materialisation(run_id, "from_local"))
    for storage in (local, stock):
        assert [e.user_message for e in storage.get_logs_for_run(run_id)
                if not e.is_dagster_event] == ["local 1", "stock", "local 2"]
        for asset in ("from_stock", "from_local"):
            assert len(storage.fetch_materializations(dg.AssetKey(asset), limit=5).records) == 1
    local.dispose()
    stock.dispose()


# --- opening set-up databases without reading the migration scripts ----------------------------------

def _counting_script_loads(monkeypatch) -> list:
    """Every time Dagster's storages ask alembic for the newest revision (which loads every script)."""
    from alembic.script import ScriptDirectory

    loads, real = [], ScriptDirectory.from_config
    monkeypatch.setattr(ScriptDirectory, "from_config",
                        classmethod(lambda cls, config: loads.append(config) or real.__func__(cls, config)))
    return loads


def _stock_revisions(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str | None, str | None]]:
    """(database, newest) revision of each database of the folder, as Dagster's own code reads them."""
    from dagster._core.storage.event_log.sqlite import sqlite_event_log
    from dagster._core.storage.sql import check_alembic_revision, get_alembic_config

    config = get_alembic_config(sqlite_event_log.__file__)
    revisions = [instance.run_storage.alembic_version(), instance.schedule_storage.alembic_version()]
    with instance.event_log_storage.run_connection(run_id) as run_shard:
        revisions.append(check_alembic_revision(config, run_shard))
    with instance.event_log_storage.index_connection() as index_shard:
        revisions.append(check_alembic_revision(config, index_shard))
    return revisions


def test_a_new_folder_is_set_up_by_dagster_then_opened_without_the_scripts(home, monkeypatch):
    loads = _counting_script_loads(monkeypatch)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = instance.create_run_for_job(two_writers(), run_config={"ops": {
            name: {"config": {"folder": "."}} for name in ("writer_a", "writer_b")}}).run_id
        instance.event_log_storage.store_event(_message(run_id, "first"))
    assert loads, "a new folder's databases are created and stamped by Dagster's own code"
    loads.clear()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        with dg.DagsterInstance.from_ref(instance.get_ref()) as step:   # as a step process opens it
            step.event_log_storage.store_event(_message(run_id, "second"))
            step.get_asset_records()
            assert [e.user_message for e in step.all_logs(run_id)] == ["first", "second"]
        assert loads == []   # opened, read and written: no migration script loaded
        revisions = _stock_revisions(instance, run_id)
    # each database (runs, schedules, the run's shard, the index shard) at Dagster's newest revision
    assert len(revisions) == 4 and all(stamped and stamped == head for stamped, head in revisions), revisions


def test_dagster_creates_each_new_database_in_wal_mode(home, monkeypatch):
    """Dagster switches a new database to WAL only after creating its tables; each one it creates
    here (runs, schedules, the index shard, a run's shard) is in WAL mode before its first table,
    so the ~30 commits that create them each append to the log instead of syncing a rollback
    journal, the file and its folder."""
    from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
    from dagster._core.storage.runs.schema import RunStorageSqlMetadata
    from dagster._core.storage.schedules.schema import ScheduleStorageSqlMetadata

    modes = []
    for metadata in (RunStorageSqlMetadata, SqlEventLogStorageMetadata, ScheduleStorageSqlMetadata):
        def create_all(bind, *args, _real=metadata.create_all, **kwargs):
            with bind.connect() as connection:
                modes.append(_pragma(connection, "journal_mode"))
            return _real(bind, *args, **kwargs)
        monkeypatch.setattr(metadata, "create_all", create_all)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = instance.create_run_for_job(two_writers(), run_config={"ops": {
            name: {"config": {"folder": "."}} for name in ("writer_a", "writer_b")}}).run_id
        instance.event_log_storage.store_event(_message(run_id, "first"))
        assert [e.user_message for e in instance.all_logs(run_id)] == ["first"]
    assert modes == ["wal"] * 4, modes


def test_an_unstamped_database_still_goes_through_dagsters_code(tmp_path, monkeypatch):
    storage = LocalEventLogStorage(str(tmp_path))
    run_id = str(uuid.uuid4())
    storage.store_event(_message(run_id, "one"))
    storage.dispose()
    with sqlite3.connect(tmp_path / f"{run_id}.db") as raw:   # an old shard: its version table lost
        raw.execute("DROP TABLE alembic_version")
    loads = _counting_script_loads(monkeypatch)
    again = LocalEventLogStorage(str(tmp_path))
    again.store_event(_message(run_id, "two"))
    assert loads   # Dagster's _initdb looked at it and stamped it again
    assert [e.user_message for e in again.get_logs_for_run(run_id)] == ["one", "two"]
    with again.run_connection(run_id) as connection:
        assert instance_storage._stamped(connection)
    again.dispose()


# --- cost per event: connections and syncs -----------------------------------------------------------

def _counting_connections(monkeypatch) -> dict:
    """Counts of SQLite connections opened and of engines' pools first connected."""
    counts = {"connections": 0, "pools": 0}
    real_connect = sqlite3.dbapi2.connect

    def connect(*args, **kwargs):
        counts["connections"] += 1
        return real_connect(*args, **kwargs)

    def first_connect(*_):
        counts["pools"] += 1

    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)
    db.event.listen(db.pool.Pool, "first_connect", first_connect)
    counts["stop"] = lambda: db.event.remove(db.pool.Pool, "first_connect", first_connect)
    return counts


@pytest.mark.parametrize("cls", [SqliteEventLogStorage, LocalEventLogStorage])
def test_events_are_stored_through_one_engine_and_connection_per_file(cls, tmp_path, monkeypatch):
    storage = cls(str(tmp_path))
    run_id = str(uuid.uuid4())
    counts = _counting_connections(monkeypatch)
    try:
        for i in range(100):
            storage.store_event(_materialisation(run_id, f"table_{i % 7}") if i % 5 == 0
                                else _message(run_id, f"message {i}"))
    finally:
        counts["stop"]()
    assert len(storage.get_logs_for_run(run_id)) == 100
    if cls is SqliteEventLogStorage:   # Dagster's own: an engine and a connection per write
        assert counts["pools"] >= 100 and counts["connections"] >= 100
    else:   # the run shard's and the index's, a table look-up, the shard's creation
        assert counts["pools"] <= 4 and counts["connections"] <= 6, counts
    storage.dispose()


@pytest.mark.parametrize("cls", [SqliteRunStorage, LocalRunStorage])
def test_run_storage_keeps_one_engine(cls, tmp_path, monkeypatch):
    storage = cls.from_local(str(tmp_path))
    storage.get_runs()
    counts = _counting_connections(monkeypatch)
    try:
        for _ in range(30):
            storage.add_run(dg.DagsterRun(job_name="council", run_id=str(uuid.uuid4())))
            storage.get_runs()
    finally:
        counts["stop"]()
    if cls is SqliteRunStorage:   # Dagster's own: an engine and a connection per query
        assert counts["pools"] >= 60 and counts["connections"] >= 60
    else:   # the connections it keeps were opened before
        assert counts["pools"] == 0 and counts["connections"] == 0, counts
    assert len(storage.get_runs()) == 30
    storage.dispose()


def test_every_connection_it_opens_is_synchronous_normal_in_wal_mode(home):
    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        events = instance.event_log_storage
        events.store_event(_message(run_id, "one"))
        events.store_event(_materialisation(run_id, "a_table"))
        with events.run_connection(run_id) as connection:
            assert _pragma(connection, "synchronous") == SYNCHRONOUS_NORMAL
            assert _pragma(connection, "journal_mode") == "wal"
        with events.index_connection() as connection:
            assert _pragma(connection, "synchronous") == SYNCHRONOUS_NORMAL
            assert _pragma(connection, "journal_mode") == "wal"
        with instance.run_storage.connect() as connection:
            assert _pragma(connection, "synchronous") == SYNCHRONOUS_NORMAL
            assert _pragma(connection, "journal_mode") == "wal"
    # The setting is the connection's, not the file's: Dagster's own connection syncs every commit.
    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    with stock.run_connection(run_id) as connection:
        assert _pragma(connection, "synchronous") == SYNCHRONOUS_FULL
    stock.dispose()


def test_a_process_keeps_a_bounded_number_of_shards_open(tmp_path, monkeypatch):
    monkeypatch.setattr(instance_storage, "MAX_SHARD_ENGINES", 3)
    storage = LocalEventLogStorage(str(tmp_path))
    runs = [str(uuid.uuid4()) for _ in range(6)]
    for round_ in range(2):
        for run_id in runs:
            storage.store_event(_message(run_id, f"round {round_}"))
            assert len(storage._engines) <= 3
    for run_id in runs:
        assert [e.user_message for e in storage.get_logs_for_run(run_id)] == ["round 0", "round 1"]
    storage.dispose()


# --- fork -------------------------------------------------------------------------------------------

def _child_of_event_storage(storage, run_id, parent_engine, answer):
    try:
        storage.store_event(_message(run_id, "from the child"))
        own = storage._engines[run_id]
        answer.put(("ok", own is not parent_engine, parent_engine in storage._inherited,
                    parent_engine.pool.checkedin()))
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        answer.put(("error", repr(error)))


def _child_of_run_storage(storage, parent_engine, answer):
    try:
        storage.add_run(dg.DagsterRun(job_name="council", run_id=str(uuid.uuid4())))
        answer.put(("ok", storage._engine is not parent_engine,
                    parent_engine in storage._inherited, parent_engine.pool.checkedin()))
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        answer.put(("error", repr(error)))


def _in_forked_child(target, *args):
    context = multiprocessing.get_context("fork")
    answer = context.SimpleQueue()
    child = context.Process(target=target, args=(*args, answer))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    return answer.get()


def test_a_forked_process_makes_its_own_engines_and_leaves_its_parents(tmp_path):
    run_id = str(uuid.uuid4())
    storage = LocalEventLogStorage(str(tmp_path / "events"))
    storage.store_event(_message(run_id, "from the parent"))
    parent_engine = storage._engines[run_id]
    assert parent_engine.pool.checkedin() == 1
    outcome = _in_forked_child(_child_of_event_storage, storage, run_id, parent_engine)
    # Its own engine; the parent's kept aside, its connection neither used nor closed.
    assert outcome == ("ok", True, True, 1), outcome
    storage.store_event(_message(run_id, "from the parent again"))
    assert storage._engines[run_id] is parent_engine
    assert [e.user_message for e in storage.get_logs_for_run(run_id)] == [
        "from the parent", "from the child", "from the parent again"]
    storage.dispose()

    runs = LocalRunStorage.from_local(str(tmp_path / "runs"))
    runs.add_run(dg.DagsterRun(job_name="council", run_id=str(uuid.uuid4())))
    parent_engine = runs._engine
    kept = parent_engine.pool.checkedin()
    assert kept >= 1
    outcome = _in_forked_child(_child_of_run_storage, runs, parent_engine)
    assert outcome == ("ok", True, True, kept), outcome
    assert runs._engine is parent_engine and len(runs.get_runs()) == 2
    runs.dispose()
