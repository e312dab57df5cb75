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
* :mod:`~evaluation.report.predrawn` — the comparison-area figures drawn before the release, used
  by it only if drawn from its own comparison tables;
* :mod:`~evaluation.report.demo` — an illustrative release from simulated children.
"""

from __future__ import annotations

import importlib

#: Name -> the module defining it. Imported on first use (PEP 562), so that a process that only
#: draws figures (:func:`~evaluation.report.drawing.draw_release_figures` hands some to a second
#: process) does not import the report's builder, the disclosure code and SciPy first.
_EXPORTS = {
    "build_report": "build", "report_html": "build", "embed_png": "build", "html_table": "build",
    "software_versions": "build", "draw_release_figures": "drawing", "FIGURE_FOR_TABLE": "drawing",
    "write_release": "release", "Release": "release", "RESULT_SECTIONS": "sections",
    "ResultSection": "sections", "NOT_PRODUCED": "sections",
}

__all__ = [
    "build_report", "report_html", "embed_png", "html_table", "software_versions",
    "draw_release_figures", "FIGURE_FOR_TABLE", "write_release", "Release",
    "RESULT_SECTIONS", "ResultSection", "NOT_PRODUCED",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
