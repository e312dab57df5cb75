"""The release path's last steps: figures, the self-contained HTML report, the release folder.

* :mod:`~evaluation.report.sections` — what the report shows and in what order;
* :mod:`~evaluation.report.build` — :func:`build_report`, rendering ``templates/report.html.j2``;
* :mod:`~evaluation.report.summary` — the first screen and each outcome's reading, every number
  quoted from a released table cell;
* :mod:`~evaluation.report.limitations` — limitations written from the checks and the design;
* :mod:`~evaluation.report.pdf` — ``report.pdf``, the report printed by headless Chromium;
* :mod:`~evaluation.report.drawing` — :func:`draw_release_figures`, a figure per released table;
* :mod:`~evaluation.report.release` — :func:`write_release`: tables, figures, report (HTML and PDF)
  and the output checker's ``results.json`` in one folder;
* :mod:`~evaluation.report.demo` — an illustrative release from simulated children.
"""

from evaluation.report.build import build_report, embed_png, html_table, report_html, software_versions
from evaluation.report.drawing import FIGURE_FOR_TABLE, draw_release_figures
from evaluation.report.release import Release, write_release
from evaluation.report.sections import NOT_PRODUCED, RESULT_SECTIONS, ResultSection

__all__ = [
    "build_report", "report_html", "embed_png", "html_table", "software_versions",
    "draw_release_figures", "FIGURE_FOR_TABLE", "write_release", "Release",
    "RESULT_SECTIONS", "ResultSection", "NOT_PRODUCED",
]
