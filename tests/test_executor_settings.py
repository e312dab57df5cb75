"""The local executor's one setting (steps at once) and how ``make run`` shares the cores between
council runs side by side (``assets/jobs.py``, ``assets/run.py``)."""

from __future__ import annotations

import secrets

import dagster as dg
import pytest

from assets.definitions import defs
from assets.jobs import PRELOADED, execution_config
from assets.run import parallel_councils, steps_per_run


def test_one_step_at_once_is_the_in_process_executor_more_a_process_per_step():
    assert execution_config(1) == {"in_process": {}}
    assert execution_config(3) == {"multiprocess": {
        "max_concurrent": 3, "start_method": {"forkserver": {"preload_modules": PRELOADED}}}}
    with pytest.raises(ValueError):
        execution_config(0)


@pytest.mark.parametrize("job", ["council", "comparison_areas", "pooled_analysis"])
def test_every_job_takes_steps_at_once_from_its_run_config(job, monkeypatch):
    monkeypatch.setenv("FSP_PSEUDONYMISATION_KEY", secrets.token_hex(32))   # the key resource's
    definition = defs.resolve_job_def(job)
    assert definition.executor_def.name == "local"
    for config in ({}, {"execution": {"config": {"max_concurrent": 1}}},
                   {"execution": {"config": {"max_concurrent": 4}}}):
        dg.validate_run_config(definition, config)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(definition, {"execution": {"config": {"max_concurrent": "two"}}})


def test_council_runs_side_by_side_share_the_cores(monkeypatch):
    monkeypatch.delenv("FSP_PARALLEL_COUNCILS", raising=False)
    monkeypatch.setenv("FSP_MAX_CONCURRENT", "4")
    assert parallel_councils() == 4                      # one council run per core by default
    assert [steps_per_run(n) for n in (1, 2, 3, 4, 8)] == [4, 2, 1, 1, 1]
    monkeypatch.setenv("FSP_PARALLEL_COUNCILS", "1")
    assert parallel_councils() == 1
    for wrong in ("0", "two", "-1"):
        monkeypatch.setenv("FSP_PARALLEL_COUNCILS", wrong)
        with pytest.raises(SystemExit, match="FSP_PARALLEL_COUNCILS"):
            parallel_councils()
