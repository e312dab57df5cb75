"""The DuckDB IO manager's loads (assets/storage.py, ``load_frame``: Arrow, equal texts one object)
give exactly the frames dagster-duckdb-pandas' ``.df()`` gave: same columns, dtypes, values, row
order, and the same Python type in every cell of an object column (#20).

The small county's two councils are written through the IO manager (the pooled steps' inputs and
door, spell and cohort tables, one partition per council) and read back by a pooled asset (every
council, as the pooled steps) and a per-council one; each input is compared with ``.df()`` of the
SQL the DbIOManager issues for it. Every DuckDB type the Arrow path takes is compared with
``.df()`` with and without NULLs, all NULL and empty, and so are types it leaves to ``.df()``."""

import duckdb
import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster._core.storage.db_io_manager import TablePartitionDimension, TableSlice
from dagster_duckdb.io_manager import DuckDbClient

from _shared_once import small_county_door
from assets.analysis import build_monthly_counts, build_state_intervals
from assets.cohorts import build_analysis_dataset, build_family_cohorts, build_index_episodes
from assets.ingest import DOOR_TABLES
from assets.spells import SPELLS
from assets.storage import _ARROW_EXACT, _keep_empty_duckdb_io_manager, load_frame
from evaluation.study import StudyConfig

LAS = ("825", "931")
PARTITIONS = dg.StaticPartitionsDefinition(list(LAS))
#: The tables written and read back, by schema (the asset key's prefix): every input of the pooled
#: steps, and door, spell and cohort tables for the per-council loads (children has a boolean
#: column holding NULLs, the quarantine of council 825 is empty). Every table of two runs' DuckDB
#: files was compared in the same way when load_frame was written (#20).
SCHEMAS = {"children": "pseudonymised", "cin_episodes": "pseudonymised", "families": "pseudonymised",
           "quarantine": "pseudonymised", "need_spells": "spells", "index_episodes": "cohorts",
           "analysis_dataset": "cohorts", "state_intervals": "cohorts", "monthly_counts": "cohorts"}
#: How the tables after the door's are built (each from the tables before it, as the assets are).
BUILDERS = {**{name: build for name, (build, *_) in SPELLS.items()},
            "index_episodes": build_index_episodes, "family_cohorts": build_family_cohorts,
            "analysis_dataset": build_analysis_dataset, "state_intervals": build_state_intervals,
            "monthly_counts": build_monthly_counts}


def assert_same_frames(new: pd.DataFrame, old: pd.DataFrame) -> None:
    """Equal to the bit, and more than ``assert_frame_equal`` looks at: the dtypes in order, the
    Python type of each cell of an object column (str/None, not numpy.str_ or NaN), where values are
    missing."""
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert [str(d) for d in new.dtypes] == [str(d) for d in old.dtypes]
    for name in new.columns:
        assert (pd.isna(new[name]).to_numpy() == pd.isna(old[name]).to_numpy()).all(), name
        if new[name].dtype == object:
            assert [type(v) for v in new[name]] == [type(v) for v in old[name]], name


def _select(name: str, las) -> str:
    """The SQL the DbIOManager issues for ``name``'s partitions ``las``."""
    return DuckDbClient.get_select_statement(TableSlice(
        table=name, schema=SCHEMAS[name],
        partition_dimensions=[TablePartitionDimension(partition_expr="la_code", partitions=list(las))]))


@pytest.fixture(scope="module")
def stored(small_county, tmp_path_factory):
    """The small county's tables written through the IO manager, and the inputs two assets got back:
    ``pooled`` (every council at once) and ``council`` (each council's partition)."""
    config = StudyConfig()
    tables = {}
    for la in LAS:
        door = small_county_door(tmp_path_factory, small_county, la)
        built = {name: door[name] for name in DOOR_TABLES}
        for name, build in BUILDERS.items():
            built[name] = build(built, config)
        tables[la] = built

    @dg.multi_asset(outs={name: dg.AssetOut(key=[schema, name], metadata={"partition_expr": "la_code"})
                          for name, schema in SCHEMAS.items()}, partitions_def=PARTITIONS)
    def writer(context: dg.AssetExecutionContext):   # one step for all the tables: Dagster's time
        for name in SCHEMAS:
            yield dg.Output(tables[context.partition_key][name], output_name=name)

    loaded = {"pooled": {}, "council": {}}
    ins = {name: dg.AssetIn(key=[schema, name]) for name, schema in SCHEMAS.items()}

    @dg.asset(ins=ins)
    def pooled_reader(**frames) -> pd.DataFrame:
        loaded["pooled"] = frames
        return pd.DataFrame({"tables": [len(frames)]})

    @dg.asset(ins=ins, partitions_def=PARTITIONS, metadata={"partition_expr": "la_code"})
    def council_reader(context: dg.AssetExecutionContext, **frames) -> pd.DataFrame:
        loaded["council"][context.partition_key] = frames
        return pd.DataFrame({"la_code": [context.partition_key]})

    database = str(tmp_path_factory.mktemp("storage_loads") / "tables.duckdb")
    resources = {"io_manager": _keep_empty_duckdb_io_manager(database)}
    instance = dg.DagsterInstance.ephemeral()
    for la in LAS:
        assert dg.materialize([writer, council_reader], partition_key=la, instance=instance,
                              resources=resources).success
    assert dg.materialize([writer, pooled_reader], selection=[pooled_reader], instance=instance,
                          resources=resources).success
    return database, loaded


