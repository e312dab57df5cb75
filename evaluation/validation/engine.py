"""Run Great Expectations suites on DataFrames with counts-only results, and write their docs.

One file-backed GX context per project folder and process, reused by every check: validation
results accumulate there. Each suite is written to the GX store only when its expectations change
(not on every run), and each frame is validated as one batch of a data asset named after its suite,
its result stored under the run's name — no validation definition or checkpoint is created or
re-read per run, since those cost as much as validating a small table. Those data assets are
attached to the project's data source in the process only, never saved (:func:`_batch_definition`):
adding one to the saved data source rewrote the project's whole configuration file, twice per new
suite in every step process. The frame is fetched as a batch once and validated as that batch (GX's
``Batch.validate`` fetched it again, hashing every value a second time). A frame already validated
against the same expectations (same columns, types and values, same GX version: a rerun on
unchanged data) is not validated again: the earlier stored result is stored again under this run,
with ``meta["same_as_run"]`` naming the run that computed it (:func:`_fingerprint`, the
``validated/`` folder of the GX project). Each result is also rendered at once to a page of our own
in the docs folder (default ``outputs/validation/``) and listed in its ``index.html``
(``evaluation.validation.docs``): static pages that work with no network and fetch nothing. GX's
own Data Docs site is not built (it needs public CDNs).

Results are requested as ``BASIC`` with ``partial_unexpected_count: 0`` (SUMMARY gives the same result
then, after computing every unexpected row's index and a query naming them) and then stripped to
counts, so neither the Dagster metadata nor the docs ever carry a row value (domain.md §4).

Great Expectations is imported when a project is opened or a suite run
(:mod:`evaluation.validation.lazy_gx`), not with this module: loading the pipeline's definitions
(every ``make run``, test worker and the UI's code server) does not pay its import (about 1.5 s
of CPU). The executor's fork server imports it once for every step it forks
(``assets/fork_server.py``).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evaluation.tables import add_object_kinds
from evaluation.validation import docs
from evaluation.validation.docs import COUNT_KEYS, run_name  # noqa: F401
from evaluation.validation.lazy_gx import gx_package

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
#: What a stored result says in place of the DataFrame it validated (as GX's own runs do).
DATAFRAME_PLACEHOLDER = "<DATAFRAME>"

_lock = threading.Lock()
#: In a GX project's folder: held while a process reads or writes the project's files.
LOCK_FILE = ".fsp-validation.lock"
#: In a GX project's folder: per suite, which stored result each fingerprint of a frame has.
VALIDATED = "validated"
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
class _PreparedSuite:
    """A suite as saved in the GX store by this process, and the batch definition that feeds it."""

    expectations: str  # the expectations' configurations as JSON: a change means saving again
    suite: object
    batch: object


#: The data source (pandas) whose data assets, one per suite, feed the validations.
SOURCE = "evaluation"


@dataclass(frozen=True)
class ValidationProject:
    """A file-backed GX context (``gx``) and the folder its docs are written to (``docs_dir``).

    ``prepared`` holds, per suite name, what this process has already saved to the GX store.
    ``source`` is the project's pandas data source; each suite's data asset is attached to it in
    this process only (:func:`_batch_definition`).
    """

    gx: object
    docs_dir: Path
    prepared: dict = field(default_factory=dict, compare=False, repr=False)
    source: object = field(default=None, compare=False, repr=False)


@contextlib.contextmanager
def _exclusive(project_dir: str | os.PathLike):
    """One thread of this process, and one process, at a time on a GX project's files: the steps
    of a run validate in parallel processes, and GX rewrites its whole configuration file when a
    suite or data asset is added."""
    Path(project_dir).mkdir(parents=True, exist_ok=True)
    with _lock, open(Path(project_dir) / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _project_dir(project: ValidationProject) -> Path:
    return Path(project.gx.root_directory).parent


def validation_context(project_dir: str | os.PathLike, docs_dir: str | os.PathLike) -> ValidationProject:
    """The validation project in ``project_dir`` (GX results), with its docs in ``docs_dir``."""
    project_dir, docs_dir = str(Path(project_dir).resolve()), str(Path(docs_dir).resolve())
    with _exclusive(project_dir):
        key = (project_dir, docs_dir)
        if key not in _contexts:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx_package().get_context(mode="file", project_root_dir=project_dir)
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            # GX's Data Docs site loads jQuery, Bootstrap, Vega... from CDNs: never built here.
            for name in list(context.get_site_names()):
                context.delete_data_docs_site(name)
            context.variables.save()
            # The data source is saved once in a new project, without data assets (see _prepare);
            # the assets an earlier version saved there are kept, unused.
            source = context.data_sources.all().get(SOURCE)
            if getattr(source, "type", None) != "pandas":
                source = context.data_sources.add_or_update_pandas(SOURCE)
            docs.remove_gx_site(docs_dir)
            docs.warm(Path(docs_dir))
            _contexts[key] = ValidationProject(context, Path(docs_dir), source=source)
        return _contexts[key]


def _expectations_json(expectations: list) -> str:
    """What the expectations ask, as JSON (without the ids GX gives them when saved in a suite)."""
    configs = [{k: v for k, v in e.configuration.to_json_dict().items() if k != "id"} for e in expectations]
    return json.dumps(configs, sort_keys=True, default=str)


def _stored_suite(context, suite_name: str, wanted: str):
    """The suite already in the GX store under ``suite_name`` if it asks exactly ``wanted``, else None.

    A step process starts with no suite prepared (it is forked from a server that has validated
    nothing), so without this every check step rewrote its unchanged suite on every run."""
    try:
        stored = context.suites.get(suite_name)
    except Exception:  # noqa: BLE001 — not stored yet, or unreadable: saved again below
        return None
    return stored if _expectations_json(stored.expectations) == wanted else None


def _batch_definition(source, suite_name: str):
    """The whole-frame batch definition of a data asset named ``suite_name`` on ``source``, made in
    this process and never saved: a data frame asset holds no configuration (its frame is given
    with each batch), while adding one to the saved data source rewrote the project's whole
    configuration file, twice per new suite in every step process (one forked before the suite's
    asset was saved, or after another step overwrote the file with its own assets).

    The asset is attached to the source as GX's ``Datasource._add_asset`` attaches one, without
    being added to its list of assets; the batch definition is made as GX's ``Batch.validate``
    makes its own (not added to the asset). Batches are then what GX's own asset and batch
    definition give: the same batch id (``evaluation-<suite>``), spec, markers and definition."""
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.datasource.fluent.pandas_datasource import DataFrameAsset

    asset = DataFrameAsset(name=suite_name, batch_metadata={})
    asset._datasource = source  # the data source's setter does nothing (see Datasource._add_asset)
    batch = BatchDefinition(name="whole", partitioner=None)
    batch.set_data_asset(asset)
    return batch


def _prepare(project: ValidationProject, suite_name: str, expectations: list) -> _PreparedSuite:
    """The suite and batch definition of ``suite_name``, saved to the store only when new or changed."""
    wanted = _expectations_json(expectations)
    prepared = project.prepared.get(suite_name)
    if prepared is not None and prepared.expectations == wanted:
        return prepared
    context = project.gx
    batch = prepared.batch if prepared is not None else _batch_definition(project.source, suite_name)
    suite = _stored_suite(context, suite_name, wanted) if prepared is None else None
    if suite is None:
        suite = context.suites.add_or_update(gx_package().ExpectationSuite(
            name=suite_name, expectations=[copy.copy(e) for e in expectations]))  # the caller's stay unbound
    prepared = _PreparedSuite(wanted, suite, batch)
    project.prepared[suite_name] = prepared
    return prepared


#: Expectation arguments naming the columns it reads (a column-domain expectation has one of these).
_COLUMN_ARGUMENTS = ("column", "column_list", "column_A", "column_B")


def referenced_columns(frame: pd.DataFrame, expectations: list) -> pd.DataFrame:
    """``frame`` with only the columns some expectation reads (in the frame's order), when every
    expectation reads named columns; ``frame`` itself when one is about the whole table.

    GX's pandas engine filters the whole batch frame by each column's non-null mask, once for the
    condition and once for the unexpected values, so every extra column is copied twice per
    expectation. A column-domain expectation's result depends only on its own columns and the
    row count, which dropping other columns does not change."""
    wanted: set[str] = set()
    for expectation in expectations:
        named = [getattr(expectation, k, None) for k in _COLUMN_ARGUMENTS]
        named = [value for value in named if value is not None]
        if not named:
            return frame  # a table-level expectation (row count, column set...) sees every column
        for value in named:
            wanted.update([value] if isinstance(value, str) else value)
    keep = frame.columns.isin(list(wanted))
    return frame if keep.all() else frame.loc[:, keep]



def _fingerprint(frame: pd.DataFrame, expectations: str, data: str | None = None) -> str | None:
    """A digest of what a validation depends on: GX's version, the expectations, and the frame's
    columns, types and values (row order included). None for a frame pandas cannot hash.

    ``data`` is the digest of the frame's values GX has already computed for its batch (its batch
    marker ``pandas_data_fingerprint``: pandas' row hashes, index included, or the pickled frame
    where cells cannot be hashed); given, the values are not hashed a second time."""
    digest = hashlib.sha256()
    for part in (gx_package().__version__, expectations,
                 repr([(str(c), str(t)) for c, t in frame.dtypes.items()]),
                 str(frame.shape)):
        digest.update(part.encode())
        digest.update(b"\0")
    try:
        if data is not None:
            digest.update(f"gx:{data}".encode())
        else:
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        # pandas hashes object cells by their text (1 and "1" alike): add what kind of values they are
        add_object_kinds(digest, frame)
    except TypeError:  # unhashable cells (lists, dicts): always validated
        return None
    return digest.hexdigest()


def _memo(project: ValidationProject, suite_name: str, fingerprint: str) -> Path:
    return _project_dir(project) / VALIDATED / suite_name / f"{fingerprint}.json"


def _earlier_result(project: ValidationProject, suite_name: str, fingerprint: str | None):
    """The stored result of an identical validation (a copy, its batch id), or (None, None)."""
    if fingerprint is None:
        return None, None
    from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier

    exceptions = gx_package().exceptions
    try:
        key = ValidationResultIdentifier.from_tuple(tuple(json.loads(_memo(project, suite_name, fingerprint)
                                                                     .read_text(encoding="utf-8"))))
        earlier = copy.deepcopy(project.gx.validation_results_store.get(key))
    except (OSError, ValueError, exceptions.StoreBackendError, exceptions.InvalidKeyError):
        return None, None  # never seen, or the stored result is gone: validate
    earlier.meta["same_as_run"] = {"run_name": key.run_id.run_name, "run_time": str(key.run_id.run_time)}
    return earlier, key.batch_identifier


def _remember(project: ValidationProject, suite_name: str, fingerprint: str, key) -> None:
    """Record which stored result this fingerprint has (written atomically: processes share it)."""
    path = _memo(project, suite_name, fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.write_text(json.dumps(list(key.to_tuple())), encoding="utf-8")
    os.replace(temporary, path)


def run_suite(
    project: ValidationProject,
    suite_name: str,
    frame: pd.DataFrame,
    expectations: list,
    build_docs: bool = True,
    run: str | None = None,
    write_index: bool = True,
) -> SuiteOutcome:
    """Validate ``frame`` against ``expectations`` (GX expectation objects) as suite ``suite_name``.

    ``run`` names the GX run (:func:`run_name`: council, extract date, Dagster run id). With
    ``build_docs`` the result's page is written and, with ``write_index`` too, the docs index
    rebuilt (a caller running several suites for one table rebuilds it once, after the last).
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    with _exclusive(_project_dir(project)):  # GX rewrites its configuration when a suite is saved
        prepared = _prepare(project, suite_name, expectations)
    rows = len(frame)
    frame = referenced_columns(frame, expectations)
    run_id = RunIdentifier(run_name=run)
    store = project.gx.validation_results_store
    with _lock:  # validating and storing touch no shared file: other processes may validate meanwhile
        batch = prepared.batch.get_batch(batch_parameters={"dataframe": frame})  # GX hashes the frame
        fingerprint = _fingerprint(frame, prepared.expectations,
                                   (batch.batch_markers or {}).get("pandas_data_fingerprint"))
        validation, batch_id = _earlier_result(project, suite_name, fingerprint)
        if validation is None:
            validation, batch_id = _validate(project, prepared.batch, batch, prepared.suite), batch.id
        validation.meta.update(run_id=run_id, validation_time=run_id.run_time,
                               batch_parameters={"dataframe": DATAFRAME_PLACEHOLDER})
        key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
                                         run_id=run_id, batch_identifier=batch_id)
        store.store_validation_results(suite_validation_result=validation, suite_validation_result_identifier=key)
        if fingerprint is not None and "same_as_run" not in validation.meta:
            _remember(project, suite_name, fingerprint, key)
    outcomes: list[ExpectationOutcome] = []
    page = docs.write_page(project.docs_dir, validation, run_id.run_time) if build_docs else None
    for item in validation.results:
        config = item.expectation_config
        raw = item.result or {}
        counts = {k: raw[k] for k in COUNT_KEYS if k in raw and raw[k] is not None}
        success = bool(item.success) and not (item.exception_info or {}).get("raised_exception")
        outcomes.append(ExpectationOutcome(config.type, config.kwargs.get("column"), success,
                                           counts, (config.meta or {}).get("check")))
    index = docs.write_index(project.docs_dir) if build_docs and write_index else docs_index(project)
    return SuiteOutcome(
        suite=suite_name,
        success=all(o.success for o in outcomes),
        rows=rows,
        expectations=tuple(outcomes),
        docs_index=index,
        docs_page=page,
    )


