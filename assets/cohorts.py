"""Cohorts per local authority: who enters, when and in which cohort; the analysis dataset; the
cohort flow. Each asset reads the door tables it needs and the spells and index episodes built
upstream, so the graph is the data flow."""


import dagster as dg

from assets.jobs import CAN_WAIT
from assets.partitions import local_authorities
from assets.spells import CENSORING, SPELL_INPUTS, door_inputs
from assets.study import StudySettings
from evaluation.cohorts.analysis_dataset import analysis_dataset as build_analysis_dataset
from evaluation.cohorts.cohorts import family_cohorts as build_family_cohorts
from evaluation.cohorts.cohorts import index_episodes as build_index_episodes
from evaluation.cohorts.flow import cohort_flow as build_cohort_flow

#: Settings shared by every per-LA asset of the cohorts group.
PER_LA_COHORTS = dict(
    key_prefix=["cohorts"],
    partitions_def=local_authorities,
    group_name="cohorts",
    metadata={"partition_expr": "la_code"},
    kinds={"duckdb", "pandas"},
)

#: The index episodes, as an input of what is built on the cohorts.
INDEX_INPUT = {"index_episodes": dg.AssetIn(key=["cohorts", "index_episodes"])}


@dg.asset(description="One row per included child: time zero (the index referral), its CIN "
          "episode, the family's index date and cohort (pre-FSP / transition / post-FSP by that "
          "date; family-level assignment by the earliest child).",
          ins=door_inputs("children", "families", "extracts", "cin_episodes", "quarantine"),
          **PER_LA_COHORTS)
def index_episodes(context: dg.AssetExecutionContext, study: StudySettings, **tables):
    frame = build_index_episodes(tables, study.config())
    context.add_output_metadata({
        "dagster/row_count": len(frame),
        "children_by_cohort": dg.MetadataValue.json(
            {str(k): int(v) for k, v in frame["cohort"].value_counts().items()}),
    })
    return frame


@dg.asset(description="One row per family: its index referral (its earliest child's time zero), "
          "cohort, index child and the children included and linked.",
          ins={**door_inputs("families"), **INDEX_INPUT}, op_tags=CAN_WAIT, **PER_LA_COHORTS)
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
          "released; the input to every model.",
          ins={**door_inputs(*CENSORING, "assessments", "assessment_factors"), **SPELL_INPUTS,
               **INDEX_INPUT}, **PER_LA_COHORTS)
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
          "each was excluded: the numbers behind the flow diagram.",
          ins=door_inputs("children", "families", "extracts", "cin_episodes", "quarantine"),
          op_tags=CAN_WAIT, **PER_LA_COHORTS)
def cohort_flow(context: dg.AssetExecutionContext, study: StudySettings, **tables):
    frame = build_cohort_flow(tables, study.config())
    frame.insert(0, "la_code", context.partition_key)
    context.add_output_metadata({"dagster/row_count": len(frame)})
    return frame


COHORT_ASSETS = [index_episodes, family_cohorts, analysis_dataset, cohort_flow]
