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


def test_failing_blocking_check_stops_downstream(tmp_path):
    result = _run(_canary_tables(), _checks_on("children", "families"), tmp_path,
                  extra_assets=[downstream_of_children])
    assert not result.success
    failed = {(e.asset_key.path[-1], e.check_name) for e in result.get_asset_check_evaluations()
              if not e.passed}
    assert ("children", "pseudonyms") in failed
    materialised = {e.asset_key.path[-1] for e in result.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert "children" in materialised
    assert "downstream_of_children" not in materialised


def test_no_identifying_value_in_metadata_or_data_docs(tmp_path):
    result = _run(_canary_tables(), _checks_on("children", "families"), tmp_path)
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
