"""Checks on the comparison group's public tables: the DfE LA panel and the adopters table.

The same pattern as :func:`checks.factory.make_table_checks` (each concern's Great Expectations
suite built, run through :func:`evaluation.validation.run_suite`, reported as its own Dagster
asset check with counts only), for unpartitioned tables that are not a council's extract: no
partition, and the GX run is named by the Dagster run alone.
"""

from __future__ import annotations

import inspect

import dagster as dg

from checks.factory import ERROR, WARN, Concern, _tag
from checks.resources import ValidationResource
from evaluation.comparison import validation as suites
from evaluation.validation import run_name, run_suite
from evaluation.validation.engine import split_by_check, write_docs_index


def make_pooled_checks(asset: list[str], concerns: list[Concern],
                       inputs: dict[str, list[str]] | None = None) -> dg.AssetChecksDefinition:
    """The asset checks of one unpartitioned table; ``inputs`` maps the extra tables concerns use
    (``Concern.others``) to asset keys. Each concern is validated as its own GX suite."""
    inputs = dict(inputs or {})
    table = asset[-1]
    suite = "__".join(asset)
    specs = [dg.AssetCheckSpec(c.name, asset=dg.AssetKey(asset), description=c.description,
                               blocking=c.severity == ERROR,
                               additional_deps=[dg.AssetKey(inputs[n]) for n in c.others])
             for c in concerns]

    def _checks(context, validation: ValidationResource, **tables):
        frame = tables.pop(table)
        run = run_name(None, None, context.run.run_id)
        gx = validation.context()
        results: list[dg.AssetCheckResult] = []
        validated = False
        for concern in concerns:
            try:
                derived, exps = concern.build(frame, **{k: tables[k] for k in concern.others})
            except Exception as err:  # noqa: BLE001 — reported as a failed check, never a row value
                results.append(dg.AssetCheckResult(asset_key=dg.AssetKey(asset), check_name=concern.name,
                                                   passed=False, severity=concern.severity,
                                                   metadata={"not_evaluated": type(err).__name__}))
                continue
            _tag(exps, concern.name, concern.severity)
            outcome = split_by_check(run_suite(gx, f"{suite}__{concern.name}", derived, exps, run=run,
                                               write_index=False))
            validated = True
            outcome = outcome.get(concern.name)
            metadata: dict[str, object] = {"severity_if_failed": concern.severity.value}
            if outcome is None:
                metadata["not_evaluated"] = "no expectations"
            else:
                metadata.update(outcome.metadata())
                if outcome.docs_page is not None:
                    metadata["data_docs"] = dg.MetadataValue.path(str(outcome.docs_page))
            results.append(dg.AssetCheckResult(asset_key=dg.AssetKey(asset), check_name=concern.name,
                                               passed=outcome is not None and outcome.success,
                                               severity=concern.severity, metadata=metadata))
        if validated:  # the docs index once per table, after all its pages (not after each page)
            write_docs_index(gx)
        yield from results

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    _checks.__signature__ = inspect.Signature(
        [inspect.Parameter("context", keyword),
         inspect.Parameter("validation", keyword, annotation=ValidationResource),
         *(inspect.Parameter(n, keyword) for n in [table, *inputs])])
    _checks.__name__ = f"{suite}_checks"
    return dg.multi_asset_check(
        name=f"{suite}_checks", specs=specs,
        ins={table: dg.AssetIn(key=asset), **{n: dg.AssetIn(key=k) for n, k in inputs.items()}},
    )(_checks)


COMPARISON_CHECKS = [
    make_pooled_checks(["comparison", "la_panel"], [
        Concern("suppression_marks", "Every missing value carries a known DfE mark (c, x, u, z, ...); no "
                "value carries one; 'suppressed' is true exactly where the value is missing.",
                suites.suppression_suite),
        Concern("boundary_changes", "A council present for only part of the panel's years is a listed "
                "boundary change (Dorset 2019, Northamptonshire 2021, Cumbria 2023) or a listed tiny "
                "council; codes unique.", suites.boundary_suite),
        Concern("gaps", f"Every compared rate has a value for at least {suites.MIN_COVERAGE:.0%} of the "
                "councils present in every year.", suites.gaps_suite, WARN),
    ]),
    make_pooled_checks(["comparison", "adopters"], [
        Concern("go_live_sourced", "Every adopter names its public source; every row used as dated has "
                "a go-live day or month and a transition year; codes unique.", suites.adopters_suite),
        Concern("adopters_in_panel", "Every adopter's code is a council of the LA panel (a mistyped "
                "code would leave an adopter among the donors).", suites.adopters_in_panel_suite,
                others=("la_panel",)),
    ], {"la_panel": ["comparison", "la_panel"]}),
]
