"""The project's Dagster Definitions (loaded by workspace.yaml and ``make run``)."""

from __future__ import annotations

import os

import dagster as dg

from assets import analysis, cohorts, comparison, ingest, release, spells
from assets.resources import (
    KEY_CHANGE_ENV_VAR,
    KEY_ENV_VAR,
    NATIONAL_LINK_ENV_VAR,
    InputFolder,
    OutputFolder,
    PseudonymisationKeyResource,
    default_database,
    default_instance_dir,
    default_input_dir,
    default_output_dir,
)
from assets.jobs import JOBS, local_executor
from assets.sensors import SENSORS
from assets.storage import executor_from_env, io_manager_from_env
from assets.study import StudySettings
from checks import ALL_CHECKS, default_validation_resource

ALL_ASSETS = [ingest.ingest_and_pseudonymise, *spells.SPELL_ASSETS, *cohorts.COHORT_ASSETS,
              *analysis.PER_LA_ASSETS, *comparison.COMPARISON_ASSETS, *analysis.POOLED_ASSETS,
              release.released_outputs]


def build_resources(database: str | None = None, input_dir: str | None = None,
                    output_dir: str | None = None) -> dict:
    """Resources for a run; arguments override the environment (tests use them)."""
    validation = default_validation_resource()
    if output_dir:
        validation = validation.model_copy(update={"docs_dir": f"{output_dir}/validation"})
    return {
        "io_manager": io_manager_from_env(database=database or default_database()),
        "pseudonymisation_key": PseudonymisationKeyResource(
            key=dg.EnvVar(KEY_ENV_VAR),
            allow_key_change=os.environ.get(KEY_CHANGE_ENV_VAR, "") in ("1", "true", "yes"),
            national_upn_link=os.environ.get(NATIONAL_LINK_ENV_VAR, "") in ("1", "true", "yes")),
        "input_folder": InputFolder(path=input_dir or default_input_dir()),
        "output_folder": OutputFolder(path=output_dir or default_output_dir(),
                                      input_path=input_dir or default_input_dir(),
                                      instance_path=default_instance_dir()),
        "study": StudySettings(),
        "validation": validation,
    }


defs = dg.Definitions(assets=ALL_ASSETS, asset_checks=ALL_CHECKS, jobs=JOBS, sensors=SENSORS,
                      resources=build_resources(), executor=executor_from_env() or local_executor())


def council_job() -> dg.JobDefinition:
    """The ``council`` job as the code location defines it (for ``dg.reconstructable``)."""
    return defs.resolve_job_def("council")


def comparison_job() -> dg.JobDefinition:
    """The ``comparison_areas`` job as the code location defines it (for ``dg.reconstructable``)."""
    return defs.resolve_job_def("comparison_areas")


def pooled_job() -> dg.JobDefinition:
    """The ``pooled_analysis`` job as the code location defines it (for ``dg.reconstructable``)."""
    return defs.resolve_job_def("pooled_analysis")
