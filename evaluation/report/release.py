"""Write a whole release folder: tables, schema, figures, the report and the output checker's log.

:func:`write_release` takes released (already disclosure-controlled) tables
(:func:`~evaluation.report.assemble.release_tables`) and writes

* ``tables/<name>.parquet`` — typed, for analysts and notebooks;
* ``tables/<name>.csv`` — the same table as text, because the output checker
  reviews files in SACRO-Viewer, which shows CSV and PNG but cannot open
  Parquet; a checker must be able to read every number that leaves;
* ``schema.json`` — every table's description and the meaning of each column;
* ``figures/<name>.png``, ``report.html``, ``report.pdf`` (the same report printed by
  headless Chromium) and the output checker's ``results.json`` (every file with its
  checks and SHA-256).

A table without disclosure information (``attrs["disclosure"]``, lost e.g.
through Parquet) and the figures drawn from it go to ``review`` rather than
``pass``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from evaluation.disclosure import DEFAULT, DisclosureConfig, OutputLog
from evaluation.disclosure.output_log import _jsonable
from evaluation.report.assemble import schema_for
from evaluation.report.build import DEMO_KEY_NOTICE, build_report
from evaluation.report.comparison_section import COMPARISON_SCHEMAS
from evaluation.report.drawing import draw_release_figures, figure_sources
from evaluation.report.pdf import PdfUnavailable, render_pdf

SCHEMA_FILE = "schema.json"
PDF_FILE = "report.pdf"


@dataclass(frozen=True)
class Release:
    """Where a release was written."""

    directory: Path
    report: Path
    results_json: Path
    tables: dict[str, Path]
    figures: dict[str, Path]
    statuses: dict[str, int]
    schema: Path | None = None
    parquet: dict[str, Path] | None = None
    pdf: Path | None = None


def _check(table: pd.DataFrame) -> str:
    return "pass" if table.attrs.get("disclosure") else "review"


def _sdc(table: pd.DataFrame) -> dict[str, Any]:
    """The SDC summary of a table for the checker (as OutputLog.add_table records it)."""
    info = dict(table.attrs.get("disclosure", {}))
    sdc: dict[str, Any] = {"summary": {}, "cells": {}}
    for column, rows in info.get("suppressed_rows", {}).items():
        if column in table.columns:
            position = list(table.columns).index(column)
            sdc["cells"].setdefault("Suppressed", []).extend([[int(r), position] for r in rows])
    for key in ("primary", "secondary"):
        if key in info:
            values = info[key].values() if isinstance(info[key], dict) else [info[key]]
            sdc["summary"][f"{key}_suppressions"] = int(sum(
                sum(v.values()) if isinstance(v, dict) else v for v in values))
    if "not_estimable_rows" in info:
        sdc["summary"]["not_estimable_rows"] = info["not_estimable_rows"]
    return sdc


def _parquet_ready(table: pd.DataFrame) -> pd.DataFrame:
    """Object columns as text (None kept), so that each Parquet column has one type."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: None if v is None or (isinstance(v, float) and v != v)
                                          else str(v))
    return out


def table_schema(name: str, table: pd.DataFrame) -> dict[str, Any]:
    """A table's schema entry: description, and per column its type and meaning."""
    try:
        schema = schema_for(name)
        description, meanings = schema.description, schema.columns
    except KeyError:
        description, meanings = "Released table (no schema registered).", {}
    return {"description": description, "files": [f"tables/{name}.parquet", f"tables/{name}.csv"],
            "rows": int(len(table)),
            "columns": [{"name": str(c), "type": str(table[c].dtype), "meaning": meanings.get(str(c), "")}
                        for c in table.columns]}


def _write_tables(tables: Mapping[str, pd.DataFrame], directory: Path, context: Mapping[str, Any] | None,
                  config: DisclosureConfig) -> tuple[OutputLog, dict[str, Path], dict[str, Path], Path]:
    """Each table as CSV and Parquet, and ``schema.json``, into a new output log."""
    log = OutputLog(directory, config)
    if (context or {}).get("demo_key"):
        log.session_notes.append(DEMO_KEY_NOTICE)
    csv_paths, parquet_paths, schema = {}, {}, {}
    for name, table in tables.items():
        csv = directory / "tables" / f"{name}.csv"
        log.add_table(csv, table, checks={"DisclosureControlApplied": _check(table)})
        csv_paths[name] = csv
        parquet = directory / "tables" / f"{name}.parquet"
        _parquet_ready(table).to_parquet(parquet, index=False)
        log.add(parquet, {"DisclosureControlApplied": _check(table)}, output_type="table",
                properties={"disclosure": _jsonable(table.attrs.get("disclosure", {}))}, sdc=_sdc(table),
                comments=[f"same content as tables/{name}.csv"])
        parquet_paths[name] = parquet
        schema[name] = table_schema(name, table)
    schema_path = directory / SCHEMA_FILE
    schema_path.write_text(json.dumps({"disclosure": _jsonable(asdict(config)), "tables": schema}, indent=2),
                           encoding="utf-8")
    log.add(schema_path, {"NoData": "pass"}, output_type="custom", comments=["column descriptions only"])
    return log, csv_paths, parquet_paths, schema_path


