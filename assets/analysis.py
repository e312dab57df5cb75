"""The pooled analysis over every local authority: survival, competing exits, days in each
state and the monthly time series. Internal result tables; the release stage makes them safe."""

import dagster as dg
import pandas as pd

from assets.cohorts import INDEX_INPUT, PER_LA_COHORTS
from assets.jobs import CAN_WAIT, priority
from assets.spells import CENSORING, SPELL_INPUTS, door_inputs
from assets.study import StudySettings
from evaluation import analysis as estimators
# The table names alone: each estimator's module (SciPy, statsmodels) is imported by the step that
# fits it (evaluation.analysis's functions are loaded on first use), not with the definitions.
from evaluation.analysis import tables as analysis_tables
from evaluation.journeys import state_intervals as build_state_intervals
from evaluation.monthly import monthly_counts as build_monthly_counts



@dg.asset(description="Each child's journey from the index referral as multi-state intervals "
          "(referral, CIN plan, CP plan, care, closed): the input of days in each state.",
          ins={**door_inputs(*CENSORING), **SPELL_INPUTS, **INDEX_INPUT}, op_tags=CAN_WAIT,
          **PER_LA_COHORTS)
def state_intervals(context: dg.AssetExecutionContext, study: StudySettings, **tables):
    frame = build_state_intervals(tables, study.config())
    context.add_output_metadata({"dagster/row_count": len(frame)})
    return frame


@dg.asset(description="Monthly counts per local authority (referrals, plan starts, care entries, "
          "children on plans / in care at month end): the input of the time series.",
          ins={**door_inputs("extracts"), **SPELL_INPUTS}, op_tags=CAN_WAIT, **PER_LA_COHORTS)
def monthly_counts(context: dg.AssetExecutionContext, study: StudySettings, **tables):
    frame = build_monthly_counts(tables, study.config())
    context.add_output_metadata({"dagster/row_count": len(frame)})
    return frame


#: Stable order of each pooled input: DuckDB returns partitions in the order they were written,
#: and a pooled estimate must not depend on that order.
POOLED_ORDER = {
    "analysis_dataset": ["la_code", "family_id", "child_id", "outcome"],
    "state_intervals": ["la_code", "id", "tstart"],
    "monthly_counts": ["la_code", "series", "month"],
}


def pooled(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (every LA partition of ``name``) sorted into a stable order, whatever order the LAs
    ran in or DuckDB returned their rows: a pooled estimate must not depend on that order.

    Sorted in place (and returned), so that a step does not hold the loaded frame and a sorted copy
    of it at once; the IO manager already loads each distinct text as one object
    (:func:`assets.storage.load_frame`)."""
    frame.sort_values(POOLED_ORDER[name], kind="mergesort", ignore_index=True, inplace=True)
    return frame


def _outs(tables, description: str) -> dict[str, dg.AssetOut]:
    return {name: dg.AssetOut(key_prefix=["analysis"], group_name="analysis",
                              description=f"{description} ({name}).", kinds={"duckdb", "pandas"})
            for name in tables}


#: Ready steps start in the order of Dagster's ``dagster/priority`` op tag (highest first; then the
#: plan's order): the longest analysis first and the next longest beside it, so that the short
#: ones fill the core that frees first instead of one long step running alone before the release;
#: then competing exits, the next longest, before the two short ones (across councils, time
#: series: ~1 s each), so that they fill the end instead of delaying it (default county, two
#: cores: the release started ~1 s later when competing exits came after them). Survival has been
#: the longest and days in each state the next at every size measured (one to twenty councils;
#: benchmarks/pipeline_scale.py).
LONGEST_FIRST = {"survival_analysis": 3, "days_in_state_analysis": 2, "competing_exits_analysis": 1}


def _emit(results: dict[str, pd.DataFrame]):
    for name, frame in results.items():
        yield dg.Output(frame, output_name=name, metadata={"dagster/row_count": len(frame)})


@dg.multi_asset(
    outs=_outs(analysis_tables.SURVIVAL, "Time in need / on plans / in care: Kaplan–Meier, "
               "log-rank, Cox with family-clustered SEs and PH tests, RMST, differential impact "
               "by risk-factor combination, inverse-probability weighting"),
    ins={"analysis_dataset": dg.AssetIn(key=["cohorts", "analysis_dataset"])},
    name="survival_analysis",
    op_tags=priority(LONGEST_FIRST["survival_analysis"]),
)
def survival_analysis(study: StudySettings, analysis_dataset: pd.DataFrame):
    yield from _emit(estimators.survival_results(pooled("analysis_dataset", analysis_dataset),
                                                study.config()))


@dg.multi_asset(
    outs=_outs(analysis_tables.COMPETING_EXITS, "Competing exits from a protection plan and from care: "
               "Aalen–Johansen cumulative incidence, Gray's test, cause-specific Cox, Fine–Gray"),
    ins={"analysis_dataset": dg.AssetIn(key=["cohorts", "analysis_dataset"])},
    name="competing_exits_analysis",
    op_tags=priority(LONGEST_FIRST["competing_exits_analysis"]),
)
def competing_exits_analysis(study: StudySettings, analysis_dataset: pd.DataFrame):
    yield from _emit(estimators.competing_results(pooled("analysis_dataset", analysis_dataset),
                                                 study.config()))


@dg.multi_asset(
    outs=_outs(analysis_tables.STATES, "Days in each state within 1 and 2 years (also weighted by inverse "
               "probability of cohort, and doubly robust, with their E-values) and the share reaching a "
               "protection plan or care (multi-state Aalen–Johansen, family bootstrap)"),
    ins={"state_intervals": dg.AssetIn(key=["cohorts", "state_intervals"]),
         "analysis_dataset": dg.AssetIn(key=["cohorts", "analysis_dataset"])},
    name="days_in_state_analysis",
    op_tags=priority(LONGEST_FIRST["days_in_state_analysis"]),
)
def days_in_state_analysis(study: StudySettings, state_intervals: pd.DataFrame, analysis_dataset: pd.DataFrame):
    yield from _emit(estimators.state_results(pooled("state_intervals", state_intervals), study.config(),
                                             analysis=pooled("analysis_dataset", analysis_dataset)))


@dg.multi_asset(
    outs=_outs(analysis_tables.TIME_SERIES, "Monthly rates around go-live: segmented regression with "
               "seasonality, lockdown terms and Newey–West errors; placebo go-live a year earlier"),
    ins={"monthly_counts": dg.AssetIn(key=["cohorts", "monthly_counts"])},
    name="time_series_analysis",
)
def time_series_analysis(study: StudySettings, monthly_counts: pd.DataFrame):
    yield from _emit(estimators.time_series_results(pooled("monthly_counts", monthly_counts),
                                                   study.config()))


@dg.multi_asset(
    outs=_outs(analysis_tables.ACROSS_COUNCILS, "The programme against councils that had not adopted it: Cox "
               "stratified by council and RMST as differences in differences, each council's go-live from "
               "the study settings (council_go_lives); 'not estimable: one council' with one extract"),
    ins={"analysis_dataset": dg.AssetIn(key=["cohorts", "analysis_dataset"])},
    name="across_councils_analysis",
)
def across_councils_analysis(study: StudySettings, analysis_dataset: pd.DataFrame):
    yield from _emit(estimators.across_council_results(pooled("analysis_dataset", analysis_dataset),
                                                      study.config()))


PER_LA_ASSETS = [state_intervals, monthly_counts]
POOLED_ASSETS = [survival_analysis, competing_exits_analysis, days_in_state_analysis,
                 time_series_analysis, across_councils_analysis]
