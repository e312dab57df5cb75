"""Where intermediate tables live and how steps run: one machine, or a cluster.

Locally (the default) tables go to one DuckDB file and steps run in local processes.
On a cluster every pod must reach the same tables, so they go to parquet on
S3-compatible object storage, one file per local authority
(``<root>/pseudonymised/children/la_code=931/data.parquet``), and each step runs in
its own Kubernetes pod (``dagster_k8s.k8s_job_executor``). The choice is made by
environment variables, so the same image runs in both places:

- ``FSP_STORAGE``: ``duckdb`` (default) or ``parquet``;
- ``FSP_PARQUET_ROOT``: ``s3://bucket/prefix`` or a local folder (parquet only);
  object-store credentials and endpoint come from the usual ``AWS_*`` variables;
- ``FSP_EXECUTOR``: ``multiprocess`` (default) or ``k8s``, with the executor's
  settings read from ``deploy/k8s/executor.yaml`` (or ``FSP_EXECUTOR_CONFIG``).
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import yaml
from upath import UPath

STORAGE_ENV_VAR = "FSP_STORAGE"
PARQUET_ROOT_ENV_VAR = "FSP_PARQUET_ROOT"
EXECUTOR_ENV_VAR = "FSP_EXECUTOR"
EXECUTOR_CONFIG_ENV_VAR = "FSP_EXECUTOR_CONFIG"

#: The partition column of every pseudonymised table (see ``evaluation.tables``).
PARTITION_COLUMN = "la_code"

#: The cluster's executor settings (run config ``execution: config:``), kept with the Helm values.
DEFAULT_EXECUTOR_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "executor.yaml"

_SAFE_PARTITION = re.compile(r"^[A-Za-z0-9_-]+$")


class PartitionedParquetIOManager(dg.UPathIOManager):
    """Pandas frames as parquet under a local or ``s3://`` root, hive-style by local authority.

    A partitioned output is written to ``<asset key path>/la_code=<key>/data.parquet``; an
    unpartitioned one to ``<asset key path>.parquet``. Loading several partitions (a pooled,
    unpartitioned asset downstream of the per-LA tables) returns one frame with the partitions
    stacked in key order, as the DuckDB IO manager does, so assets need not know the backend.
    ``la_code`` stays inside each file, so one file is a complete table of the contract.
    """

    extension = ".parquet"

    def get_path_for_partition(self, context, path: UPath, partition: str) -> UPath:
        if not _SAFE_PARTITION.match(partition):
            raise ValueError(f"partition key {partition!r} is not a safe path segment")
        return path / f"{PARTITION_COLUMN}={partition}" / "data"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        if not isinstance(obj, pd.DataFrame):
            name = context.asset_key.to_user_string() if context.has_asset_key else context.name
            raise TypeError(f"{name}: expected a pandas DataFrame, got {type(obj).__name__}")
        with path.open("wb") as handle:
            obj.to_parquet(handle, index=False)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        with path.open("rb") as handle:
            return pd.read_parquet(handle)

    def load_input(self, context: dg.InputContext) -> Any:
        loaded = super().load_input(context)
        if isinstance(loaded, dict):
            frames = [loaded[key] for key in sorted(loaded)]
            if not frames:
                return None
            return pd.concat(frames, ignore_index=True)
        return loaded

    def get_metadata(self, context: dg.OutputContext, obj: pd.DataFrame) -> dict:
        return {"dagster/row_count": len(obj)}


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Configurable front of :class:`PartitionedParquetIOManager`: ``root`` is a folder or ``s3://`` URL."""

    root: str

    def create_io_manager(self, context: dg.InitResourceContext) -> PartitionedParquetIOManager:
        return PartitionedParquetIOManager(base_path=UPath(self.root))


class StoredTableMismatch(RuntimeError):
    """A stored table has other columns than this version of the pipeline writes."""


def _same_columns(connection, schema: str, table: str, columns: list[str], database: str) -> None:
    """Refuse, with what to do, to write into a table an earlier version laid out otherwise."""
    stored = [name for (name,) in connection.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, table]).fetchall()]
    if stored and stored != [str(c) for c in columns]:
        added = sorted(set(map(str, columns)) - set(stored))
        gone = sorted(set(stored) - set(map(str, columns)))
        raise StoredTableMismatch(
            f"{schema}.{table} in {Path(database).name} was written by another version of the pipeline "
            f"(columns new here: {', '.join(added) or 'none'}; stored only: {', '.join(gone) or 'none'}"
            f"{'; order differs' if not added and not gone else ''}). Remove {Path(database).name} "
            "(or drop that table) and materialise every stage again.")


