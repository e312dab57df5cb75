"""Write a whole release folder: tables, figures, the report and the output checker's log.

:func:`write_release` takes released (already disclosure-controlled) tables,
writes each as CSV, draws the figures, builds the HTML report and records
every file in an :class:`~evaluation.disclosure.OutputLog`, whose
``results.json`` the output checker opens in SACRO-Viewer. A table without
disclosure information (``attrs["disclosure"]``, lost e.g. through Parquet)
and the figure drawn from it go to ``review`` rather than ``pass``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from evaluation.disclosure import DEFAULT, DisclosureConfig, OutputLog
from evaluation.report.build import build_report
from evaluation.report.drawing import draw_release_figures


@dataclass(frozen=True)
class Release:
    """Where a release was written."""

    directory: Path
    report: Path
    results_json: Path
    tables: dict[str, Path]
    figures: dict[str, Path]
    statuses: dict[str, int]


def _check(table: pd.DataFrame) -> str:
    return "pass" if table.attrs.get("disclosure") else "review"


def write_release(
    tables: Mapping[str, pd.DataFrame],
    directory: str | Path,
    context: Mapping[str, Any] | None = None,
    config: DisclosureConfig = DEFAULT,
) -> Release:
    """Write ``tables/*.csv``, ``figures/*.png``, ``report.html`` and ``results.json`` under ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    log = OutputLog(directory, config)
    table_paths = {}
    for name, table in tables.items():
        path = directory / "tables" / f"{name}.csv"
        log.add_table(path, table, checks={"DisclosureControlApplied": _check(table)})
        table_paths[name] = path
    figures = draw_release_figures(tables, directory / "figures")
    for name, path in figures.items():
        log.add(path, {"DrawnFromReleasedTable": _check(tables[name]), "RasterImage": "pass"},
                output_type="figure", comments=[f"drawn from tables/{name}.csv"])
    context = dict(context or {})
    context.setdefault("disclosure", {
        "smallest count shown": config.threshold, "counts rounded to": config.rounding_base,
        "zeros suppressed": "yes" if config.suppress_zeros else "no",
        "fewest at risk on a curve": config.min_at_risk,
        "fewest people behind a percentage or mean": config.min_denominator,
    })
    context.setdefault("output_log", log.statuses())
    report = build_report(tables, figures, context, directory / "report.html")
    worst = "pass" if log.statuses()["review"] == log.statuses()["fail"] == 0 else "review"
    log.add(report, {"BuiltFromReleasedOutputs": worst, "SelfContained": "pass"}, output_type="report")
    results = log.write()
    return Release(directory, report, results, table_paths, figures, log.statuses())
