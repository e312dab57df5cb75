"""Assemble the self-contained HTML report from released tables and figures.

One file, readable offline and by an output checker: figures are embedded as
base64 PNG, the CSS is inline, and nothing is fetched from elsewhere. Only
released (already disclosure-controlled) tables and figures go in.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import os
import platform
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from evaluation.report.sections import (
    DATA_FIGURE,
    DATA_TABLES,
    DEFAULT_LIMITATIONS,
    DEFAULT_METHODS,
    DEFAULT_QUESTION,
    NOT_PRODUCED,
    RESULT_SECTIONS,
)

TEMPLATES = Path(__file__).parent / "templates"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Packages whose versions the report records.
SOFTWARE = ("fsp-evaluation", "pandas", "numpy", "scipy", "statsmodels", "lifelines", "matplotlib",
            "dagster", "great-expectations", "duckdb", "pyarrow", "jinja2", "acro")
#: Longest table shown in full; longer ones show their first rows and say so.
MAX_ROWS = 40
#: A released number: digits with separators, sign, decimals, or a DfE symbol.
NUMBER_LIKE = re.compile(r"[-+−]?[\d,]*\.?\d+(e[-+]?\d+)?|c|low|x|z|u")


def software_versions(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Python, platform and installed package versions, plus any given (e.g. R's)."""
    versions = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for name in SOFTWARE:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions.update(extra or {})
    return versions


def embed_png(path: str | Path) -> str:
    """A ``data:`` URI holding the PNG at ``path``; anything else is refused."""
    data = Path(path).read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise ValueError(f"{path} is not a PNG; only PNG figures are released")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _format_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer() and abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _is_number_like(text: str) -> bool:
    return bool(NUMBER_LIKE.fullmatch(text))


def html_table(table: pd.DataFrame, max_rows: int = MAX_ROWS) -> Markup:
    """An escaped HTML table of a released table (empty columns dropped, long tables cut).

    Columns of numbers and DfE symbols (``c``, ``low``, ``x``, ``z``) are right-aligned.
    """
    shown = table.dropna(axis=1, how="all")
    note = ""
    if len(shown) > max_rows:
        note = f'<p class="note">First {max_rows} of {len(shown)} rows; the full table is released as CSV.</p>'
        shown = shown.head(max_rows)
    cells = [[_format_cell(v) for v in shown[c].tolist()] for c in shown.columns]
    numeric = [all(_is_number_like(t) for t in column if t) and any(column) for column in cells]
    head = "".join(f'<th class="{"num" if n else "text"}">{escape(str(c).replace("_", " "))}</th>'
                   for c, n in zip(shown.columns, numeric))
    rows = []
    for r in range(len(shown)):
        rows.append("<tr>" + "".join(f'<td class="{"num" if n else "text"}">{escape(cells[k][r])}</td>'
                                     for k, n in enumerate(numeric)) + "</tr>")
    body = f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return Markup(body + note)


def _table_or_none(tables: Mapping[str, pd.DataFrame], key: str | None):
    if key is None or key not in tables or tables[key] is None:
        return None
    return html_table(tables[key])


def _figure_or_none(figures: Mapping[str, Path], key: str | None):
    if key is None or key not in figures or figures[key] is None or not Path(figures[key]).is_file():
        return None
    return embed_png(figures[key])


def _validation_rows(validation: Any) -> list[dict[str, str]]:
    if validation is None:
        return []
    if isinstance(validation, pd.DataFrame):
        validation = validation.to_dict("records")
    if isinstance(validation, Mapping):
        validation = [{"check": k, "status": v} for k, v in validation.items()]
    return [{"check": str(r.get("check", "")), "status": str(r.get("status", "")),
             "detail": str(r.get("detail", "") or "")} for r in validation]


def report_html(
    released_tables: Mapping[str, pd.DataFrame],
    figures: Mapping[str, str | Path],
    context: Mapping[str, Any],
) -> str:
    """The report as one HTML string (see :func:`build_report` for the arguments)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    template = environment.get_template("report.html.j2")
    sections = []
    for section in RESULT_SECTIONS:
        figure = _figure_or_none(figures, section.figure)
        table = _table_or_none(released_tables, section.table)
        sections.append({"key": section.key, "title": section.title,
                         "explanation": section.explanation, "figure": figure, "table": table,
                         "produced": figure is not None or table is not None})
    data_tables = [{"key": key, "title": key.replace("_", " ").capitalize(),
                    "table": _table_or_none(released_tables, key)} for key in DATA_TABLES]
    extract_dates = context.get("extract_dates") or {}
    if not isinstance(extract_dates, Mapping):
        extract_dates = {"extract": extract_dates}
    known = {s.figure for s in RESULT_SECTIONS} | {DATA_FIGURE}
    extra_figures = [{"key": k, "title": k.replace("_", " ").capitalize(), "figure": _figure_or_none(figures, k)}
                     for k in figures if k not in known]
    return template.render(
        title=context.get("title", "Evaluation of Family Solutions Plus"),
        subtitle=context.get("subtitle", "Statistical report from the longitudinal evaluation pipeline"),
        question=context.get("question", DEFAULT_QUESTION),
        local_authority=context.get("local_authority", "not stated"),
        go_live=str(context.get("go_live", "2020-11-01")),
        data_description=context.get("data_description", ""),
        cohorts=context.get("cohorts", {}),
        data_figure=_figure_or_none(figures, DATA_FIGURE),
        data_tables=data_tables,
        methods=list(context.get("methods", DEFAULT_METHODS)),
        sections=sections,
        extra_figures=[f for f in extra_figures if f["figure"]],
        validation=_validation_rows(context.get("validation")),
        disclosure=context.get("disclosure", {}),
        output_log=context.get("output_log", {}),
        limitations=list(context.get("limitations", DEFAULT_LIMITATIONS)),
        key_fingerprint=context.get("key_fingerprint", "not recorded"),
        demo_key=DEMO_KEY_NOTICE if context.get("demo_key") else "",
        software=software_versions(context.get("software")),
        extract_dates={str(k): str(v) for k, v in extract_dates.items()},
        generated=context.get("generated", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        not_produced=NOT_PRODUCED,
    )


#: Said at the top of a report (and in the output log) made with the public demo key.
DEMO_KEY_NOTICE = ("Made with the public DEMO pseudonymisation key, for the synthetic county only: "
                   "these are not a council's data, and anything pseudonymised with this key can be "
                   "re-identified by anyone. Not for release as an evaluation.")


def build_report(
    released_tables: Mapping[str, pd.DataFrame],
    figures: Mapping[str, str | Path],
    context: Mapping[str, Any],
    out_path: str | Path,
) -> Path:
    """Write the self-contained HTML report to ``out_path`` and return it.

    ``released_tables`` and ``figures`` (PNG paths) are keyed by the names in
    :mod:`evaluation.report.sections`; missing ones are reported as not
    produced. ``context`` holds the rest, all optional: ``title``,
    ``question``, ``local_authority``, ``go_live``, ``data_description``,
    ``cohorts`` (name -> definition), ``methods`` and ``limitations`` (lists of
    paragraphs), ``validation`` (rows of check/status/detail, or a mapping),
    ``disclosure`` (the thresholds applied), ``output_log`` (status -> count),
    ``key_fingerprint``, ``demo_key`` (true when the public demo key was used: the report
    says so at the top), ``software`` (extra versions, e.g. R), ``extract_dates``.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    html = report_html(released_tables, figures, context)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=out_path.parent,
                                     suffix=".tmp", delete=False) as handle:
        handle.write(html)
    os.replace(handle.name, out_path)
    return out_path
