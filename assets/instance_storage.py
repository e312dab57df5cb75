"""The local instance's run and event storage: Dagster's own SQLite storage at less cost per event.

Dagster's SQLite event log (``SqliteEventLogStorage``) opens a new SQLAlchemy engine for every
event it stores, connects, commits, closes the connection and disposes of the engine; its run
storage (``SqliteRunStorage``) makes a new engine for every query. In WAL mode (Dagster puts its
databases in WAL mode) each close of a file's last connection checkpoints the write-ahead log, and
SQLite's default ``synchronous=FULL`` syncs it to disk at every commit: a small-county ``make run``
spent about 23 of its 157 sampled seconds storing some 1,500 run events (py-spy, all processes).

The classes here are Dagster's own with these changes:

- **one engine per database file per process**: each storage keeps the engine it made for a file
  (run shard, index shard, ``runs.db``) and its pooled connection open, instead of one per event.
  Engines are owned by the process that made them (``os.getpid()``): a process forked from one
  that had made engines makes its own and never uses (nor closes) its parent's, as SQLite requires
  of connections carried over a fork. A process keeps at most :data:`MAX_SHARD_ENGINES` run shards'
  engines open (the UI reads many runs), the least recently used closed first;
- **no reading of every migration script to open a database that is already set up**: Dagster
  opens each database by asking alembic for the database's revision and for the newest revision
  of its migrations, and creates and stamps the database only when either is missing. Naming the
  newest revision loads every migration script (20-60 ms per database; every step process opens
  three to five: about 4 CPU-s of the default county's ``make run``). The newest revision is never
  missing, so a database whose revision is stamped is used as it is, here without loading the
  scripts; an unstamped (new) one goes through Dagster's own code. Migrating an old database stays
  Dagster's explicit ``dagster instance migrate``, as before;
- **new databases in WAL mode before Dagster creates their tables**: Dagster creates a database's
  ~30 tables and indexes one commit each and only then switches it to WAL, so each commit synced
  a rollback journal, the file and its folder (a new instance folder: ~2.1 s, most of it waiting
  on the disk; each run's new shard ~0.6 s). Its own code still creates and stamps them;
- **``PRAGMA synchronous=NORMAL``** on every connection they open: in WAL mode a commit is then
  written to the log without waiting for the disk; the log is synced at checkpoints. The
  database stays consistent after a crash of the process or the machine, but the last commits
  before a power loss or an operating-system crash can be lost — acceptable for a run log (a
  lost run event at worst makes a run look unfinished; ``make run`` marks such runs failed and
  the intermediate tables are in DuckDB, not here). SQLite's documentation: "WAL mode is always
  consistent with synchronous=NORMAL".

Everything else — schema, migrations, the files' layout in ``DAGSTER_HOME`` (``history/runs.db``,
``history/runs/<run id>.db``, ``history/runs/index.db``, ``schedules/``) — is Dagster's: the files
are stock SQLite databases that stock Dagster reads and writes. The schedule storage is Dagster's
own, opened as above.

They are selected by ``assets/instance/dagster.yaml`` (``instance_class``: :class:`LocalInstance`),
whose only change to Dagster's instance is the default ``storage`` for an instance folder: the
same ``base_dir`` (the instance folder, wherever it is opened from) with these classes. A
``storage:`` block in the YAML (``postgres``, ``sqlite``, ...) still takes precedence; the
cluster's instance (``deploy/dagster.yaml``, PostgreSQL) does not use this module.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import dagster as dg
import dagster._check as check
import sqlalchemy as db
import yaml
from alembic.runtime.migration import MigrationContext
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine

#: Run shards' engines a process keeps open at once (each holds one connection: three open files).
MAX_SHARD_ENGINES = 32


def _synchronous_normal(dbapi_connection, _connection_record) -> None:
    """Every new SQLite connection of these storages: commits not synced (see the module's text)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _engine(conn_string: str, **kwargs) -> Engine:
    """An engine whose pool keeps its connections open, each set to ``synchronous=NORMAL``."""
    engine = db.create_engine(conn_string, **kwargs)
    db.event.listen(engine, "connect", _synchronous_normal)
    return engine


def _write_ahead_log(connection: Connection) -> None:
    """Put a database that Dagster is about to create in WAL mode first (Dagster switches it only
    after creating its tables): each of the ~30 tables and indexes it creates, one commit each, is
    then appended to the log instead of syncing a rollback journal, the file and its folder. A new
    instance folder's databases: ~2.1 -> ~1.0-1.5 s, most of it waits on the disk."""
    connection.exec_driver_sql("PRAGMA journal_mode=WAL")


def _stamped(connection: Connection) -> bool:
    """Whether the database carries an alembic revision: Dagster's SQLite storages then leave it
    as it is (see the module's text)."""
    return bool(MigrationContext.configure(connection).get_current_revision())


def _set_up(base_dir: str, name: str, *tables: str) -> str | None:
    """The connection string of ``base_dir``'s database ``name`` when it is stamped and holds
    ``tables``; else None, the database (made if missing) put in WAL mode first on the connection
    that found it so (:func:`_write_ahead_log`): Dagster's own code then creates or stamps it."""
    os.makedirs(base_dir, exist_ok=True)
    conn_string = create_db_conn_string(base_dir, name)
    engine = db.create_engine(conn_string, poolclass=db.pool.NullPool)
    try:
        with engine.connect() as connection:
            inspector = db.inspect(connection)
            ready = _stamped(connection) and all(inspector.has_table(t) for t in tables)
            if not ready:
                _write_ahead_log(connection)
    except db.exc.DBAPIError:   # busy or locked: Dagster's own code waits and retries
        ready = False
    finally:
        engine.dispose()
    return conn_string if ready else None


class LocalEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, one engine per shard per process."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()   # shard -> engine, oldest first
        self._engines_pid = os.getpid()
        self._inherited: list[Engine] = []   # a parent's engines: kept, never used or closed here
        self._tables_found: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping) -> LocalEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _shard_engine(self, shard: str) -> Engine:
        """This process's engine for ``shard`` (called with ``self._db_lock`` held)."""
        if self._engines_pid != os.getpid():
            self._inherited.extend(self._engines.values())
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        if len(self._engines) >= MAX_SHARD_ENGINES:
            # No connection is checked out: every checkout holds self._db_lock.
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        # One connection kept per shard; a second at once only inside _initdb (its inspection).
        engine = _engine(self.conn_string_for_shard(shard), pool_size=1,
                         connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        self._engines[shard] = engine
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            check.str_param(shard, "shard")
            engine = self._shard_engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _initdb(self, engine: Engine, for_index_shard: bool = False) -> None:
        try:
            with engine.connect() as connection:
                if _stamped(connection):
                    return
                _write_ahead_log(connection)
        except db.exc.DBAPIError:   # busy or locked: Dagster's own code waits and retries
            pass
        super()._initdb(engine, for_index_shard=for_index_shard)

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before storing each asset event's tags and each check evaluation, with the
        # index shard open (so not through _connect, whose lock is held): its own engine per call,
        # as Dagster does, until the table is found (tables are never dropped).
        if table_name in self._tables_found:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables_found.add(table_name)
        return found

    def _close_engines(self) -> None:
        with self._db_lock:
            if self._engines_pid == os.getpid():
                for engine in self._engines.values():
                    engine.dispose()
            self._engines, self._engines_pid = OrderedDict(), os.getpid()

    def wipe(self) -> None:
        self._close_engines()   # the shard files are deleted: no connection may stay open on them
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_engines()


class LocalRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage (``runs.db``), one engine per process."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None):
        self._engine: Engine | None = None
        self._engine_pid = os.getpid()
        self._inherited: list[Engine] = []   # a parent's engine: kept, never used or closed here
        self._engine_lock = threading.Lock()
        super().__init__(conn_string, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping) -> LocalRunStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @classmethod
    def from_local(cls, base_dir: str, inst_data: ConfigurableClassData | None = None) -> LocalRunStorage:
        conn_string = _set_up(base_dir, "runs", "instance_info")
        if conn_string is None:
            return super().from_local(base_dir, inst_data)
        return cls(conn_string, inst_data)

    def _runs_engine(self) -> Engine:
        with self._engine_lock:
            if self._engine_pid != os.getpid():
                self._inherited.extend([self._engine] if self._engine is not None else [])
                self._engine, self._engine_pid = None, os.getpid()
            if self._engine is None:
                # Dagster's own engine arguments (none); the pool's default size: the UI's threads.
                self._engine = _engine(self._conn_string)
            return self._engine

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._runs_engine().connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        with self._engine_lock:
            if self._engine is not None and self._engine_pid == os.getpid():
                self._engine.dispose()
            self._engine, self._engine_pid = None, os.getpid()


class LocalScheduleStorage(SqliteScheduleStorage):
    """Dagster's SQLite schedule storage, opened without reading its migration scripts when set up."""

    @classmethod
    def from_local(cls, base_dir: str,
                   inst_data: ConfigurableClassData | None = None) -> SqliteScheduleStorage:
        conn_string = _set_up(base_dir, "schedules")
        if conn_string is None:
            return super().from_local(base_dir, inst_data)
        return cls(conn_string, inst_data)


def _runs_directory(base: str) -> str:
    return os.path.join(base, "history", "")


def _event_logs_directory(base: str) -> str:
    return os.path.join(base, "history", "runs", "")


def _schedule_directory(base: str) -> str:
    return os.path.join(base, "schedules")


class LocalSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage of an instance folder with :class:`LocalRunStorage`,
    :class:`LocalEventLogStorage` and :class:`LocalScheduleStorage`; the same files."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self.base_dir = check.str_param(base_dir, "base_dir")
        self._run_storage = LocalRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = LocalEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = LocalScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping) -> LocalSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def _class_data(cls: type, base_dir: str) -> ConfigurableClassData:
    return ConfigurableClassData(__name__, cls.__name__,
                                 yaml.dump({"base_dir": base_dir}, default_flow_style=False))


class LocalInstance(dg.DagsterInstance):
    """Dagster's instance, whose default storage for its folder is :class:`LocalSqliteStorage`
    (``instance_class`` in ``dagster.yaml``). Nothing else differs."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        defaults = dict(InstanceRef.config_defaults(base_dir))
        defaults["storage"] = _class_data(LocalSqliteStorage, base_dir)
        # The per-storage defaults, for a YAML that sets some of run/event/schedule storage alone.
        defaults["run_storage"] = _class_data(LocalRunStorage, _runs_directory(base_dir))
        defaults["event_log_storage"] = _class_data(LocalEventLogStorage,
                                                    _event_logs_directory(base_dir))
        return defaults
