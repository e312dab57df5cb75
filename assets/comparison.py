"""Comparison areas on DfE's published local-authority statistics (issue #17): the LA panel, the
Family Safeguarding adopters, a synthetic control for the treated council and the staggered-
adoption (Callaway & Sant'Anna) analysis across every dated adopter.

Pooled and unpartitioned (group ``comparison``): the inputs are public aggregates, not a
council's extract, so nothing here waits for the door. The estimators live in
:mod:`evaluation.comparison`; these assets choose the study's settings, run them and store tidy
tables. Settings are launchpad config of each asset (defaults below); newer DfE releases are read
from the folder given as ``ees_folder`` or in the environment variable :data:`EES_DIR_ENV_VAR`.
"""

import os
import time
from pathlib import Path
from typing import Optional

import dagster as dg
import pandas as pd
import pydantic

from evaluation.comparison.adopters import adopters as build_adopters
from evaluation.comparison.panel import RATES, read_ees_folder, read_panel, update_panel

# The estimators (evaluation.comparison.synthetic with pysyncon, which imports matplotlib's
# pyplot, and evaluation.comparison.staggered with differences) are imported in their assets'
# bodies: loading the definitions (make run's own process, each test worker, the UI's code
# server) runs neither.

#: Callaway & Sant'Anna's control groups: :data:`evaluation.comparison.staggered.CONTROL_GROUPS`,
#: named here so that the settings' default does not import the estimator
#: (tests/test_validation_lazy_import.py checks the two are the same).
CONTROL_GROUPS = ("never_treated", "not_yet_treated")

#: Folder of newer DfE explore-education-statistics CSVs laid over the bundled panel.
EES_DIR_ENV_VAR = "FSP_DFE_RELEASES_DIR"

COMPARISON = dict(key_prefix=["comparison"], group_name="comparison")
KINDS = {"duckdb", "pandas"}

#: Output name -> table of ``run_synthetic_control``.
SYNTHETIC_OUTPUTS = {"synthetic_effects": "effects", "synthetic_weights": "weights",
                     "synthetic_inference": "inference", "synthetic_placebos": "placebos",
                     "synthetic_placebo_gaps": "placebo_gaps", "synthetic_leave_one_out": "leave_one_out"}
#: Output name -> table of ``run_staggered``.
STAGGERED_OUTPUTS = {"staggered_group_time": "group_time", "staggered_event_study": "event",
                     "staggered_overall": "overall", "staggered_cohorts": "cohorts"}


class PanelSettings(dg.Config):
    """Where newer DfE releases are (the bundled panel is always read first)."""

    ees_folder: Optional[str] = pydantic.Field(
        default=None,
        description="Folder of explore-education-statistics CSVs ('Children in need', 'Children looked "
        f"after in England including adoptions') laid over the bundled panel; default: ${EES_DIR_ENV_VAR}, "
        "else none (bundled panel only).")


class SyntheticControlSettings(dg.Config):
    """The synthetic control's settings (defaults: Oxfordshire, issue #17)."""

    treated: str = pydantic.Field(default="931", description="DfE 3-digit code of the treated council: an "
                                  "adopter with a sourced go-live and at least min_pre_years panel years "
                                  "before it (default 931 Oxfordshire)")
    min_pre_years: int = pydantic.Field(default=5, description="fewest panel years before the transition year")
    max_donors: Optional[int] = pydantic.Field(
        default=40, description="nearest never-adopters (pre-period RMSE) kept in the donor pool; null = all")
    holdout: int = pydantic.Field(
        default=2, description="last pre-period years held out of the weights' fit; the pre-RMSPE is "
        "measured on them alone (Abadie 2021), so a near-exact in-sample fit cannot inflate the ratio")
    placebo_units: str = pydantic.Field(
        default="donors", description="placebo-in-space units: 'donors' (the donor pool as fitted, Abadie "
        "et al. 2010) or 'pool' (every never-adopter with a complete series; slower)")
    in_time_shift: int = pydantic.Field(default=2, description="years go-live is moved back for the in-time placebo")
    augmented: bool = pydantic.Field(default=True, description="also fit the augmented (ridge) synthetic "
                                     "control as a sensitivity analysis")


class StaggeredSettings(dg.Config):
    """The staggered-adoption analysis's settings."""

    control_groups: list[str] = pydantic.Field(
        default=list(CONTROL_GROUPS), description="Callaway & Sant'Anna control groups: never_treated, "
        "not_yet_treated")


def ees_folder(configured: str | None) -> Path | None:
    """The release folder to read: the setting, else the environment variable, else None.
    A folder that is named but missing is refused (a typo must not silently fall back)."""
    name = configured or os.environ.get(EES_DIR_ENV_VAR) or None
    if name is None:
        return None
    folder = Path(name)
    if not folder.is_dir():
        raise FileNotFoundError(f"DfE release folder {folder} (from "
                                f"{'ees_folder' if configured else EES_DIR_ENV_VAR}) does not exist")
    return folder


@dg.asset(description="DfE's published local-authority panel, 2013 onwards: children looked after, CP "
          "plans, referrals, re-referrals and the 0-17 population with derived rates per 10,000 (bundled, "
          "Open Government Licence v3.0), with any newer EES release laid over it.", kinds=KINDS,
          **COMPARISON)