def write_release(
    tables: Mapping[str, pd.DataFrame],
    directory: str | Path,
    context: Mapping[str, Any] | None = None,
    config: DisclosureConfig = DEFAULT,
    pdf_report: bool = True,
    predrawn: Mapping[str, bytes] | None = None,
    processes: int = 1,
) -> Release:
    """Write tables (Parquet and CSV), ``schema.json``, figures, ``report.html``, ``report.pdf`` (printed
    from the HTML by headless Chromium; when Chromium is missing the checker's log says so) and
    ``results.json``. ``predrawn``: the comparison-area figures already drawn from these tables'
    comparison tables (:func:`evaluation.report.predrawn.usable`), written as they are. ``processes``:
    how many processes draw the figures (:func:`~evaluation.report.drawing.draw_release_figures`)."""
    directory = Path(directory)
    (directory / "tables").mkdir(parents=True, exist_ok=True)
    log, csv_paths, parquet_paths, schema_path = _write_tables(tables, directory, context, config)
    figures = _figures(tables, directory / "figures", predrawn or {}, processes)
    sources = figure_sources(tables)
    for name, path in figures.items():
        source = sources.get(name, name)
        public = tables[source].attrs.get("disclosure", {}).get("public_source")  # published aggregates (#17)
        log.add(path, {"DrawnFromReleasedTable": _check(tables[source]), "RasterImage": "pass"},
                output_type="figure", comments=[f"drawn from tables/{source}.csv"],
                properties={"disclosure": {"public_source": public}} if public else None)
    context = dict(context or {})
    context.setdefault("disclosure", {
        "smallest count shown": config.threshold, "counts rounded to": config.rounding_base,
        "zeros suppressed": "yes" if config.suppress_zeros else "no",
        "fewest at risk on a curve": config.min_at_risk,
        "fewest people behind a percentage or mean": config.min_denominator,
    })
    if "validation" not in context and tables.get("validation_summary") is not None:
        context["validation"] = validation_rows(tables["validation_summary"])
    context.setdefault("output_log", log.statuses())
    report = build_report(tables, figures, context, directory / "report.html")
    worst = "pass" if log.statuses()["review"] == log.statuses()["fail"] == 0 else "review"
    log.add(report, {"BuiltFromReleasedOutputs": worst, "SelfContained": "pass"}, output_type="report")
    pdf = None
    if pdf_report:
        try:
            pdf = render_pdf(report, directory / PDF_FILE)
        except PdfUnavailable as error:
            log.session_notes.append(f"{PDF_FILE} was not produced: {error}")
        else:
            log.add(pdf, {"BuiltFromReleasedOutputs": worst, "RasterFiguresOnly": raster_figures_only(report)},
                    output_type="report",
                    comments=["report.html printed by headless Chromium (no network); same content, its "
                              "figures the released PNGs"])
    results = log.write()
    return Release(directory, report, results, csv_paths, figures, log.statuses(), schema_path, parquet_paths,
                   pdf)


def _figures(tables: Mapping[str, pd.DataFrame], directory: Path,
             predrawn: Mapping[str, bytes], processes: int = 1) -> dict[str, Path]:
    """Every figure of the release in the report's order (:func:`draw_release_figures`), the
    comparison-area ones (last in that order) written from ``predrawn`` when it holds them."""
    if not predrawn:
        return draw_release_figures(tables, directory, processes)
    figures = draw_release_figures({name: table for name, table in tables.items()
                                    if name not in COMPARISON_SCHEMAS}, directory, processes)
    directory.mkdir(parents=True, exist_ok=True)
    for name, png in predrawn.items():
        path = directory / f"{name}.png"
        path.write_bytes(png)
        figures[name] = path
    return figures


def raster_figures_only(report: Path) -> str:
    """``pass`` when every image of the HTML report is an embedded PNG and it draws nothing as vectors
    (no SVG, canvas or object): its print to PDF then holds no exact plotted coordinates."""
    import lxml.html

    document = lxml.html.fromstring(report.read_text(encoding="utf-8"))
    images = [image.get("src", "") for image in document.iter("img")]
    vectors = document.xpath("//svg|//canvas|//object|//embed|//iframe")
    return "pass" if all(src.startswith("data:image/png;base64,") for src in images) and not vectors else "fail"


#: Prefix of the folder a release is written into before it is moved into place.
STAGING_PREFIX = ".release-partial-"


def staging_folder(directory: str | Path) -> Path:
    """A fresh folder inside ``directory`` to write a release into; leftovers of a killed
    release (earlier staging folders) are removed first."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))


def publish(staging: Path, directory: str | Path, names: tuple[str, ...]) -> None:
    """Move a COMPLETE release from ``staging`` into ``directory``, replacing the previous one.

    Each of ``names`` in ``directory`` is removed, then renamed into place from ``staging``
    (same file system, so each move is one rename). A release killed while it was being
    written leaves only its staging folder, never a half-written release.
    """
    directory = Path(directory)
    for name in names:
        target = directory / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    for name in names:
        if (staging / name).exists():
            os.replace(staging / name, directory / name)
    shutil.rmtree(staging, ignore_errors=True)


def validation_rows(summary: pd.DataFrame) -> list[dict[str, str]]:
    """The validation summary as the report's check / status / detail rows."""
    rows = []
    for record in summary.to_dict("records"):
        where = f" ({record['local_authority']})" if record.get("local_authority") else ""
        passed = record.get("passed")
        status = "pass" if (pd.notna(passed) and bool(passed)) else ("warning" if str(record.get("severity")).upper() == "WARN"
                                                else "fail")
        detail = ""
        if pd.notna(record.get("expectations")):
            detail = f"{record.get('expectations_failed', 0)} of {record['expectations']} expectations failed"
        rows.append({"check": f"{record.get('asset')}: {record.get('check')}{where}", "status": status,
                     "detail": detail})
    return rows
