"""One pattern for every table's checks: build each concern's suite, run them together, report
each concern as its own Dagster asset check, with counts only.

All the row-level expectations on a table run as one Great Expectations validation (one pass
over the data, one validation page per table and run); the results are split back into one asset
check per concern so that the Dagster UI shows ``schema``, ``keys``, ``pseudonyms``, ... separately,
each with its own severity and a link to its page. GX runs are named by council, extract date
(the latest reference date in ``pseudonymised/extracts``) and Dagster run id.
"""

import inspect
import warnings
from dataclasses import dataclass, field
from typing import Callable

import dagster as dg
import pandas as pd

from assets.partitions import local_authorities
from checks.resources import ValidationResource
from evaluation.validation import run_name, run_suite
from evaluation.validation.engine import SuiteOutcome, split_by_check, write_docs_index

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN

#: The table whose latest reference date names each validation run (its extract date).
EXTRACTS = ["pseudonymised", "extracts"]


@dataclass(frozen=True)
class Concern:
    """One asset check: ``build(frame, **others) -> (frame_to_validate, expectations)``.

    ERROR concerns are blocking: a failure stops every downstream asset.
    ``row_level`` builds return one row per row of the table and are validated together.
    """

    name: str
    description: str
    build: Callable[..., tuple[pd.DataFrame, list]]
    severity: dg.AssetCheckSeverity = ERROR
    others: tuple[str, ...] = ()
    row_level: bool = True


def _tag(expectations: list, check: str, severity: dg.AssetCheckSeverity) -> list:
    for expectation in expectations:
        expectation.meta = {**(expectation.meta or {}), "check": check, "severity": severity.value}
    return expectations


def _extract_date(extracts: pd.DataFrame | None) -> str | None:
    if extracts is None or "reference_date" not in extracts or extracts["reference_date"].isna().all():
        return None
    return pd.Timestamp(extracts["reference_date"].max()).date().isoformat()


def make_table_checks(asset: list[str], concerns: list[Concern], inputs: dict[str, list[str]],
                      op_tags: dict[str, str] | None = None) -> dg.AssetChecksDefinition:
    """The asset checks of one table. ``inputs`` maps the extra tables concerns use to asset keys;
    ``op_tags`` are the step's (``assets.jobs.CAN_WAIT``)."""
    table = asset[-1]
    suite = "__".join(asset)
    if asset != EXTRACTS:
        inputs = {**inputs, "extracts": EXTRACTS}
    with warnings.catch_warnings():
        # Checks on partitioned assets are a Dagster "preview" feature; each LA is checked alone.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        specs = [dg.AssetCheckSpec(c.name, asset=dg.AssetKey(asset), description=c.description,
                                   blocking=c.severity == ERROR, partitions_def=local_authorities,
                                   additional_deps=[dg.AssetKey(inputs[n]) for n in
                                                    dict.fromkeys([*c.others, *inputs.keys()
                                                                   & {"extracts"}])])
                 for c in concerns]

    def _checks(context, validation: ValidationResource, **tables):
        frame = tables.pop(table)
        run = run_name(context.partition_key if context.has_partition_key else None,
                       _extract_date(frame if asset == EXTRACTS else tables.get("extracts")),
                       context.run.run_id)
        row_level: list[pd.DataFrame] = []
        expectations: list = []
        separate: list[tuple[Concern, pd.DataFrame, list]] = []
        unevaluated: dict[str, str] = {}
        for concern in concerns:
            try:
                derived, exps = concern.build(frame, **{k: tables[k] for k in concern.others})
            except Exception as err:  # noqa: BLE001 — reported as a failed check, never a row value
                unevaluated[concern.name] = type(err).__name__
                continue
            _tag(exps, concern.name, concern.severity)
            if concern.row_level and len(derived) == len(frame):
                row_level.append(derived.reset_index(drop=True))
                expectations += exps
            else:
                separate.append((concern, derived, exps))
        outcomes: dict[str, SuiteOutcome] = {}
        gx = validation.context()
        if expectations:
            combined = pd.concat(row_level, axis=1)
            combined = combined.loc[:, ~combined.columns.duplicated()]
            outcomes.update(split_by_check(run_suite(gx, suite, combined, expectations, run=run,
                                                     write_index=False)))
        for concern, derived, exps in separate:
            outcomes.update(split_by_check(run_suite(gx, f"{suite}__{concern.name}", derived, exps,
                                                     run=run, write_index=False)))
        index = write_docs_index(gx) if outcomes else None  # once per table, after all its pages
        for concern in concerns:
            outcome = outcomes.get(concern.name)
            if outcome is None:
                yield dg.AssetCheckResult(
                    asset_key=dg.AssetKey(asset), check_name=concern.name, passed=False,
                    severity=concern.severity,
                    metadata={"not_evaluated": unevaluated.get(concern.name, "no expectations")})
                continue
            metadata: dict[str, object] = {**outcome.metadata(),
                                           "severity_if_failed": concern.severity.value}
            if outcome.docs_page is not None:  # this table's page for this run (static, offline)
                metadata["data_docs"] = dg.MetadataValue.path(str(outcome.docs_page))
            if index is not None:
                metadata["data_docs_index"] = dg.MetadataValue.path(str(index))
            yield dg.AssetCheckResult(asset_key=dg.AssetKey(asset), check_name=concern.name,
                                      passed=outcome.success, severity=concern.severity,
                                      metadata=metadata)

    # Dagster reads the inputs from the signature: the table itself, then the others by name.
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    names = [table, *inputs]
    _checks.__signature__ = inspect.Signature(
        [inspect.Parameter("context", keyword),
         inspect.Parameter("validation", keyword, annotation=ValidationResource),
         *(inspect.Parameter(n, keyword) for n in names)])
    _checks.__name__ = f"{suite}_checks"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.multi_asset_check(
            name=f"{suite}_checks",
            specs=specs,
            ins={table: dg.AssetIn(key=asset), **{n: dg.AssetIn(key=k) for n, k in inputs.items()}},
            op_tags=op_tags,
        )(_checks)