#: Waiting for another process's DuckDB lock: first retry after 20 ms, each wait 1.5 times the last,
#: 20 retries (about 100 s in all, as Dagster's own 10 retries from 0.1 s doubling).
LOCK_RETRY_FIRST, LOCK_RETRY_FACTOR, LOCK_RETRIES = 0.02, 1.5, 20


class _Lease:
    """A DuckDB connection the IO manager uses, and what closing it gives back: the kept instance's
    attachment of the file (:class:`_KeptInstances`), or nothing more (a connection of its own)."""

    def __init__(self, connection, give_back=None):
        self.connection, self.give_back = connection, give_back

    def close(self) -> None:
        self.connection.close()
        if self.give_back is not None:
            give_back, self.give_back = self.give_back, None
            give_back()


class _KeptInstance:
    """An in-memory DuckDB instance kept for one database file and settings; ``users`` connections
    use the file, attached as ``alias`` (read-only or not) while there are any."""

    def __init__(self, base, alias: str):
        self.base, self.read_only, self.users = base, False, 0
        self.alias = '"' + alias.replace('"', '""') + '"'   # quoted, as SQL names it


class _KeptInstances:
    """This process's in-memory DuckDB instances, one per database file and settings, through which
    the IO manager's connections reach the file: a cursor of the instance (a new connection, not a
    new instance) with the file ATTACHed under its own alias and made the default (``USE``).

    The file is attached when the first connection is taken and DETACHed when the last is closed, so
    the file is locked exactly while a connection is held, as when each was a ``duckdb.connect``.
    Connections taken at once share the attachment: a read-only one uses the file attached
    read-write, as DuckDB's own instance cache shared one instance between them. None is given
    (the caller connects as before) where DuckDB refuses the settings for an in-memory instance,
    where another connection of this process holds the file (DuckDB refuses a second handle to
    it), or where a read-write connection is asked for while the file is attached read-only.

    An instance is made with the settings (``connection_config``) and, unless they say otherwise,
    ``temp_directory`` at ``<database>.tmp``, where an instance of the file itself would spill; an
    idle instance is closed when one for another file or settings is made. A forked child
    (:meth:`forget`, run at every fork) never uses nor closes its parent's, and keeps them
    referenced (``inherited``): freeing one would close it, which crashed the child (its threads
    live only in the parent)."""

    RESERVED = frozenset({"memory", "system", "temp", "main"})

    def __init__(self):
        self.instances: dict = {}
        self.inherited: list = []
        self.lock = threading.Lock()

    def forget(self) -> None:
        """In a forked child: the parent's instances (and the lock's state) are not this process's."""
        self.inherited.extend(self.instances.values())
        self.instances, self.lock = {}, threading.Lock()

    def _instance(self, database: str, config: dict) -> _KeptInstance | None:
        import duckdb

        key = (database, repr(sorted(config.items())))
        if key not in self.instances:
            for other, kept in list(self.instances.items()):
                if kept is not None and not kept.users:
                    kept.base.close()
                    del self.instances[other]
            stem = Path(database).stem
            try:
                base = duckdb.connect(":memory:", config={"temp_directory": f"{database}.tmp", **config})
            except duckdb.Error:    # settings an in-memory instance refuses: connect as before
                self.instances[key] = None
            else:
                self.instances[key] = _KeptInstance(base, "database" if stem in self.RESERVED else stem)
        return self.instances[key]

    def lease(self, database: str, read_only: bool, config: dict) -> _Lease | None:
        """A connection to ``database`` through the kept instance, or None where it cannot give one.
        A file another process holds raises DuckDB's IOException, as ``duckdb.connect`` does."""
        import duckdb

        with self.lock:
            kept = self._instance(database, config)
            if kept is None or (kept.users and kept.read_only and not read_only):
                return None
            if not kept.users:
                path = "'" + database.replace("'", "''") + "'"
                try:
                    kept.base.execute(f"ATTACH {path} AS {kept.alias}{' (READ_ONLY)' if read_only else ''}")
                except duckdb.ResourceInUseException:   # another connection of this process has it
                    return None
                kept.read_only = read_only
            kept.users += 1
            try:
                cursor = kept.base.cursor()
                cursor.execute(f"USE {kept.alias}")
            except BaseException:
                self._give_back(kept)
                raise
            return _Lease(cursor, lambda: self.give_back(kept))

    def give_back(self, kept: _KeptInstance) -> None:
        with self.lock:
            self._give_back(kept)

    def _give_back(self, kept: _KeptInstance) -> None:
        kept.users -= 1
        if not kept.users:
            kept.base.execute(f"DETACH {kept.alias}")

    def close(self) -> None:
        """Close this process's instances and let them go (at exit; those inherited from a parent
        are left alone). An instance still open when the interpreter ended outlived DuckDB's
        bindings in ``make test``'s workers, which reported it as leaked (``nanobind: leaked 28
        instances!``)."""
        with self.lock:
            instances, self.instances = self.instances, {}
        for kept in instances.values():
            if kept is not None:
                kept.base.close()