def _validate(project: ValidationProject, definition, batch, suite,
              result_format: dict = RESULT_FORMAT):
    """``batch.validate(suite, result_format=result_format)``, validating this batch itself.

    GX's ``Batch.validate`` makes a validator that fetches the batch again from its data asset
    (hashing every value of the frame again for the batch's markers); here the validator is made
    from the batch already fetched (``get_validator(batch=...)``, GX's own path for a given
    batch), then GX's validator runs the suite as ``Batch.validate`` would: the same results and
    the same meta (the batch's spec, markers and definition)."""
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(batch_definition=definition, result_format=result_format,
                          batch_parameters=batch.batch_request.options)
    validator._wrapped_validator_cache = project.gx.get_validator(batch=batch)
    return validator.validate_expectation_suite(suite)


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
    with _exclusive(_project_dir(project)):
        keys = list(store.list_keys())
    for key in keys:
        run = key.run_id
        page = project.docs_dir / docs.page_path(run.run_name, key.expectation_suite_identifier.name,
                                                 run.run_time)
        if rerender or not page.with_suffix(".json").is_file():
            with _exclusive(_project_dir(project)):
                validation = store.get(key)
            docs.write_page(project.docs_dir, validation, run.run_time)
    return docs.write_index(project.docs_dir)


def write_docs_index(project: ValidationProject) -> Path:
    """Rebuild the docs index from every page written so far; return its path."""
    return docs.write_index(project.docs_dir)


def docs_index(project: ValidationProject | str | os.PathLike) -> Path | None:
    """Path of the docs index page, if written. ``project`` may be the docs folder itself, which
    needs no GX project opened (nor GX imported): ``make run``'s own process only prints it."""
    docs_dir = project.docs_dir if isinstance(project, ValidationProject) else project
    index = Path(docs_dir) / docs.INDEX
    return index if index.is_file() else None
