"""The cluster's storage option: pseudonymised tables as parquet, one file per local authority.

Round-trips contract tables (evaluation.tables) through Dagster with the parquet IO manager on a
local folder, partitioned by LA, and checks dtypes, missing values, leading zeros, the hive-style
layout and the pooled (all-LA) load. The same IO manager on ``s3://`` runs in
tests/test_deploy_postgres.py against a loopback S3 server.
"""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets.storage import (
    PARQUET_ROOT_ENV_VAR,
    STORAGE_ENV_VAR,
    ParquetIOManager,
    io_manager_from_env,
)
from evaluation import tables as contract

LAS = ("001", "931")  # "001" checks that leading zeros survive the path and the file
las = dg.StaticPartitionsDefinition(list(LAS))


def _children(la: str) -> pd.DataFrame:
    return contract.conform(pd.DataFrame({
        "la_code": [la, la, la],
        "child_id": ["00a1b2c3d4e5f607", "ffeeddccbbaa9988", "0123456789abcdef"],
        "birth_month": pd.to_datetime(["2012-03-01", None, "2019-11-01"]),
        "sex": ["F", pd.NA, "U"],
        "ethnicity": ["WBRI", "MWBC", pd.NA],
        "death_date": pd.to_datetime([None, None, "2021-02-14"]),
        "disabled": [True, pd.NA, False],
        "in_cin_census": [True, True, False],
        "in_ssda903": [False, pd.NA, True],
        "national_id": [pd.NA, pd.NA, pd.NA],
    }), "children")


def _cp_plans(la: str) -> pd.DataFrame:
    return contract.conform(pd.DataFrame({
        "la_code": [la, la],
        "child_id": ["00a1b2c3d4e5f607", "0123456789abcdef"],
        "episode_id": ["1111111111111111", "2222222222222222"],
        "start_date": pd.to_datetime(["2020-06-30", "2021-01-04"]),
        "end_date": pd.to_datetime(["2021-03-31", None]),
        "initial_category": ["NEG", "EMO"],
        "latest_category": ["NEG", pd.NA],
        "previous_cpp": [0, pd.NA],
        "review_count": [3, 1],
        "collection_year": [2021, 2021],
    }), "cp_plans")


def _tables(la: str) -> dict[str, pd.DataFrame]:
    # A table with rows, one with missing values of every dtype, and an empty one.
    return {"children": _children(la), "cp_plans": _cp_plans(la), "quarantine": contract.empty("quarantine")}


@dg.multi_asset(outs={name: dg.AssetOut(key_prefix=["pseudonymised"]) for name in _tables("931")},
                partitions_def=las)
def door(context: dg.AssetExecutionContext):
    for name, frame in _tables(context.partition_key).items():
        yield dg.Output(frame, output_name=name)


@dg.asset(ins={"children": dg.AssetIn(key=["pseudonymised", "children"])}, partitions_def=las)
def children_copy(children: pd.DataFrame) -> pd.DataFrame:
    """Per-LA downstream: loads one partition."""
    return children


@dg.asset(ins={"cp_plans": dg.AssetIn(key=["pseudonymised", "cp_plans"]),
               "quarantine": dg.AssetIn(key=["pseudonymised", "quarantine"])})
def pooled(cp_plans: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    """Pooled downstream: loads every LA partition as one frame."""
    assert len(quarantine) == 0 and list(quarantine.columns) == list(contract.TABLES["quarantine"])
    return cp_plans


@pytest.fixture
def materialised(tmp_path):
    manager = ParquetIOManager(root=str(tmp_path / "store"))
    instance = dg.DagsterInstance.ephemeral()
    for la in LAS:
        result = dg.materialize([door, children_copy], partition_key=la, instance=instance,
                                resources={"io_manager": manager})
        assert result.success
    result = dg.materialize([door, pooled], selection=[pooled], instance=instance,
                            resources={"io_manager": manager})
    assert result.success
    return tmp_path / "store", result


def test_layout_is_hive_style_by_local_authority(materialised):
    root, _ = materialised
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    assert files == sorted(
        [f"pseudonymised/{t}/la_code={la}/data.parquet" for t in ("children", "cp_plans", "quarantine")
         for la in LAS]
        + [f"children_copy/la_code={la}/data.parquet" for la in LAS]
        + ["pooled.parquet"]
    )


def test_each_partition_round_trips_with_contract_dtypes(materialised):
    root, _ = materialised
    for la in LAS:
        for name, expected in _tables(la).items():
            stored = pd.read_parquet(root / "pseudonymised" / name / f"la_code={la}" / "data.parquet")
            pd.testing.assert_frame_equal(stored, expected)
        # ... and through Dagster into a per-LA downstream asset.
        copy = pd.read_parquet(root / "children_copy" / f"la_code={la}" / "data.parquet")
        pd.testing.assert_frame_equal(copy, _children(la))


def test_pooled_load_stacks_every_local_authority_in_order(materialised):
    _, result = materialised
    expected = pd.concat([_cp_plans(la) for la in LAS], ignore_index=True)
    pd.testing.assert_frame_equal(result.output_for_node("pooled"), expected)


def test_layout_reads_as_one_table_in_duckdb(materialised):
    root, _ = materialised
    counts = duckdb.sql(
        f"SELECT la_code, count(*) AS n FROM read_parquet('{root}/pseudonymised/children/*/*.parquet', "
        "hive_partitioning = true) GROUP BY la_code ORDER BY la_code").fetchall()
    assert counts == [("001", 3), ("931", 3)]


def test_unsafe_partition_key_is_refused(tmp_path):
    unsafe = dg.StaticPartitionsDefinition(["../escape"])

    @dg.asset(partitions_def=unsafe)
    def table() -> pd.DataFrame:
        return contract.empty("repairs")

    with pytest.raises(ValueError, match="not a safe path segment"):
        dg.materialize([table], partition_key="../escape",
                       resources={"io_manager": ParquetIOManager(root=str(tmp_path))})
    assert not list(tmp_path.rglob("*.parquet"))


def test_non_frame_output_is_refused(tmp_path):
    @dg.asset
    def not_a_frame() -> dict:
        return {"a": 1}

    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        dg.materialize([not_a_frame], resources={"io_manager": ParquetIOManager(root=str(tmp_path))})


def test_storage_is_chosen_by_environment(monkeypatch, tmp_path):
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    monkeypatch.delenv(STORAGE_ENV_VAR, raising=False)
    monkeypatch.delenv(PARQUET_ROOT_ENV_VAR, raising=False)
    local = io_manager_from_env(database=str(tmp_path / "x.duckdb"))
    assert isinstance(local, DuckDBPandasIOManager) and local.database == str(tmp_path / "x.duckdb")

    monkeypatch.setenv(STORAGE_ENV_VAR, "parquet")
    with pytest.raises(ValueError, match=PARQUET_ROOT_ENV_VAR):
        io_manager_from_env()
    monkeypatch.setenv(PARQUET_ROOT_ENV_VAR, "s3://fsp-evaluation/intermediate")
    cluster = io_manager_from_env()
    assert isinstance(cluster, ParquetIOManager) and cluster.root == "s3://fsp-evaluation/intermediate"

    monkeypatch.setenv(STORAGE_ENV_VAR, "sqlite")
    with pytest.raises(ValueError, match="duckdb' or 'parquet"):
        io_manager_from_env()