_KEPT_INSTANCES = _KeptInstances()
os.register_at_fork(after_in_child=_KEPT_INSTANCES.forget)
atexit.register(_KEPT_INSTANCES.close)


class _StepInputs(threading.local):
    """The read-only DuckDB connection a step's inputs are loaded through, held between its loads.

    Dagster loads a step's inputs one after another, in the order of its step inputs, before its
    compute (``execute_step.core_dagster_event_sequence_for_step``), so after the last one the
    connection is closed. Held per thread and process (a forked child drops, never closes, a
    connection it inherited); a load for another step, any write, or a failed load closes it."""

    def __init__(self):
        self.key, self.connection = None, None

    @staticmethod
    def key(context, database: str, config: dict):
        """(process, database, settings, run, step) of a load inside a step; None outside one."""
        try:
            step_context = context.step_context
        except dg.DagsterInvariantViolationError:
            return None
        return (os.getpid(), database, repr(sorted(config.items())), step_context.run_id,
                step_context.step.key)

    @staticmethod
    def more_follow(context) -> bool:
        """Whether the step loads another input after ``context``'s (inputs of type Nothing are
        not loaded)."""
        step_context = context.step_context
        names = [step_input.name for step_input in step_context.step.step_inputs
                 if not step_context.op_def.input_def_named(step_input.name).dagster_type.is_nothing]
        return context.name in names and names.index(context.name) < len(names) - 1

    def take(self, key):
        """The held connection if it is ``key``'s; any other is released."""
        if key is not None and self.key == key:
            connection, self.key, self.connection = self.connection, None, None
            return connection
        self.release()
        return None

    def hold(self, key, connection) -> None:
        self.release()
        self.key, self.connection = key, connection

    def release(self) -> None:
        if self.connection is not None and self.key[0] == os.getpid():
            self.connection.close()
        self.key, self.connection = None, None


_STEP_INPUTS = _StepInputs()


def _duckdb_client():
    """Dagster's DuckDB client, except that inputs are read through a read-only connection that
    a step's inputs share, connections are cursors of one kept in-memory DuckDB instance with the
    file attached, and a locked file is retried every few tens of milliseconds.

    Dagster's client opens every connection read-write, and DuckDB lets one process at a time hold
    a file read-write: two steps loading their inputs at once (two check steps, say) then waited
    for each other, first 0.1 s, then 0.2, 0.4... Read-only connections from several processes
    share the file. The tables read are the same: a read-only connection sees every committed write.
    A database that does not exist yet is attached (created) read-write, as it was opened before.

    Each ``duckdb.connect`` to the file started a DuckDB instance and read its catalog (about 35 ms
    of CPU, 5% of the default county's run), so a connection is a cursor of an in-memory instance
    kept by the process with the file ATTACHed and made the default, DETACHed when the connection
    is closed (:class:`_KeptInstances`, about 7 ms): the file is locked while a connection is held,
    as before. Where that instance cannot serve (settings DuckDB refuses for it, the file held by
    another connection of this process, which DuckDB refuses to attach twice), the file is opened
    with ``duckdb.connect`` as before: read-only, else read-write (DuckDB refuses a second
    configuration of a file in one process).

    A council run loads about four inputs per step: the connection of a step's first input is
    kept for its next ones (:class:`_StepInputs`) and closed after its last, before the step
    computes, so another process's writes wait only while inputs load."""
    from contextlib import contextmanager

    import duckdb
    from dagster._utils.backoff import backoff, exponential_delay_generator
    from dagster_duckdb.io_manager import DuckDbClient

    def _open(database: str, read_only: bool, config: dict) -> _Lease:
        lease = _KEPT_INSTANCES.lease(database, read_only, config)
        if lease is not None:
            return lease
        if read_only:
            try:
                connection = duckdb.connect(database=database, read_only=True, config=config)
                return _Lease(connection)
            except duckdb.ConnectionException:  # already open read-write in this process
                pass
        return _Lease(duckdb.connect(database=database, read_only=False, config=config))

    def _retrying(database: str, read_only: bool, config: dict) -> _Lease:
        return backoff(fn=_open, retry_on=(RuntimeError, duckdb.IOException),
                       kwargs={"database": database, "read_only": read_only, "config": config},
                       max_retries=LOCK_RETRIES,
                       delay_generator=exponential_delay_generator(LOCK_RETRY_FIRST, LOCK_RETRY_FACTOR))

    class ReadOnlyInputsDuckDbClient(DuckDbClient):
        @staticmethod
        @contextmanager
        def connect(context, _):
            database = context.resource_config["database"]
            config = {"custom_user_agent": "dagster", **context.resource_config["connection_config"]}
            read_only = isinstance(context, dg.InputContext) and Path(database).is_file()
            if not read_only:   # this process's read-only connection would refuse a read-write one
                _STEP_INPUTS.release()
                lease = _retrying(database, False, config)
                try:
                    yield lease.connection
                finally:
                    lease.close()
                return
            key = _StepInputs.key(context, database, config)
            lease = _STEP_INPUTS.take(key) or _retrying(database, True, config)
            try:
                yield lease.connection
            except BaseException:
                lease.close()
                raise
            if key is not None and _StepInputs.more_follow(context):
                _STEP_INPUTS.hold(key, lease)
            else:
                lease.close()

    return ReadOnlyInputsDuckDbClient()


