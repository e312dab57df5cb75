"""A council CSV as text cells, each record with the physical line it starts on.

Shared by the SSDA903 and family-table readers. The file must be UTF-8 (a byte-order mark, as
Excel's "CSV UTF-8" writes, is fine; so are CRLF line ends). A quoted field may span lines, so
a record's ``line`` is where it starts in the file, not its record number: that is the line a
council opens the file at. Problems are :class:`InputError` naming the file and a position,
never quoting the content.
"""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

import pandas as pd

from evaluation.ingest.errors import InputError

#: A free-text column may hold long fields (a pasted case note): allow up to 1 GiB a field, as
#: the pandas reader did, rather than the csv module's 128 KiB.
FIELD_SIZE_LIMIT = 1 << 30


def read_csv_cells(path: Path) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """All cells as text, the physical line of each record, and its number of fields.

    Column names are stripped; the header is line 1. A record with more fields than the header
    is an error (an unquoted comma shifts every later field). A record with FEWER fields (a row
    cut short, as the last line of a truncated file) is padded with "" so that the frame is
    rectangular, and its field count says so: the readers quarantine it (:func:`short_rows`),
    never use its padded blanks as if the council had left those fields empty.
    """
    path = Path(path)
    if csv.field_size_limit() < FIELD_SIZE_LIMIT:
        csv.field_size_limit(FIELD_SIZE_LIMIT)
    records, starts, next_line, reader = [], [], 1, None
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:   # streamed, not copied
            reader = csv.reader(handle)
            for record in reader:
                records.append(record)
                starts.append(next_line)
                next_line = reader.line_num + 1
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not UTF-8 text ({_undecodable_at(path)}); "
                         "save it as CSV UTF-8") from None
    except csv.Error:
        raise InputError(f"{path.name}: not a readable CSV (near line {reader.line_num})") from None
    except OSError as err:
        raise InputError(f"{path.name}: cannot be read ({err.strerror or 'I/O error'})") from None
    if not records:
        raise InputError(f"{path.name}: is empty (no line of column names)")
    check_column_names(records[0], path.name)
    header = [name.strip() for name in records[0]]
    width = len(header)
    for record, start in zip(records[1:], starts[1:]):
        if len(record) > width:
            raise InputError(f"{path.name}: not a readable CSV: line {start} has {len(record)} fields, "
                             f"the header has {width}")
    rows = [record + [""] * (width - len(record)) for record in records[1:]]
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(
        {name: pd.Series(dtype=object) for name in dict.fromkeys(header)})
    fields = pd.Series([len(record) for record in records[1:]], dtype="int64")
    return frame.astype(str) if rows else frame, pd.Series(starts[1:], dtype="int64"), fields


def short_rows(frame: pd.DataFrame, fields: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Rows with fewer fields than the header, and the first column each lacks.

    Both aligned with ``frame``'s index (``fields`` is positional, as :func:`read_csv_cells`
    returns it). A blank line is not short: the readers skip blank lines.
    """
    width = len(frame.columns)
    counts = pd.Series(fields.to_numpy(), index=frame.index)
    short = (counts < width) & (counts > 0)
    columns = list(frame.columns)
    first_missing = counts.map(lambda n: columns[n] if 0 <= n < width else pd.NA).astype("string")
    return short, first_missing


def check_column_names(names: list, file_name: str) -> None:
    """:class:`InputError` when two columns have the same name, ignoring case and surrounding
    space (``CHILD`` and ``child``): which one the reader used would be a guess. Names the
    column positions (1-based), not the names: a file without a header row has data there."""
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        positions.setdefault(str(name).strip().upper(), []).append(i)
    repeated = [p for p in positions.values() if len(p) > 1]
    if repeated:
        where = "; ".join(" and ".join(str(i) for i in p) for p in repeated)
        raise InputError(f"{file_name}: line 1: columns {where} have the same name (ignoring case "
                         "and spaces); name each column once")


def _undecodable_at(path: Path) -> str:
    """``line L, byte B`` of the first byte that is not UTF-8 (read again only on that error)."""
    data = path.read_bytes()
    body = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as err:
        offset = len(data) - len(body) + err.start
        line = data[:offset].count(b"\n") + 1
        return f"line {line}, byte {offset}"
    return "position unknown"
