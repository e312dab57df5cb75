"""One pattern for every check: build a suite from the stored tables, run it, report counts."""

from __future__ import annotations

import inspect
from typing import Callable

import warnings

import dagster as dg
import pandas as pd

from assets.partitions import local_authorities

from checks.resources import ValidationResource
from evaluation.validation import run_suite

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def make_check(
    asset: list[str],
    name: str,
    description: str,
    build: Callable[..., tuple[pd.DataFrame, list]],
    severity: dg.AssetCheckSeverity = ERROR,
    others: dict[str, list[str]] | None = None,
) -> dg.AssetChecksDefinition:
    """An asset check on ``asset`` running the suite ``build(frame, **others)`` returns.

    ERROR checks are blocking: a failure stops every downstream asset.
    ``others`` names further stored tables the suite needs (parameter -> asset key).
    """
    others = others or {}
    suite_name = "__".join([*asset, name])

    def _check(context: dg.AssetCheckExecutionContext, validation: ValidationResource, **inputs):
        frame = inputs.pop(asset[-1])
        derived, expectations = build(frame, **inputs)
        outcome = run_suite(validation.context(), suite_name, derived, expectations)
        metadata: dict[str, object] = {**outcome.metadata(), "severity_if_failed": severity.value}
        if outcome.docs_index is not None:
            metadata["data_docs"] = dg.MetadataValue.url(outcome.docs_index.as_uri())
        return dg.AssetCheckResult(passed=outcome.success, severity=severity, metadata=metadata)

    # Dagster reads inputs from the signature: the asset's value under its last key
    # component, then the other tables by parameter name.
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    _check.__signature__ = inspect.Signature(
        [inspect.Parameter("context", keyword, annotation=dg.AssetCheckExecutionContext),
         inspect.Parameter("validation", keyword, annotation=ValidationResource),
         inspect.Parameter(asset[-1], keyword),
         *(inspect.Parameter(param, keyword) for param in others)]
    )
    _check.__name__ = f"{asset[-1]}_{name}"
    with warnings.catch_warnings():
        # Checks on partitioned assets are a Dagster "preview" feature; each LA is checked alone.
        warnings.simplefilter("ignore", dg.PreviewWarning if hasattr(dg, "PreviewWarning") else Warning)
        return dg.asset_check(
            asset=dg.AssetKey(asset),
            name=name,
            description=description,
            blocking=severity == ERROR,
            additional_ins={param: dg.AssetIn(key=key) for param, key in others.items()},
            partitions_def=local_authorities,
        )(_check)