#: DuckDB column types whose Arrow form converts to pandas exactly as DuckDB's own ``.df()`` does:
#: object columns of ``str``/None, the same numpy dtype and datetime unit, NaN/NaT where missing
#: (tests/test_storage_loads.py checks each with and without NULLs, all NULL and empty). Integers
#: and booleans holding a NULL are the exception, put right by :func:`_nullable_dtypes`. A result
#: with any other type (DATE, DECIMAL, HUGEINT, TIMESTAMPTZ, lists...) is read through ``.df()``.
_ARROW_EXACT = frozenset({"VARCHAR", "DOUBLE", "FLOAT", "BOOLEAN", "NULL", '"NULL"',
                          "BIGINT", "INTEGER", "SMALLINT", "TINYINT",
                          "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT",
                          "TIMESTAMP_NS", "TIMESTAMP", "TIMESTAMP_MS", "TIMESTAMP_S"})


def _nullable_dtypes() -> dict:
    """Arrow type -> the pandas dtype ``.df()`` gives a column of it that holds a NULL (Int64,
    boolean...), where pyarrow alone would give float64 or object."""
    import pyarrow as pa

    return {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
            pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
            pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype()}


def load_frame(connection, sql: str) -> pd.DataFrame:
    """The rows of ``sql`` as the frame DuckDB's ``.df()`` gives (same columns, dtypes, values and
    cell types: text as ``str``/None in object columns), in a fraction of the memory and CPU.

    ``.df()`` makes a new ``str`` for every row of every text column (a 64-character pseudonym is
    about 113 bytes each time) while DuckDB's result is still held: loading the twenty-council
    analysis dataset (2.5M rows) took a step's process from 0.2 GB to a 3.6 GB peak, 2.4 GB after.
    Read as Arrow (each text once in its buffers, 0.5 GB) and converted with each distinct text
    ONE Python object per column (pyarrow's ``deduplicate_objects``): 1.3 GB peak, 0.7 GB after,
    in a third of the CPU. Rows come in DuckDB's scan order, as with ``.df()`` (a filter over
    several row groups, as in a pooled load, may give another order from one run to the next, by
    either path: the pooled assets sort). Converted on this thread only: steps run side by side as
    Dagster's executor decides."""
    relation = connection.sql(sql)
    names = list(relation.columns)
    if len(set(names)) != len(names) or not all(str(kind) in _ARROW_EXACT for kind in relation.types):
        return connection.execute(sql).fetchdf()
    table = relation.to_arrow_table()
    nullable = _nullable_dtypes()
    fix = {position: nullable[field.type] for position, field in enumerate(table.schema)
           if field.type in nullable and table.column(position).null_count}
    frame = table.to_pandas(deduplicate_objects=True, use_threads=False)
    for position, dtype in fix.items():
        frame.isetitem(position, dtype.__from_arrow__(table.column(position)))
    return frame


