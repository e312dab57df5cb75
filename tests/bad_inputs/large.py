"""Oversized inputs, written on the fly, and the ingest measured in a fresh process.

Each writer streams its file in chunks (nothing large is built in memory) into
a copy of the base folder. :func:`measure` runs in a child process (``python -m
bad_inputs.large CASE FOLDER``) so that its peak resident memory
(``ru_maxrss``) belongs to this ingest alone; it prints one JSON line:
the outcome, the message of an InputError, the peak memory above the
process's footprint after imports, the seconds taken and whether every file
reconciles. Run it by hand to print the figures::

    cd tests && ../.venv/bin/python -m bad_inputs.large csv_many_rows /tmp/many/931 1000000
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

MB = 1 << 20
FIELD_BYTES = 50 * MB
MANY_ROWS = 10_000  # the test; `... csv_many_rows FOLDER 1000000` for the figure
_CHUNK = MB


def _field(handle, total: int, unit: str = "A") -> None:
    """Write ``total`` characters of ``unit`` in 1 MB chunks."""
    chunk = unit * _CHUNK
    written = 0
    while written < total:
        n = min(_CHUNK, total - written)
        handle.write(chunk if n == _CHUNK else chunk[:n])
        written += n


def csv_50mb_field(folder: Path) -> None:
    """episodes.csv whose REASON_PLACE_CHANGE on line 3 is one 50 MB field (quoted, no newline)."""
    from bad_inputs.cases import EPISODES

    path = folder / EPISODES
    lines = path.read_text(encoding="utf-8").splitlines()
    with path.open("w", encoding="utf-8") as handle:
        handle.write("\n".join(lines[:2]) + "\n")
        cells = lines[2].split(",")
        column = lines[0].split(",").index("REASON_PLACE_CHANGE")
        handle.write(",".join(cells[:column]) + ',"')
        _field(handle, FIELD_BYTES)
        handle.write('",' + ",".join(cells[column + 1:]) + "\n")
        handle.write("\n".join(lines[3:]) + "\n")


def xml_50mb_text_node(folder: Path) -> None:
    """cin_2020.xml whose first UPN (line 22) is a 50 MB text node."""
    from bad_inputs.cases import CIN_FILE

    path = folder / CIN_FILE
    before, after = path.read_text(encoding="utf-8").split("A123456789012", 1)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(before)
        _field(handle, FIELD_BYTES, "9")
        handle.write(after)


def csv_many_rows(folder: Path, rows: int = MANY_ROWS) -> None:
    """A header.csv and episodes.csv of ``rows`` children each, and their family table."""
    from bad_inputs.cases import EPISODES, FAMILIES, HEADER

    with (folder / HEADER).open("w", encoding="utf-8") as header, \
            (folder / EPISODES).open("w", encoding="utf-8") as episodes, \
            (folder / FAMILIES).open("w", encoding="utf-8") as families:
        header.write("CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n")
        episodes.write("CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,"
                       "HOME_POST,PL_POST,URN\n")
        families.write("person_id,family_id\n")
        for start in range(0, rows, 10_000):
            ids = [f"{i:08d}" for i in range(start, min(start + 10_000, rows))]
            header.write("".join(f"{c},{1 + int(c) % 2},{1 + int(c) % 28:02d}/0{1 + int(c) % 9}"
                                 "/2012,WBRI,,,\n" for c in ids))
            episodes.write("".join(f"{c},{1 + int(c) % 28:02d}/05/2020,S,C2,N1,U1,PR1,,,,,,\n"
                                   for c in ids))
            families.write("".join(f"{c},F{int(c) // 3}\n" for c in ids))


WRITERS = {f.__name__: f for f in (csv_50mb_field, xml_50mb_text_node, csv_many_rows)}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def measure(name: str, folder: Path, rows: int | None = None) -> dict:
    """Build case ``name`` in ``folder`` (must not exist), ingest it, report outcome and cost."""
    import secrets

    import pandas as pd

    from bad_inputs.cases import make_base
    from evaluation.ingest import InputError, ingest_local_authority
    from evaluation.ingest.assemble import check_reconciliation
    from evaluation.pseudonymise import load_key

    make_base(folder, ("cin",) if name.startswith("xml") else ("ssda903",))
    WRITERS[name](folder, *([rows] if rows else []))
    file_mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / MB
    key = load_key(secrets.token_hex(32))
    baseline = _peak_mb()
    start = time.perf_counter()
    out = {"case": name, "input_mb": round(file_mb, 1)}
    try:
        tables = ingest_local_authority(folder, key)
    except InputError as err:
        out.update(outcome="InputError", message=str(err))
    except Exception as err:  # noqa: BLE001 - reported to the test, which fails on it
        out.update(outcome=type(err).__name__, message=str(err)[:500])
    else:
        check_reconciliation(tables["reconciliation"])
        quarantine = tables["quarantine"]
        out.update(outcome="ingested", reconciled=True,
                   rows_read=int(tables["reconciliation"]["rows_read"].sum()),
                   quarantine=[[r.dataset, r.source_file, None if pd.isna(r.line) else int(r.line),
                                r.field, r.reason] for r in quarantine.head(5).itertuples()],
                   quarantined=len(quarantine))
    out["seconds"] = round(time.perf_counter() - start, 2)
    out["baseline_mb"] = round(baseline, 1)
    out["peak_above_baseline_mb"] = round(_peak_mb() - baseline, 1)
    return out


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], Path(sys.argv[2]),
                             int(sys.argv[3]) if len(sys.argv) > 3 else None)))