def la_panel(context: dg.AssetExecutionContext, config: PanelSettings) -> pd.DataFrame:
    panel = read_panel()
    folder = ees_folder(config.ees_folder)
    newer_rows = 0
    if folder is not None:
        newer = read_ees_folder(folder)
        if newer.empty:
            raise ValueError(f"DfE release folder {folder}: no explore-education-statistics CSV it holds "
                             "could be read (see evaluation.comparison.panel.read_ees_folder)")
        newer_rows = len(newer)
        panel = update_panel(panel, newer)
    context.add_output_metadata({
        "dagster/row_count": len(panel),
        "years": f"{int(panel['year'].min())}-{int(panel['year'].max())}",
        "councils": int(panel["la_code_old"].nunique()),
        "release_folder": str(folder) if folder else "none (bundled panel only)",
        "rows_from_release_folder": newer_rows,
    })
    return panel


@dg.asset(name="adopters", description="Councils that adopted the Family Safeguarding model, each with its "
          "go-live date and the public document it comes from; undated rows (sourced = false) are left out "
          "of the staggered analysis but kept out of every donor pool.", kinds=KINDS, **COMPARISON)
def adopters_table(context: dg.AssetExecutionContext) -> pd.DataFrame:
    frame = build_adopters()
    context.add_output_metadata({"dagster/row_count": len(frame),
                                 "dated_and_sourced": int(frame["sourced"].sum())})
    return frame


def _outs(names, description: str) -> dict[str, dg.AssetOut]:
    return {name: dg.AssetOut(description=f"{description} ({name}).", kinds=KINDS, **COMPARISON)
            for name in names}


@dg.multi_asset(
    outs=_outs(SYNTHETIC_OUTPUTS, "Synthetic control of the treated council (default Oxfordshire) for each "
               "compared rate, against never-adopters with complete series: effects by year, donor weights, "
               "placebo-in-space p-values, leave-one-donor-out, in-time placebo and pre-period fit"),
    ins={"la_panel": dg.AssetIn(key=["comparison", "la_panel"]),
         "adopters": dg.AssetIn(key=["comparison", "adopters"])},
    name="synthetic_control",
    pool="duckdb",
)
def synthetic_control(context: dg.AssetExecutionContext, config: SyntheticControlSettings,
                      la_panel: pd.DataFrame, adopters: pd.DataFrame):
    from evaluation.comparison.synthetic import run_synthetic_control, treated_council

    name, transition = treated_council(adopters, config.treated, int(la_panel["year"].min()),
                                       config.min_pre_years)
    started = time.perf_counter()
    tables = run_synthetic_control(la_panel, treated=config.treated, transition_year=transition,
                                   max_donors=config.max_donors, holdout=config.holdout,
                                   placebo_units=config.placebo_units, in_time_shift=config.in_time_shift,
                                   augmented=config.augmented)
    seconds = time.perf_counter() - started
    for output, table in SYNTHETIC_OUTPUTS.items():
        frame = tables[table]
        if output in ("synthetic_effects", "synthetic_inference"):
            frame = frame.assign(council=config.treated, council_name=name)
        yield dg.Output(frame, output_name=output, metadata={
            "dagster/row_count": len(frame), "council": f"{config.treated} {name}",
            "transition_year": transition, "seconds": round(seconds, 1)})


@dg.multi_asset(
    outs=_outs(STAGGERED_OUTPUTS, "Staggered adoption across every council with a sourced go-live "
               "(Callaway & Sant'Anna 2021): group-time effects, event study, overall effects per rate, "
               "and the treated councils used"),
    ins={"la_panel": dg.AssetIn(key=["comparison", "la_panel"]),
         "adopters": dg.AssetIn(key=["comparison", "adopters"])},
    name="staggered_adoption",
    pool="duckdb",
)
def staggered_adoption(context: dg.AssetExecutionContext, config: StaggeredSettings,
                       la_panel: pd.DataFrame, adopters: pd.DataFrame):
    from evaluation.comparison.staggered import run_staggered

    unknown = set(config.control_groups) - set(CONTROL_GROUPS)
    if unknown or not config.control_groups:
        raise ValueError(f"control_groups must be among {list(CONTROL_GROUPS)}, got {config.control_groups}")
    started = time.perf_counter()
    tables = run_staggered(la_panel, measures=list(RATES), control_groups=tuple(config.control_groups),
                           adopters_table=adopters)
    seconds = time.perf_counter() - started
    for output, table in STAGGERED_OUTPUTS.items():
        yield dg.Output(tables[table], output_name=output, metadata={
            "dagster/row_count": len(tables[table]), "seconds": round(seconds, 1)})


#: The comparison tables the release reads, by input name.
COMPARISON_INPUTS = {name: dg.AssetIn(key=["comparison", name])
                     for name in ["adopters", *SYNTHETIC_OUTPUTS, *STAGGERED_OUTPUTS]}


@dg.asset(
    ins=COMPARISON_INPUTS,
    description="The comparison-area figures of the release (the council against its synthetic control, "
    "the event study; one per rate), drawn from the released comparison tables, which are published "
    "aggregates needing no disclosure control: drawn here, beside the councils' runs, instead of at the "
    "end of the pipeline. One row per figure: its name, the PNG and a digest of the tables drawn from; "
    "the release writes them only if its own comparison tables have that digest.",
    kinds={"duckdb", "pandas", "png"},
    pool="duckdb",
    **COMPARISON,
)
def comparison_figures(context: dg.AssetExecutionContext, **results: pd.DataFrame) -> pd.DataFrame:
    from evaluation.report.comparison_section import comparison_tables
    from evaluation.report.predrawn import draw_comparison

    frame = draw_comparison(comparison_tables(results))
    context.add_output_metadata({"figures": len(frame)})
    return frame


COMPARISON_ASSETS = [la_panel, adopters_table, synthetic_control, staggered_adoption, comparison_figures]
