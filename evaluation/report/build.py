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

from evaluation.report.limitations import limitations_from
from evaluation.report.sections import (
    DATA_FIGURE,
    DEFAULT_LIMITATIONS,
    DEFAULT_METHODS,
    DEFAULT_PROGRAMME,
    DEFAULT_QUESTION,
    NOT_PRODUCED,
    OUTCOME_OF,
    OUTCOME_ORDER,
    PART_OF,
    RESULT_SECTIONS,
    alt_text,
    figure_title,
)
from evaluation.figures.style import readable
from evaluation.report.summary import outcome_reading, summary

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


#: Released tables of the comparison-areas design (issue #17): their presence puts the
#: "Against comparison areas" section, from :mod:`evaluation.report.comparison_section`, in the report.
COMPARISON_PREFIXES = ("comparison_", "synthetic_control", "staggered", "event_study", "donor_weights", "placebo")


def comparison_tables(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """Names of the released comparison-areas tables present."""
    return [name for name, table in tables.items() if table is not None and name.startswith(COMPARISON_PREFIXES)]


def _comparison(tables: Mapping[str, pd.DataFrame], figures: Mapping[str, Path]) -> dict | None:
    """The "Against comparison areas" section when its tables were released (its module must then exist)."""
    if not comparison_tables(tables):
        return None
    from evaluation.report.comparison_section import comparison_section   # required once the tables exist

    section = dict(comparison_section(dict(tables)))
    paragraphs = section.get("paragraphs", section.get("html", []))
    if isinstance(paragraphs, str):
        paragraphs = [paragraphs]
    shown_figures = [{"key": name, "figure": _figure_or_none(figures, name), "alt": alt_text(name),
                      "title": figure_title(name)}
                     for name in section.get("figures", []) if _figure_or_none(figures, name)]
    shown_tables = [{"key": name, "title": readable(name),
                     "table": _table_or_none(tables, name)} for name in section.get("tables", [])
                    if _table_or_none(tables, name) is not None]
    return {"title": section.get("title", "Against comparison areas"),
            "paragraphs": [Markup(p) for p in paragraphs], "figures": shown_figures, "tables": shown_tables,
            "summary": section.get("summary") or section.get("headline"),
            "figure_keys": [f["key"] for f in shown_figures]}


def _protocol(tables: Mapping[str, pd.DataFrame]) -> list[dict[str, str]]:
    """Rows of the released ``protocol`` table (target-trial elements), if any."""
    table = tables.get("protocol")
    if table is None or not {"element", "specification"} <= set(table.columns):
        return []
    return [{"element": str(r["element"]), "specification": str(r["specification"])}
            for r in table.to_dict("records")]


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string, safe inside a <style> element."""
    escaped = (str(text).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
               .replace(">", "\\3e ").replace("\n", " "))
    return Markup(f'"{escaped}"')


def _flow_rows(flow: pd.DataFrame | None) -> pd.DataFrame | None:
    """The flow table without exclusions of nobody (the full table is in the appendix)."""
    if flow is None or "stage" not in flow:
        return flow
    nobody = (flow["stage"] == "excluded") & flow["children"].astype(str).isin(["0", "0.0"])
    return flow[~nobody].reset_index(drop=True)


def _latest_extract(tables: Mapping[str, pd.DataFrame]) -> str:
    """The latest extract date the released headline history records, when the context gives none."""
    history = tables.get("estimates_by_extract")
    if history is None or "extract_date" not in history or history["extract_date"].dropna().empty:
        return "not recorded"
    return str(max(history["extract_date"].dropna().astype(str)))


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
    tables = released_tables
    sections = []
    rank = {key: k for k, key in enumerate(OUTCOME_ORDER)}
    ordered_sections = sorted(RESULT_SECTIONS, key=lambda s: rank.get(s.key, len(rank)))
    for section in ordered_sections:
        figure = _figure_or_none(figures, section.figure)
        table = _table_or_none(tables, section.table)
        reading = outcome_reading(tables, OUTCOME_OF[section.key]) if section.key in OUTCOME_OF else None
        sections.append({"key": section.key, "title": section.title, "part": PART_OF.get(section.key, "outcomes"),
                         "explanation": section.explanation, "figure": figure, "table": table,
                         "alt": alt_text(section.figure or section.key), "reading": reading,
                         "produced": figure is not None or table is not None})
    # the two illustrative sections that only a demo release fills stay in the appendix when empty
    flow_table = _flow_rows(tables.get("cohort_flow"))
    data_tables = [{"key": "cohort_flow", "title": "Cohort flow (exclusions that removed anyone)",
                    "table": html_table(flow_table) if flow_table is not None else None}]
    # the combination counts are rows of the characteristics: shown alone only when those are absent
    counts = () if tables.get("cohort_characteristics") is not None else (
        ("cohort_counts", "Children by combination of parental risk factors"),)
    appendix_tables = [{"key": key, "title": title, "table": _table_or_none(tables, key)}
                       for key, title in (("cohort_characteristics", "Characteristics of the children analysed"),
                                          *counts, ("cohort_flow", "Cohort flow, every step"))]
    extract_dates = context.get("extract_dates") or {}
    if not isinstance(extract_dates, Mapping):
        extract_dates = {"extract": extract_dates}
    extract_dates = {str(k): str(v) for k, v in extract_dates.items()}
    comparison = _comparison(tables, figures)
    known = {s.figure for s in RESULT_SECTIONS} | {DATA_FIGURE} | set((comparison or {}).get("figure_keys", []))
    extra_figures = [{"key": k, "title": figure_title(k), "figure": _figure_or_none(figures, k),
                      "alt": alt_text(k)} for k in figures if k not in known]
    validation = _validation_rows(context.get("validation"))
    title = context.get("title", "Evaluation of Family Solutions Plus")
    key_fingerprint = context.get("key_fingerprint", "not recorded")
    latest_extract = max(extract_dates.values()) if extract_dates else _latest_extract(tables)
    limitations = limitations_from(tables, validation, list(context.get("limitations", DEFAULT_LIMITATIONS)))
    return template.render(
        title=title,
        subtitle=context.get("subtitle", "Statistical report from the longitudinal evaluation pipeline"),
        question=context.get("question", DEFAULT_QUESTION),
        programme=context.get("programme", DEFAULT_PROGRAMME),
        local_authority=context.get("local_authority", "not stated"),
        go_live=str(context.get("go_live", "2020-11-01")),
        data_description=context.get("data_description", ""),
        cohorts=context.get("cohorts", {}),
        data_figure=_figure_or_none(figures, DATA_FIGURE),
        data_figure_alt=alt_text(DATA_FIGURE),
        data_tables=data_tables,
        appendix_tables=appendix_tables,
        protocol=_protocol(tables),
        methods=list(context.get("methods", DEFAULT_METHODS)),
        sections=sections,
        summary=summary(tables, comparison),
        comparison=comparison,
        extra_figures=[f for f in extra_figures if f["figure"]],
        validation=validation,
        disclosure=context.get("disclosure", {}),
        output_log=context.get("output_log", {}),
        limitations=limitations,
        key_fingerprint=key_fingerprint,
        latest_extract=latest_extract,
        running_header=css_string(f"{title} · extract {latest_extract} · key {key_fingerprint}"),
        demo_key=DEMO_KEY_NOTICE if context.get("demo_key") else "",
        software=software_versions(context.get("software")),
        extract_dates=extract_dates,
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
