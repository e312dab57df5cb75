"""Read the family-membership table from the case-management system.

The DfE returns are child-level only, so families come from the council's own
system: a CSV with ``person_id,family_id`` (or the Standard Safeguarding
Dataset names ``fami_person_id,fami_family_id``). Person ids share the child
id space of ``LAchildID`` / ``CHILD`` and are pseudonymised with the same key
and namespace, so they link; family ids get their own namespace.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evaluation.ingest import quarantine as q
from evaluation.ingest.csv_cells import read_csv_cells, short_rows
from evaluation.ingest.errors import InputError
from evaluation.ingest.extract import Extract
from evaluation.pseudonymise import CHILD, FAMILY, PseudonymisationKey, pseudonymise

DATASET = "families"
COLUMN_NAMES: tuple[tuple[str, str], ...] = (
    ("person_id", "family_id"),
    ("fami_person_id", "fami_family_id"),
)


def read_families(path: Path, key: PseudonymisationKey) -> Extract:
    """Read, check and pseudonymise the family table (one row per person and family)."""
    path = Path(path)
    frame, lines, fields = read_csv_cells(path)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    short, short_field = short_rows(frame, fields)
    blank = (frame.apply(lambda col: col.str.strip()) == "").all(axis=1)
    frame, lines, short, short_field = (frame.loc[~blank], lines.loc[~blank], short.loc[~blank],
                                        short_field.loc[~blank])
    for person, family in COLUMN_NAMES:
        if person in frame.columns and family in frame.columns:
            break
    else:
        raise InputError(f"{path.name}: needs columns person_id,family_id "
                         "(or fami_person_id,fami_family_id)")
    out = pd.DataFrame({
        "child_id": pseudonymise(frame[person], key, CHILD),
        "family_id": pseudonymise(frame[family], key, FAMILY),
        "line": lines,
        "element": pd.Series(pd.NA, index=frame.index, dtype="string"),
        "source_file": path.name,
        "collection_year": pd.Series(pd.NA, index=frame.index, dtype="Int64"),
    })
    del frame
    q.start_marks(out)
    q.mark(out, short, short_field, q.SHORT_ROW)
    q.mark(out, out["child_id"].isna(), person, q.MISSING_KEY)
    q.mark(out, out["family_id"].isna(), family, q.MISSING_KEY)
    extract = Extract(DATASET, path.name, None, None)
    usable, quarantined = q.split(out, "families")
    extract.tables["families"] = usable.reset_index(drop=True)
    extract.quarantine.append(quarantined)
    extract.rows_read["families"] = len(out)
    return extract
