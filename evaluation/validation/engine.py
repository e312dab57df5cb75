"""Run Great Expectations suites on DataFrames with counts-only results, and write their docs.

One file-backed GX context per project folder: validation results accumulate there. Each result
is also rendered at once to a page of our own in the docs folder (default ``outputs/validation/``)
and listed in its ``index.html`` (``evaluation.validation.docs``): static pages that work with no
network and fetch nothing. GX's own Data Docs site is not built (it needs public CDNs).

Results are requested as ``SUMMARY`` with ``partial_unexpected_count: 0`` and then stripped to
counts, so neither the Dagster metadata nor the docs ever carry a row value (domain.md §4).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

from evaluation.validation import docs  # noqa: E402
from evaluation.validation.docs import COUNT_KEYS, run_name  # noqa: E402,F401

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}

_lock = threading.Lock()
_contexts: dict[tuple[str, str], object] = {}


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's outcome, counts only."""

    expectation: str
    column: str | None
    success: bool
    counts: dict[str, float] = field(default_factory=dict)
    check: str | None = None  # the check this expectation belongs to (its ``meta["check"]``)

    @property
    def unexpected(self) -> int:
        return int(self.counts.get("unexpected_count", 0) or 0)


@dataclass(frozen=True)
class SuiteOutcome:
    """A suite's outcome: success, per-expectation counts and where its docs page and index are."""

    suite: str
    success: bool
    rows: int
    expectations: tuple[ExpectationOutcome, ...]
    docs_index: Path | None
    docs_page: Path | None = None

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(e for e in self.expectations if not e.success)

    def metadata(self) -> dict[str, object]:
        """Counts only: safe for Dagster metadata."""
        return {
            "rows": self.rows,
            "expectations": len(self.expectations),
            "expectations_failed": len(self.failed),
            "failed": [
                f"{e.expectation}({e.column or ''}): {e.unexpected} unexpected" for e in self.failed
            ],
        }


@dataclass(frozen=True)
class ValidationProject:
    """A file-backed GX context (``gx``) and the folder its docs are written to (``docs_dir``)."""

    gx: object
    docs_dir: Path


def validation_context(project_dir: str | os.PathLike, docs_dir: str | os.PathLike) -> ValidationProject:
    """The validation project in ``project_dir`` (GX results), with its docs in ``docs_dir``."""
    project_dir, docs_dir = str(Path(project_dir).resolve()), str(Path(docs_dir).resolve())
    with _lock:
        key = (project_dir, docs_dir)
        if key not in _contexts:
            Path(project_dir).mkdir(parents=True, exist_ok=True)
            context = gx.get_context(mode="file", project_root_dir=project_dir)
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            # GX's Data Docs site loads jQuery, Bootstrap, Vega... from CDNs: never built here.
            for name in list(context.get_site_names()):
                context.delete_data_docs_site(name)
            context.variables.save()
            docs.remove_gx_site(docs_dir)
            _contexts[key] = ValidationProject(context, Path(docs_dir))
        return _contexts[key]


def run_suite(
    project: ValidationProject,
    suite_name: str,
    frame: pd.DataFrame,
    expectations: list,
    build_docs: bool = True,
    run: str | None = None,
) -> SuiteOutcome:
    """Validate ``frame`` against ``expectations`` (GX expectation objects) as suite ``suite_name``.

    ``run`` names the GX run (:func:`run_name`: council, extract date, Dagster run id). With
    ``build_docs`` the result's page is written and the docs index rebuilt.
    """
    context = project.gx
    with _lock:
        source = context.data_sources.add_or_update_pandas("evaluation")
        try:
            asset = source.get_asset(suite_name)
        except LookupError:
            asset = source.add_dataframe_asset(suite_name)
        try:
            batch = asset.get_batch_definition("whole")
        except KeyError:
            batch = asset.add_batch_definition_whole_dataframe("whole")
        suite = gx.ExpectationSuite(name=suite_name, expectations=list(expectations))
        suite = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{suite_name}_checkpoint",
                validation_definitions=[definition],
                actions=[],
                result_format=RESULT_FORMAT,
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": frame},
                                run_id=RunIdentifier(run_name=run))
    outcomes: list[ExpectationOutcome] = []
    page = None
    for identifier, validation in result.run_results.items():
        if build_docs:
            page = docs.write_page(project.docs_dir, validation, identifier.run_id.run_time)
        for item in validation.results:
            config = item.expectation_config
            raw = item.result or {}
            counts = {k: raw[k] for k in COUNT_KEYS if k in raw and raw[k] is not None}
            success = bool(item.success) and not (item.exception_info or {}).get("raised_exception")
            outcomes.append(ExpectationOutcome(config.type, config.kwargs.get("column"), success,
                                               counts, (config.meta or {}).get("check")))
    index = docs.write_index(project.docs_dir) if build_docs else docs_index(project)
    return SuiteOutcome(
        suite=suite_name,
        success=all(o.success for o in outcomes),
        rows=len(frame),
        expectations=tuple(outcomes),
        docs_index=index,
        docs_page=page,
    )


def split_by_check(outcome: SuiteOutcome) -> dict[str, SuiteOutcome]:
    """One suite run holding several checks' expectations, split back into one outcome per check."""
    groups: dict[str, list[ExpectationOutcome]] = {}
    for item in outcome.expectations:
        groups.setdefault(item.check or outcome.suite, []).append(item)
    return {
        check: SuiteOutcome(suite=f"{outcome.suite}:{check}", success=all(i.success for i in items),
                            rows=outcome.rows, expectations=tuple(items), docs_index=outcome.docs_index,
                            docs_page=outcome.docs_page)
        for check, items in groups.items()
    }


def build_data_docs(project: ValidationProject, rerender: bool = False) -> Path:
    """Write the page of every stored validation result that has none (all of them with
    ``rerender``, e.g. after a template change), then the index; return the index.

    Pages are normally written as each check runs; this fills the gaps (a docs folder emptied,
    results from an earlier version) and removes what GX's own Data Docs site left there.
    """
    docs.remove_gx_site(project.docs_dir)
    store = project.gx.validation_results_store
    with _lock:
        keys = list(store.list_keys())
    for key in keys:
        run = key.run_id
        page = project.docs_dir / docs.page_path(run.run_name, key.expectation_suite_identifier.name,
                                                 run.run_time)
        if rerender or not page.with_suffix(".json").is_file():
            with _lock:
                validation = store.get(key)
            docs.write_page(project.docs_dir, validation, run.run_time)
    return docs.write_index(project.docs_dir)


def docs_index(project: ValidationProject) -> Path | None:
    """Path of the docs index page, if written."""
    index = Path(project.docs_dir) / docs.INDEX
    return index if index.is_file() else None
