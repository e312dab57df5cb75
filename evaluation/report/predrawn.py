"""Figures drawn before the release, from tables the release will carry unchanged.

The comparison-area figures (:func:`~evaluation.report.comparison_section.comparison_figures`) are
drawn from the released comparison tables, which are published DfE aggregates: they need no
disclosure control and depend on no council's records, so they can be drawn as soon as the
comparison areas are fitted, beside the councils' runs, rather than in the release at the end of
the pipeline (about a quarter of its figures' time).

Each figure is kept with a digest of the comparison tables it was drawn from
(:func:`tables_digest`). The release uses it only when its own comparison tables have the same
digest and it plans exactly the same comparison figures (:func:`usable`); otherwise it draws them
itself, as before. Either way the PNG is the one the release would draw: the same function on the
same tables.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping

import pandas as pd

from evaluation.report.comparison_section import COMPARISON_SCHEMAS, comparison_figure_plan, comparison_figures
from evaluation.report.drawing import long_lived_objects_frozen
from evaluation.tables import content_digest

#: Columns of a table of figures drawn beforehand.
COLUMNS = ("figure", "png", "drawn_from")


def tables_digest(tables: Mapping[str, pd.DataFrame], names=tuple(COMPARISON_SCHEMAS)) -> str:
    """SHA-256 over ``names`` present in ``tables``: each name and its table's
    :func:`~evaluation.tables.content_digest`."""
    digest = hashlib.sha256()
    for name in names:
        table = tables.get(name)
        if table is None:
            continue
        digest.update(name.encode() + b"\x00")
        try:
            digest.update(content_digest(table))
        except TypeError:   # a value pandas cannot hash (e.g. a list): its text instead
            digest.update(content_digest(table.astype(str)))
    return digest.hexdigest()


def draw_comparison(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The comparison figures of the released comparison ``tables``, one row per figure (in the
    report's order): ``figure``, ``png`` (the file's bytes) and ``drawn_from`` (the tables' digest)."""
    drawn_from = tables_digest(tables)
    with tempfile.TemporaryDirectory() as folder, long_lived_objects_frozen():
        paths = comparison_figures(tables, folder)
        pngs = [path.read_bytes() for path in paths.values()]
    return pd.DataFrame({"figure": pd.Series(list(paths), dtype=object), "png": pd.Series(pngs, dtype=object),
                         "drawn_from": pd.Series([drawn_from] * len(pngs), dtype=object)})


def usable(predrawn: pd.DataFrame | None, tables: Mapping[str, pd.DataFrame]) -> dict[str, bytes]:
    """Figure name -> PNG bytes of ``predrawn`` when they were drawn from exactly the comparison
    tables in ``tables`` and are exactly the comparison figures those tables give; else empty (the
    release then draws them)."""
    if predrawn is None or predrawn.empty or not set(COLUMNS) <= set(predrawn.columns):
        return {}
    if set(predrawn["drawn_from"]) != {tables_digest(tables)}:
        return {}
    planned = [name for name, _, _ in comparison_figure_plan(tables)]
    if list(predrawn["figure"]) != planned:
        return {}
    return {str(name): bytes(png) for name, png in zip(predrawn["figure"], predrawn["png"])}
