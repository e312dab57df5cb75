"""The order the executor starts a run's ready steps in (``dagster/priority`` op tags)."""

from __future__ import annotations

import dagster as dg

from assets.analysis import LONGEST_FIRST


def _step_starts(home, job_name: str) -> list[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = [r for r in instance.get_runs() if r.job_name == job_name]
        return [event.step_key for event in instance.all_logs(run.run_id,
                                                              of_type=dg.DagsterEventType.STEP_START)]


def test_the_pooled_run_starts_its_longest_analyses_first(pipeline_run):
    """Survival and days in each state, the two longest steps, start before every other step of
    the session's pooled run (on two cores side by side; on one, one after the other)."""
    assert pipeline_run.exit_code == 0
    starts = _step_starts(pipeline_run.home, "pooled_analysis")
    assert set(starts[:2]) == set(LONGEST_FIRST), starts
    assert len(starts) > 2 and "release__released_outputs" == starts[-1]


def test_every_other_pooled_step_has_the_default_priority():
    """Only the listed steps are raised: a priority given elsewhere would reorder them."""
    from assets.definitions import defs

    job = defs.resolve_job_def("pooled_analysis")
    raised = {node.name for node in job.graph.node_dict.values()
              if node.definition.tags.get("dagster/priority") is not None}
    assert raised == set(LONGEST_FIRST)
