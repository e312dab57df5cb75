"""Ingest and pseudonymise: the door. Raw values live only in memory inside this asset."""


from pathlib import Path

import dagster as dg
import pandas as pd

from assets.partitions import local_authorities
from assets.resources import (
    InputFolder, KeyChangedError, PseudonymisationKeyResource, check_key_continuity,
)
from evaluation import tables as contract
from evaluation.ingest import ingest_local_authority

#: Pseudonymised tables the door produces (stored in DuckDB schema ``pseudonymised``).
DOOR_TABLES: dict[str, str] = {
    "children": "One row per child: birth month, sex, ethnicity (pseudonymised).",
    "cin_episodes": "CIN episodes de-duplicated across collection years (later submission wins); "
                    "their sub-records are the union over every return.",
    "assessments": "Assessments of each CIN episode.",
    "assessment_factors": "Factors identified at assessment, one row per factor.",
    "cin_plans": "CIN plans.",
    "section47s": "Section 47 enquiries.",
    "cp_plans": "Child protection plans.",
    "care_episodes": "SSDA903 episodes after multi-year assembly and repair.",
    "families": "Child → family links from the case-management system.",
    "extracts": "Each collection read, with its reference date (censors follow-up).",
    "quarantine": "Rows that could not be used, with file, position, field and reason.",
    "reconciliation": "Per file: rows read = kept + quarantined + merged.",
    "repairs": "Repairs of the multi-year assembly, counted by rule.",
    "duplicates": "Every merged row: its file and line/element → the kept row it duplicates, and the rule.",
}


@dg.multi_asset(
    outs={
        name: dg.AssetOut(
            key_prefix=["pseudonymised"],
            description=description,
            group_name="pseudonymised",
            kinds={"duckdb", "pandas"},
            is_required=True,
            metadata={"partition_expr": "la_code"},
        )
        for name, description in DOOR_TABLES.items()
    },
    name="ingest_and_pseudonymise",
    partitions_def=local_authorities,
    description=(
        "Reads every local authority's CIN census XML, SSDA903 CSVs and family table, assembles the "
        "collection years, and pseudonymises at the door (keyed HMAC-SHA256). No raw identifier is "
        "returned, stored or logged."
    ),
)
def ingest_and_pseudonymise(
    context: dg.AssetExecutionContext,
    pseudonymisation_key: PseudonymisationKeyResource,
    input_folder: InputFolder,
):
    key = pseudonymisation_key.get()
    try:
        check_key_continuity(context.instance, key.fingerprint, pseudonymisation_key.allow_key_change)
    except KeyChangedError as err:
        raise dg.Failure(description=str(err), allow_retries=False) from None
    folder = input_folder.local_authority_folder(context.partition_key)
    context.log.info(f"ingesting local authority {context.partition_key}")
    tables = ingest_local_authority(folder, key, input_root=Path(input_folder.path),
                                    national_upn_link=pseudonymisation_key.national_upn_link)
    for name in DOOR_TABLES:
        frame = contract.conform(tables[name], name)
        metadata = {"dagster/row_count": len(frame), "key_fingerprint": key.fingerprint}
        if name == "reconciliation":
            metadata.update(_reconciliation_metadata(frame))
        if name == "extracts" and "ignored_files" in tables:
            ignored = tables["ignored_files"]
            metadata["ignored_files"] = dg.MetadataValue.json(
                [f"{r.source_file} ({r.table})" for r in ignored.itertuples()])
        if name == "quarantine":
            metadata["reasons"] = dg.MetadataValue.json(
                {str(k): int(v) for k, v in frame["reason"].value_counts().items()}
            )
        yield dg.Output(frame, output_name=name, metadata=metadata)


def _reconciliation_metadata(frame: pd.DataFrame) -> dict:
    totals = frame[["rows_read", "rows_kept", "rows_quarantined", "rows_merged"]].sum()
    return {
        "rows_read": int(totals["rows_read"]),
        "rows_kept": int(totals["rows_kept"]),
        "rows_quarantined": int(totals["rows_quarantined"]),
        "rows_merged": int(totals["rows_merged"]),
        "files": int(frame["source_file"].nunique()),
        # Entries of the folder not read with data: each with why (file paths only, no values).
        "not_read": dg.MetadataValue.json(
            [f"{r.source_file} ({r.status}: {r.note})" for r in frame.itertuples()
             if r.status != "read"] if "status" in frame else []),
    }
