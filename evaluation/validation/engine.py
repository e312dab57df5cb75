"""Run Great Expectations suites on DataFrames with counts-only results, and build Data Docs.

One file-backed GX context per project folder: validation results accumulate
there and the Data Docs site is written to a configured folder (default
``outputs/validation/``). Results are requested as ``SUMMARY`` with
``partial_unexpected_count: 0`` and then stripped to counts, so neither the
Dagster metadata nor the Data Docs ever carry a row value (domain.md §4).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
#: Result keys that are counts and may be shown; everything else is dropped.
COUNT_KEYS = ("element_count", "unexpected_count", "missing_count", "unexpected_percent")

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
    """A suite's outcome: success, per-expectation counts and where the Data Docs are."""

    suite: str
    success: bool
    rows: int
    expectations: tuple[ExpectationOutcome, ...]
    docs_index: Path | None

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


def validation_context(project_dir: str | os.PathLike, docs_dir: str | os.PathLike):
    """The file-backed GX context for ``project_dir``, with its Data Docs site in ``docs_dir``."""
    project_dir, docs_dir = str(Path(project_dir).resolve()), str(Path(docs_dir).resolve())
    with _lock:
        key = (project_dir, docs_dir)
        if key not in _contexts:
            Path(project_dir).mkdir(parents=True, exist_ok=True)
            context = gx.get_context(mode="file", project_root_dir=project_dir)
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            site = {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": docs_dir,
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
            for name in list(context.get_site_names()):
                context.delete_data_docs_site(name)
            context.add_data_docs_site("evaluation", site)
            context.variables.save()
            _contexts[key] = context
        return _contexts[key]


def run_suite(
    context,
    suite_name: str,
    frame: pd.DataFrame,
    expectations: list,
    build_docs: bool = True,
) -> SuiteOutcome:
    """Validate ``frame`` against ``expectations`` (GX expectation objects) as suite ``suite_name``."""
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
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")] if build_docs else [],
                result_format=RESULT_FORMAT,
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": frame})
    outcomes: list[ExpectationOutcome] = []
    for run in result.run_results.values():
        for item in run.results:
            config = item.expectation_config
            raw = item.result or {}
            counts = {k: raw[k] for k in COUNT_KEYS if k in raw and raw[k] is not None}
            success = bool(item.success) and not (item.exception_info or {}).get("raised_exception")
            outcomes.append(ExpectationOutcome(config.type, config.kwargs.get("column"), success,
                                               counts, (config.meta or {}).get("check")))
    return SuiteOutcome(
        suite=suite_name,
        success=all(o.success for o in outcomes),
        rows=len(frame),
        expectations=tuple(outcomes),
        docs_index=docs_index(context),
    )


def split_by_check(outcome: SuiteOutcome) -> dict[str, SuiteOutcome]:
    """One suite run holding several checks' expectations, split back into one outcome per check."""
    groups: dict[str, list[ExpectationOutcome]] = {}
    for item in outcome.expectations:
        groups.setdefault(item.check or outcome.suite, []).append(item)
    return {
        check: SuiteOutcome(suite=f"{outcome.suite}:{check}", success=all(i.success for i in items),
                            rows=outcome.rows, expectations=tuple(items), docs_index=outcome.docs_index)
        for check, items in groups.items()
    }


def build_data_docs(context) -> Path | None:
    """Build the Data Docs site from every stored validation result; return its index page."""
    with _lock:
        context.build_data_docs()
    return docs_index(context)


def docs_index(context) -> Path | None:
    """Path of the Data Docs index page, if built."""
    for site in context.get_docs_sites_urls():
        url = site.get("site_url") or ""
        if url.startswith("file://"):
            return Path(url[len("file://"):])
    return None
