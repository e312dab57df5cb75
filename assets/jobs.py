"""The pipeline's two jobs: each council's stages, then the pooled analysis and release.

``council`` is partitioned by local authority: one run reads a council's folder through the door
and builds its spells and cohorts, every asset check running with its asset (a failed blocking
check stops what depends on it in that run). ``pooled_analysis`` reads every council's cohorts,
fits the models and writes the release; it builds the comparison areas too (DfE's published
council panel: no council's records). ``comparison_areas`` is that last part alone: ``make run``
runs it beside the council runs (it needs none of them), then ``pooled_analysis`` without it.
In a deployed instance the ``new_extract_sensor`` starts ``council`` runs and
``pooled_after_councils`` starts ``pooled_analysis`` once no council run is left
(``assets/sensors.py``).

Every job runs on Dagster's own executor, set by one number, the steps of a run at once
(``max_concurrent`` in the run config's ``execution: config:``; by default ``FSP_MAX_CONCURRENT``,
else the machine's cores). Above one, the multiprocess executor, each step forked from a server
that has already imported the heavy libraries, so a step starts in a fraction of a second rather
than the seconds an import of Great Expectations takes; the step processes take their environment
(key, folders) from that server: one process runs one configuration. At one, the in-process
executor: the steps one after another in the run's own process, with no process started per
step; ``make run`` runs its council runs so when they run side by side (``assets/run.py``).
``FSP_EXECUTOR=k8s`` gives each step a pod instead (``assets/storage.py``).
"""

from __future__ import annotations

import os

import dagster as dg

# The fork server's preload list (``make run`` starts the server before importing Dagster).
from assets.fork_server import PRELOADED

#: Asset groups built once per local authority, in graph order.
COUNCIL_GROUPS = ("pseudonymised", "spells", "cohorts")
#: Asset groups built from DfE's published statistics alone (no council's records).
COMPARISON_GROUPS = ("comparison",)
#: Asset groups built once over every local authority (the comparison areas among them).
POOLED_GROUPS = (*COMPARISON_GROUPS, "analysis", "release")

MAX_CONCURRENT_ENV_VAR = "FSP_MAX_CONCURRENT"

#: Dagster's op tag ordering the steps a run can start: the highest first, then the plan's order
#: (no tag: 0). The pooled run starts its longest analyses first (``assets/analysis.py``).
PRIORITY_TAG = "dagster/priority"


def priority(rank: int) -> dict[str, str]:
    """Op tags starting a step before (``rank`` > 0) or after (< 0) the steps without one."""
    return {PRIORITY_TAG: str(rank)}


#: Op tags of the council-run steps that nothing else in the run waits for (the checks of door
#: tables no stage reads, and the cohort tables only the pooled run reads): they start after every
#: other step that can start, so they fill a free core instead of delaying the chain of checks,
#: spells and cohorts to the analysis dataset and its checks. On the default county's measured
#: step times that chain ends ~1.5 s sooner (20.9 against 22.5 s after the door, list-scheduled
#: on two cores).
CAN_WAIT = priority(-1)

def max_concurrent() -> int:
    """Steps run at once: ``FSP_MAX_CONCURRENT``, else the machine's cores."""
    value = os.environ.get(MAX_CONCURRENT_ENV_VAR, "").strip()
    if not value:
        return max(1, os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{MAX_CONCURRENT_ENV_VAR} must be a whole number ≥ 1, not {value!r}")
    return int(value)


def execution_config(steps: int) -> dict:
    """The local executor's config for ``steps`` steps at once: multiprocess above one, in-process
    (every step in the run's own process, one after another) at one."""
    if steps < 1:
        raise ValueError(f"steps at once must be at least 1, not {steps}")
    if steps == 1:
        return {"in_process": {}}
    return {"multiprocess": {"max_concurrent": steps,
                             "start_method": {"forkserver": {"preload_modules": PRELOADED}}}}


def local_executor() -> dg.ExecutorDefinition:
    """Dagster's multiprocess-or-in-process executor, chosen by the steps at once
    (:func:`execution_config`)."""
    return dg.multi_or_in_process_executor.configured(
        lambda config: execution_config(config.get("max_concurrent") or max_concurrent()),
        name="local",
        config_schema={"max_concurrent": dg.Field(
            int, is_required=False,
            description="Steps of a run at once (default FSP_MAX_CONCURRENT, else the machine's "
            "cores). 1 runs them one after another in the run's own process.")})


council_job = dg.define_asset_job(
    "council",
    selection=dg.AssetSelection.groups(*COUNCIL_GROUPS),   # partitioned by local authority
    description="One local authority: the door (read and pseudonymise), spells, cohorts, the "
    "analysis dataset and the inputs of days in state and the time series, with their checks.",
    tags={"fsp/job": "council"},
)

pooled_job = dg.define_asset_job(
    "pooled_analysis",
    selection=dg.AssetSelection.groups(*POOLED_GROUPS),
    description="Every local authority together: comparison areas, survival, competing exits, "
    "days in each state, time series, then the disclosure-controlled release and report.",
    tags={"fsp/job": "pooled_analysis"},
)

comparison_job = dg.define_asset_job(
    "comparison_areas",
    selection=dg.AssetSelection.groups(*COMPARISON_GROUPS),
    description="The comparison areas from DfE's published council statistics: the panel, the "
    "adopting councils, synthetic control and staggered adoption. Reads no council's records, so "
    "make run runs it beside the council runs.",
    tags={"fsp/job": "comparison_areas"},
)

JOBS = [council_job, pooled_job, comparison_job]
