"""The order the executor starts a run's ready steps in (``dagster/priority`` op tags)."""

from __future__ import annotations

import dagster as dg

from assets.analysis import LONGEST_FIRST
from assets.jobs import CAN_WAIT, COUNCIL_GROUPS, PRIORITY_TAG


def _tagged(job_name: str, tags: dict | None = None) -> set[str]:
    """The steps of ``job_name`` carrying a priority (``tags``' own, when given)."""
    from assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    return {name for name, node in job.graph.node_dict.items()
            if node.definition.tags.get(PRIORITY_TAG) is not None
            and (tags is None or node.definition.tags.get(PRIORITY_TAG) == tags[PRIORITY_TAG])}


def _step_starts(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [event.step_key for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)]


def test_the_pooled_run_starts_its_longest_analyses_first(pipeline_run):
    """Survival and days in each state, the two longest steps, start before every other step of
    the session's pooled run (on two cores side by side; on one, one after the other), then
    competing exits, before the short ones."""
    assert pipeline_run.exit_code == 0
    with dg.DagsterInstance.from_config(str(pipeline_run.home)) as instance:
        (run,) = [r for r in instance.get_runs() if r.job_name == "pooled_analysis"]
        starts = _step_starts(instance, run.run_id)
    assert set(starts[:2]) == {"survival_analysis", "days_in_state_analysis"}, starts
    assert starts[2] == "competing_exits_analysis", starts
    assert sorted(LONGEST_FIRST, key=LONGEST_FIRST.get, reverse=True) == [
        "survival_analysis", "days_in_state_analysis", "competing_exits_analysis"]
    assert len(starts) > 2 and "release__released_outputs" == starts[-1]


def test_every_other_pooled_step_has_the_default_priority():
    """Only the listed steps are raised: a priority given elsewhere would reorder them."""
    assert _tagged("pooled_analysis") == set(LONGEST_FIRST)


def test_what_can_wait_in_a_council_run_is_read_by_nothing_in_that_run():
    """A council-run step tagged ``CAN_WAIT`` is the check of a door table, or a table, that no
    other asset of the council job reads: delaying it delays nothing of that run."""
    from assets.definitions import defs

    graph = defs.resolve_asset_graph()
    council = {key for key in graph.get_all_asset_keys() if graph.get(key).group_name in COUNCIL_GROUPS}
    waiting = _tagged("council", CAN_WAIT)
    assert len(waiting) == 7, waiting
    for name in waiting:
        table = name.removesuffix("_checks")
        key = dg.AssetKey(table.split("__"))
        assert key in council, name
        readers = {child for child in graph.get(key).child_keys if child in council}
        assert readers == set(), (name, readers)
    # and every other door table is read by a stage of the council run
    for key in council:
        if key.path[0] == "pseudonymised" and f"pseudonymised__{key.path[1]}_checks" not in waiting:
            node = graph.get(key)
            assert key.path[1] == "repairs" or {c for c in node.child_keys if c in council}, key


def test_a_council_run_starts_what_can_wait_last(pipeline_run):
    """In the session's council runs (their steps one after another), the steps that can wait
    start after every other step."""
    assert pipeline_run.exit_code == 0
    waiting = _tagged("council", CAN_WAIT)
    with dg.DagsterInstance.from_config(str(pipeline_run.home)) as instance:
        runs = [r for r in instance.get_runs() if r.job_name == "council"]
        assert len(runs) == 2
        for run in runs:
            starts = _step_starts(instance, run.run_id)
            assert set(starts[-len(waiting):]) == waiting, starts