def _made_first_here() -> None:
    """Make the first ``TableSchema`` (and ``TableColumn``) of the process here, in a frame that
    holds nothing. Dagster builds a ``@record`` class's constructor when the first one is made and
    keeps the caller's local variables with it for the life of the process
    (``dagster_shared.record``); made first by dagster-duckdb-pandas while storing a table, they
    kept that table's frame and its DuckDB connection until the interpreter ended, where DuckDB's
    bindings reported the connection as leaked (tests/test_storage_keeps_nothing.py)."""
    dg.TableSchema(columns=[dg.TableColumn(name="column", type="string")])


_made_first_here()


def _keep_empty_duckdb_io_manager(database: str):
    """DuckDB IO manager that also creates a table for an EMPTY frame, reads inputs through
    read-only connections (:func:`_duckdb_client`) and loads them as Arrow (:func:`load_frame`).

    ``dagster-duckdb-pandas`` skips empty frames, so a table that is empty for the first local
    authority written (an empty quarantine, say) would not exist for the steps that read it.
    """
    from dagster._core.storage.db_io_manager import DbIOManager
    from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

    class KeepEmptyTypeHandler(DuckDBPandasTypeHandler):
        def handle_output(self, context, table_slice, obj: pd.DataFrame, connection):
            _same_columns(connection, table_slice.schema, table_slice.table, list(obj.columns), database)
            if obj.empty:
                connection.execute(f"create schema if not exists {table_slice.schema}")
                connection.execute(f"create table if not exists {table_slice.schema}."
                                   f"{table_slice.table} as select * from obj")
                context.add_output_metadata({"dagster/row_count": 0})
                return
            super().handle_output(context, table_slice, obj, connection)

        def load_input(self, context, table_slice, connection) -> pd.DataFrame:
            """As dagster-duckdb-pandas loads (the same SQL, the same frame), in less memory:
            :func:`load_frame`."""
            from dagster_duckdb.io_manager import DuckDbClient

            if table_slice.partition_dimensions and len(context.asset_partition_keys) == 0:
                return pd.DataFrame()
            return load_frame(connection, DuckDbClient.get_select_statement(table_slice))

    class KeepEmptyDuckDBIOManager(DuckDBPandasIOManager):
        @staticmethod
        def type_handlers():
            return [KeepEmptyTypeHandler()]

        def create_io_manager(self, context) -> DbIOManager:
            return DbIOManager(db_client=_duckdb_client(), database=self.database, schema=self.schema_,
                               type_handlers=self.type_handlers(), default_load_type=self.default_load_type(),
                               io_manager_name="DuckDBIOManager")

    return KeepEmptyDuckDBIOManager(database=database)


def io_manager_from_env(database: str | None = None, parquet_root: str | None = None):
    """The IO manager ``FSP_STORAGE`` asks for; arguments override the environment (tests use them)."""
    choice = os.environ.get(STORAGE_ENV_VAR, "duckdb").strip().lower()
    if choice == "duckdb":
        from assets.resources import default_database

        return _keep_empty_duckdb_io_manager(database or default_database())
    if choice == "parquet":
        root = parquet_root or os.environ.get(PARQUET_ROOT_ENV_VAR)
        if not root:
            raise ValueError(f"{STORAGE_ENV_VAR}=parquet needs {PARQUET_ROOT_ENV_VAR}, "
                             "e.g. s3://bucket/fsp-evaluation or a local folder")
        return ParquetIOManager(root=root)
    raise ValueError(f"{STORAGE_ENV_VAR} must be 'duckdb' or 'parquet', not {choice!r}")


def load_executor_config(path: str | Path | None = None) -> dict:
    """The ``execution: config:`` block of the cluster's run config (``deploy/k8s/executor.yaml``)."""
    path = Path(path or os.environ.get(EXECUTOR_CONFIG_ENV_VAR) or DEFAULT_EXECUTOR_CONFIG)
    with open(path, encoding="utf-8") as handle:
        run_config = yaml.safe_load(handle)
    return run_config["execution"]["config"]


def executor_from_env():
    """The executor ``FSP_EXECUTOR`` asks for; ``None`` keeps Dagster's default (multiprocess)."""
    choice = os.environ.get(EXECUTOR_ENV_VAR, "multiprocess").strip().lower()
    if choice == "multiprocess":
        return None
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(load_executor_config(), name="k8s_job_per_step")
    raise ValueError(f"{EXECUTOR_ENV_VAR} must be 'multiprocess' or 'k8s', not {choice!r}")
