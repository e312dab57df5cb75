"""Family cohorts, the analysis dataset and the cohort flow, per local authority."""


import dagster as dg

from assets.partitions import local_authorities
from assets.spells import DOOR_INPUTS
from assets.study import StudySettings
from evaluation.cohorts.analysis_dataset import analysis_dataset as build_analysis_dataset
from evaluation.cohorts.cohorts import family_cohorts as build_family_cohorts
from evaluation.cohorts.flow import cohort_flow as build_cohort_flow

#: Settings shared by every per-LA asset of the cohorts group.
PER_LA_COHORTS = dict(
    key_prefix=["cohorts"],
    ins=DOOR_INPUTS,
    partitions_def=local_authorities,
    group_name="cohorts",
    metadata={"partition_expr": "la_code"},
    kinds={"duckdb", "pandas"},
    pool="duckdb",
)


@dg.asset(description="One row per family: its index referral (first CIN referral in the study "
          "window) and cohort (pre-FSP / transition / post-FSP by that date; family-level "
          "assignment by the earliest child).", **PER_LA_COHORTS)
def family_cohorts(context: dg.AssetExecutionContext, study: StudySettings, **tables):
    frame = build_family_cohorts(tables, study.config())
    context.add_output_metadata({
        "dagster/row_count": len(frame),
        "families_by_cohort": dg.MetadataValue.json(
            {str(k): int(v) for k, v in frame["cohort"].value_counts().items()}),
    })
    return frame


@dg.asset(description="One row per child × outcome: duration, event, cause, delayed entry, family "
          "(cluster), cohort, risk-factor combination and covariates. Pseudonymised; never "
          "released; the input to every model.", **PER_LA_COHORTS)
def analysis_dataset(context: dg.AssetExecutionContext, study: StudySettings, **tables):
    frame = build_analysis_dataset(tables, study.config())
    context.add_output_metadata({
        "dagster/row_count": len(frame),
        "children": int(frame["child_id"].nunique()),
        "families": int(frame["family_id"].nunique()),
        "rows_dropped_before_observation": int(frame.attrs.get("dropped_before_observation", 0)),
        "rows_dropped_after_go_live": int(frame.attrs.get("dropped_after_go_live", 0)),
    })
    return frame


@dg.asset(description="Families and children at each inclusion step by cohort, with the reason "
          "each was excluded: the numbers behind the flow diagram.", **PER_LA_COHORTS)
def cohort_flow(context: dg.AssetExecutionContext, study: StudySettings, **tables):
    frame = build_cohort_flow(tables, study.config())
    frame.insert(0, "la_code", context.partition_key)
    context.add_output_metadata({"dagster/row_count": len(frame)})
    return frame


COHORT_ASSETS = [family_cohorts, analysis_dataset, cohort_flow]
