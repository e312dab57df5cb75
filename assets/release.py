"""Release: disclosure-controlled tables, figures, the HTML report and the output checker's log."""

import dataclasses
import importlib.metadata
import platform
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.analysis import POOLED_ASSETS, pooled
from assets.comparison import COMPARISON_INPUTS
from assets.jobs import max_concurrent
from assets.resources import OutputFolder, PseudonymisationKeyResource
from assets.study import StudySettings
from checks import ALL_CHECKS
from checks.resources import ValidationResource

# The release's own modules (disclosure control, the report, its figures with matplotlib) are
# imported in the bodies that use them: loading the definitions (make run's own process, each
# test worker, the UI's code server) releases nothing.

#: Every internal result table of the pooled analysis, as inputs of the release.
RESULT_INPUTS = {key.path[-1]: dg.AssetIn(key=key)
                 for asset in POOLED_ASSETS for key in asset.keys}

#: What a release folder holds; cleared before each release so nothing stale is carried out.
RELEASED_PATHS = ("tables", "figures", "checksums", "report.html", "report.pdf", "results.json", "schema.json",
                  "config.json")

SOFTWARE = ("dagster", "pandas", "numpy", "scipy", "statsmodels", "lifelines", "duckdb",
            "great_expectations", "matplotlib", "fsp-evaluation")


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["R reference"] = "R survival 3.5.3, cmprsk, sandwich, MASS (tests/reference/)"
    return versions


#: Metadata entry of each release holding its headline rows: the history of estimates by extract.
HEADLINE_METADATA = "headline_estimates"


#: The released history table, inside the outputs folder.
RELEASED_HISTORY = "tables/estimates_by_extract.parquet"


def earlier_headlines(instance: dg.DagsterInstance, key: dg.AssetKey,
                      released: Path | None = None) -> list[pd.DataFrame]:
    """The headline rows of every earlier release, oldest first: the history table already
    released in ``released`` (the outputs folder: it outlives the Dagster instance), then what
    each materialisation of ``key`` in this instance recorded (a later one wins per extract)."""
    from evaluation.report.history import from_records

    frames, cursor = [], None
    history = None if released is None else Path(released) / RELEASED_HISTORY
    if history is not None and history.is_file():
        frames.append(from_records(pd.read_parquet(history).to_dict(orient="records")))
    while True:
        page = instance.fetch_materializations(key, limit=500, cursor=cursor, ascending=True)
        for record in page.records:
            entry = record.asset_materialization.metadata.get(HEADLINE_METADATA)
            if entry is not None:
                frames.append(from_records(entry.value))
        if not page.has_more:
            return frames
        cursor = page.cursor


def _extract_dates(extracts: pd.DataFrame) -> dict[str, str]:
    latest = extracts.groupby(["la_code", "dataset"])["reference_date"].max()
    return {f"LA {la} {dataset}": pd.Timestamp(day).date().isoformat()
            for (la, dataset), day in latest.items()}