def test_pooled_inputs_are_the_frames_df_gave(stored):
    database, loaded = stored
    assert set(loaded["pooled"]) == set(SCHEMAS)
    assert set(loaded["pooled"]["analysis_dataset"]["la_code"]) == set(LAS)
    disabled = loaded["pooled"]["children"]["disabled"]     # a NULL in a boolean column: .df()'s
    assert str(disabled.dtype) == "boolean" and disabled.isna().any()   # nullable dtype, made here
    with duckdb.connect(database, read_only=True) as connection:
        for name, frame in loaded["pooled"].items():
            assert_same_frames(frame, connection.execute(_select(name, LAS)).fetchdf())


def test_each_councils_inputs_are_the_frames_df_gave(stored):
    database, loaded = stored
    assert set(loaded["council"]) == set(LAS)
    with duckdb.connect(database, read_only=True) as connection:
        for la, frames in loaded["council"].items():
            for name, frame in frames.items():
                assert_same_frames(frame, connection.execute(_select(name, [la])).fetchdf())


def test_equal_texts_are_one_object(stored):
    """What saves the memory: ``.df()`` made a new ``str`` for every row of a text column."""
    _, loaded = stored
    frame = loaded["pooled"]["analysis_dataset"]
    for name in ("la_code", "child_id", "family_id", "outcome", "cohort"):
        texts = frame[name].dropna()
        assert len(texts) > texts.nunique()
        assert len({id(text) for text in texts}) == texts.nunique(), name


#: A value of each type, to fill the type checks' columns.
VALUES = {"VARCHAR": "'a'", "DOUBLE": "1.5", "FLOAT": "1.5", "BOOLEAN": "true", "NULL": "NULL",
          "BIGINT": "9007199254740993", "INTEGER": "-2", "SMALLINT": "3", "TINYINT": "4",
          "UBIGINT": "18446744073709551615", "UINTEGER": "5", "USMALLINT": "6", "UTINYINT": "7",
          "TIMESTAMP_NS": "'2020-01-01 00:00:00.123456789'", "TIMESTAMP": "'2020-01-01 00:00:00.123456'",
          "TIMESTAMP_MS": "'2020-01-01 00:00:00.123'", "TIMESTAMP_S": "'2020-01-01'",
          # read through .df(): the Arrow path would give other dtypes or objects
          "DATE": "'2020-01-01'", "DECIMAL(10,2)": "1.5", "HUGEINT": "1", "INTERVAL": "'1 day'",
          "TIME": "'01:02:03'", "BLOB": "'ab'", "UUID": "'00000000-0000-0000-0000-000000000001'",
          "VARCHAR[]": "['a']", "TIMESTAMPTZ": "'2020-01-01'", "JSON": "'{}'"}
#: The kinds above that load through Arrow (the rest through .df()).
ARROW_KINDS = set(VALUES) - {"DATE", "DECIMAL(10,2)", "HUGEINT", "INTERVAL", "TIME", "BLOB", "UUID",
                             "VARCHAR[]", "TIMESTAMPTZ", "JSON"}
SHAPES = {"values": ["x", "x"], "with NULL": ["x", "NULL", "x"], "all NULL": ["NULL"], "empty": []}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", VALUES)
def test_each_column_type_loads_as_df_gave(kind, shape):
    def typed(value):   # a column of type NULL is what DuckDB makes of an all-None pandas column
        return value if kind == "NULL" else f"{value}::{kind}"

    rows = [f"SELECT {typed(VALUES[kind] if v == 'x' else 'NULL')} AS c, {i} AS i"
            for i, v in enumerate(SHAPES[shape])]
    sql = " UNION ALL ".join(rows) if rows else f"SELECT {typed(VALUES[kind])} AS c, 0 AS i WHERE false"
    with duckdb.connect() as connection:
        connection.execute(f"CREATE TABLE t AS SELECT c, i, 'text ' || i AS s, (i / 2)::DOUBLE AS f "
                           f"FROM ({sql}) ORDER BY i")
        types = [str(t) for t in connection.sql("SELECT * FROM t").types]
        assert types[1:] == ["INTEGER", "VARCHAR", "DOUBLE"]
        # the Arrow path for the types it takes, .df() for the others
        assert all(t in _ARROW_EXACT for t in types) == (kind in ARROW_KINDS), types
        assert_same_frames(load_frame(connection, "SELECT * FROM t"),
                           connection.execute("SELECT * FROM t").fetchdf())


def test_the_arrow_types_are_the_ones_checked():
    assert ARROW_KINDS == {kind for kind in _ARROW_EXACT if '"' not in kind}


@pytest.mark.parametrize("change", ["nullable int as float", "None as NaN", "numpy text",
                                    "rows swapped", "datetime unit"])
def test_the_comparison_fails_on_what_it_must_catch(change):
    old = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "s": ["a", None],
                        "t": pd.to_datetime(["2020-01-01", "2021-01-01"]).astype("datetime64[ns]")})
    new = old.copy()
    if change == "nullable int as float":
        new["n"] = new["n"].astype("float64")
    elif change == "None as NaN":
        new["s"] = np.array(["a", np.nan], dtype=object)
    elif change == "numpy text":
        new["s"] = np.array([np.str_("a"), None], dtype=object)
    elif change == "rows swapped":
        new = new.iloc[::-1].reset_index(drop=True)
    else:
        new["t"] = new["t"].astype("datetime64[us]")
    with pytest.raises(AssertionError):
        assert_same_frames(new, old)
