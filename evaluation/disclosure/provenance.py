"""The disclosure record of a release as a table of its own.

Each released table carries what disclosure control did to it (thresholds, rounding, cells
suppressed, the public source of a published aggregate) in ``DataFrame.attrs["disclosure"]``.
Attributes do not survive a Parquet file, so the release also writes them out as
``disclosure_log``: one typed row per table and setting or count, read back like any other table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

DISCLOSURE_LOG = "disclosure_log"
COLUMNS: tuple[str, ...] = ("table", "item", "value")


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        if not value:
            return [(prefix, "{}")]
        return [row for key, inner in value.items()
                for row in _flatten(f"{prefix}.{key}" if prefix else str(key), inner)]
    if isinstance(value, (list, tuple)):
        return [(prefix, json.dumps(list(value), default=str))]
    return [(prefix, "" if value is None else str(value))]


def disclosure_log(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per released table × disclosure item (nested items joined with dots); a table with
    no record says so (``item`` "none"), so nothing released goes unlisted."""
    rows = []
    for name, table in tables.items():
        if name == DISCLOSURE_LOG:
            continue
        items = _flatten("", table.attrs.get("disclosure", {}))
        if items == [("", "{}")]:
            items = [("none", "no disclosure record")]
        rows += [(name, item, value) for item, value in items]
    out = pd.DataFrame(rows, columns=list(COLUMNS)).astype("string")
    out.attrs["disclosure"] = {"content": "disclosure settings and counts of suppressed cells per "
                                          "released table; no records or values of people"}
    return out