@dg.asset(
    key_prefix=["release"],
    group_name="release",
    ins={**RESULT_INPUTS, **COMPARISON_INPUTS,
         "comparison_figures": dg.AssetIn(key=["comparison", "comparison_figures"]),
         "cohort_flow": dg.AssetIn(key=["cohorts", "cohort_flow"]),
         "analysis_dataset": dg.AssetIn(key=["cohorts", "analysis_dataset"]),
         "monthly_counts": dg.AssetIn(key=["cohorts", "monthly_counts"]),
         "extracts": dg.AssetIn(key=["pseudonymised", "extracts"])},
    description="Everything that may leave the secure environment, written to the outputs folder: "
    "parquet (and CSV) tables that passed disclosure control, PNG figures, the self-contained HTML "
    "report, schema.json and results.json (the output checker's log). Also rebuilds the validation "
    "pages (offline; for analysts, not part of the release).",
    kinds={"parquet", "html"},
)
def released_outputs(context: dg.AssetExecutionContext, output_folder: OutputFolder,
                     pseudonymisation_key: PseudonymisationKeyResource, study: StudySettings,
                     validation: ValidationResource, cohort_flow: pd.DataFrame,
                     analysis_dataset: pd.DataFrame, monthly_counts: pd.DataFrame,
                     extracts: pd.DataFrame, comparison_figures: pd.DataFrame,
                     **results) -> dg.MaterializeResult:
    from checks.summary import validation_summary
    from evaluation.disclosure.provenance import DISCLOSURE_LOG, disclosure_log
    from evaluation.report.assemble import release_tables
    from evaluation.report.history import to_records
    from evaluation.report.predrawn import usable
    from evaluation.report.release import publish, staging_folder, write_release
    from evaluation.report.sections import limitations_for
    from evaluation.validation import build_data_docs

    config = study.config()
    # The flow of every local authority, added up step by step (each LA's counts add up alone).
    cohort_flow = cohort_flow.sort_values(["la_code", "step"], kind="mergesort", ignore_index=True)
    keys = [c for c in cohort_flow.columns if c not in ("la_code", "families", "children")]
    cohort_flow = (cohort_flow.groupby(keys, sort=False, dropna=False)[["families", "children"]]
                   .sum().reset_index().sort_values("step", kind="stable").reset_index(drop=True))
    summary = validation_summary(context.instance, ALL_CHECKS)
    # The headline as released is dated by the extract; earlier extracts' come from earlier releases.
    extract_date = pd.Timestamp(extracts["reference_date"].max()).date()
    comparison = {name: results.pop(name) for name in COMPARISON_INPUTS}
    tables = release_tables(results, cohort_flow, pooled("analysis_dataset", analysis_dataset),
                            pooled("monthly_counts", monthly_counts),
                            validation=summary, study=config, extract_date=extract_date,
                            earlier_headlines=earlier_headlines(context.instance, context.asset_key,
                                                                output_folder.folder()),
                            comparison=comparison)
    tables[DISCLOSURE_LOG] = disclosure_log(tables)   # the attrs above do not survive parquet
    headline = tables["estimates_by_extract"]
    headline = headline[headline["extract_date"] == extract_date.isoformat()]
    out = output_folder.folder()
    key = pseudonymisation_key.get()
    # The comparison figures drawn beside the councils' runs, if drawn from these very tables.
    predrawn = usable(comparison_figures, tables)
    if len(comparison_figures) and not predrawn:
        context.log.info("comparison figures drawn again: the comparison tables differ from those "
                         "comparison/comparison_figures was drawn from")
    # Written whole into a staging folder, then moved into place: never a half-written release.
    # The last step of the pooled run: its figures are drawn on every core the run may use.
    staging = staging_folder(out)
    release = write_release(tables, staging, {
        "title": "Family Solutions Plus: time in need, in protection and in care",
        "local_authority": ", ".join(sorted(extracts["la_code"].astype(str).unique())),
        "go_live": config.go_live.isoformat(),
        "key_fingerprint": key.fingerprint,
        "demo_key": key.is_demo,
        "software": software_versions(),
        "extract_dates": _extract_dates(extracts),
        # Fixed limitations plus one sentence per council on missing or uneven returns.
        "limitations": list(limitations_for(extracts)),
    }, predrawn=predrawn, processes=max_concurrent())
    publish(staging, out, RELEASED_PATHS)
    release = dataclasses.replace(
        release, directory=out, report=out / release.report.name,
        results_json=out / release.results_json.name)
    docs = build_data_docs(validation.context())
    context.log.info(f"report written to {release.report}")
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(release.report)),
        "results_json": dg.MetadataValue.path(str(release.results_json)),
        "tables": len(release.tables),
        "figures": len(release.figures),
        "figures_drawn_beforehand": len(predrawn),
        "output_log": dg.MetadataValue.json(release.statuses),
        "demo_key": key.is_demo,
        "validation_checks_failed": int((~summary["passed"]).sum()) if len(summary) else 0,
        "extract_date": extract_date.isoformat(),
        "extracts_so_far": int(tables["estimates_by_extract"]["extract_date"].nunique()),
        HEADLINE_METADATA: dg.MetadataValue.json(to_records(headline)),
        **({"data_docs": dg.MetadataValue.path(str(docs))} if docs else {}),
    })
