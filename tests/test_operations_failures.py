"""Operating the pipeline when a run fails, on the session's shared county (read only):

- a ``council`` run with a broken study setting fails at the spells after the door stored its
  tables, and Dagster's re-execution from failure (what the UI's "Re-execute from failure"
  does) completes it without reading the door again;
- a failing blocking spells check stops the cohorts in a run of the ``council`` job, the job the
  UI launches.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg

from conftest import LOCAL_STORAGE
from test_operations import county, key  # noqa: F401  (the session run's folders and key)

TESTS = Path(__file__).parent


#: Run in a process of its own: a council run that fails, then Dagster's re-execution from failure.
RESUME = textwrap.dedent("""
    import json, sys
    import dagster as dg
    from assets.definitions import council_job
    from assets.partitions import register_local_authorities

    # The failed run executes its steps one after another in its own process (as make run's council
    # runs side by side do); the re-execution takes two steps at once, each in a process of its
    # own: the executor's default on two cores, as a run launched from the UI takes it.
    in_process = {"execution": {"config": {"max_concurrent": 1}}}
    two_steps = {"execution": {"config": {"max_concurrent": 2}}}
    broken = {"resources": {"study": {"config": {"go_live": "not-a-date"}}}, **in_process}
    with dg.DagsterInstance.get() as instance:
        # As make run does: the executor's fork server imports the libraries while the failed run
        # goes on in this process, rather than when the re-execution's first step needs it.
        from assets.fork_server import fork_server_context
        fork_server_context()
        register_local_authorities(instance, ["931"])
        tags = {"dagster/partition": "931"}
        job = dg.reconstructable(council_job)
        failed = dg.execute_job(job, instance=instance, tags=tags, run_config=broken,
                                raise_on_error=False)
        steps = lambda result: sorted({e.step_key for e in result.all_events if e.is_step_success})
        stored_after_failure = sorted(
            "/".join(k.path) for k in instance.get_asset_keys()
            if instance.get_latest_materialization_event(k) is not None)
        # Re-execution takes the parent's settings unless given others: the corrected ones here,
        # as an analyst edits them in the launchpad before "Re-execute from failure".
        from evaluation.study import StudyConfig
        fixed = {"resources": {"study": {"config": {"go_live": StudyConfig().go_live.isoformat()}}},
                 **two_steps}
        resumed = dg.execute_job(job, instance=instance, tags=tags, raise_on_error=False,
            run_config=fixed,
            reexecution_options=dg.ReexecutionOptions.from_failure(failed.run_id, instance))
        errors = lambda result: [f"{e.step_key}: {e.step_failure_data.error.message[:300]}"
                                 + "".join(f" <- {c.message[:500]}" for c in
                                           [e.step_failure_data.error.cause] if c is not None)
                                 for e in result.all_events if e.is_step_failure]
        print(json.dumps({"failed": failed.success, "failed_steps": steps(failed),
                          "failed_step_processes": len(instance.all_logs(
                              failed.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED)),
                          "errors": errors(failed), "resumed_errors": errors(resumed),
                          "stored_after_failure": stored_after_failure,
                          "resumed": resumed.success, "resumed_steps": steps(resumed),
                          "parent": resumed.dagster_run.parent_run_id == failed.run_id,
                          "step_processes": len(instance.all_logs(
                              resumed.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED))}))
""")


def test_a_failed_council_run_resumes_from_its_failure(county, key, tmp_path):
    import json

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FSP_", "DAGSTER_HOME"))}
    env.update(DAGSTER_HOME=str(home), FSP_INPUT_DIR=str(county), FSP_OUTPUT_DIR=str(tmp_path / "out"),
               FSP_PSEUDONYMISATION_KEY=key)
    (home / "dagster.yaml").write_text((TESTS.parent / "assets" / "instance" / "dagster.yaml").read_text())
    done = subprocess.run([sys.executable, "-c", RESUME], cwd=TESTS.parent, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert not outcome["failed"] and "not-a-date" in "\n".join(outcome["errors"])
    assert outcome["resumed"] and outcome["parent"], outcome["resumed_errors"]
    assert "ingest_and_pseudonymise" in outcome["failed_steps"]
    assert not any(step.startswith(("spells__", "cohorts__")) for step in outcome["failed_steps"])
    assert {k.split("/")[0] for k in outcome["stored_after_failure"]} == {"pseudonymised"}
    assert "ingest_and_pseudonymise" not in outcome["resumed_steps"]   # the door was not read again
    assert {"spells__need_spells", "cohorts__analysis_dataset"} <= set(outcome["resumed_steps"])
    # the failed run in one process; its re-execution a process per step (Dagster's multiprocess
    # executor, the UI's default): a parent's executor does not bind the re-execution's
    assert outcome["failed_step_processes"] == 0
    assert outcome["step_processes"] >= len(outcome["resumed_steps"]) > 10


def test_a_failing_blocking_spells_check_stops_the_cohorts(county, key, tmp_path, monkeypatch):
    """The ``council`` job as the UI launches it (its selection and checks; in process here): a
    blocking check of ``need_spells`` that fails stops everything built on the spells."""
    from assets.definitions import ALL_ASSETS, ALL_CHECKS, JOBS, build_resources
    from evaluation.validation import suites

    monkeypatch.setenv("FSP_PSEUDONYMISATION_KEY", key)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FSP_OUTPUT_DIR", str(tmp_path / "out"))
    real = suites.spells_suite

    def failing(frame, care=False):
        derived, expectations = real(frame, care=care)
        if not care:   # need spells: no spell may be censored (false in any real county)
            expectations = [*expectations, suites.E.ExpectColumnValuesToBeInSet(
                column="censored", value_set=[False])]
        return derived, expectations

    monkeypatch.setattr(suites, "spells_suite", failing)
    defs = dg.Definitions(assets=ALL_ASSETS, asset_checks=ALL_CHECKS, jobs=JOBS,
                          resources=build_resources(database=str(tmp_path / "db.duckdb"),
                                                    input_dir=str(county),
                                                    output_dir=str(tmp_path / "out")))
    with dg.instance_for_test(overrides=LOCAL_STORAGE) as instance:
        instance.add_dynamic_partitions("local_authority", ["931"])
        result = defs.resolve_job_def("council").execute_in_process(
            partition_key="931", instance=instance, raise_on_error=False)
    assert not result.success
    (check,) = [e for e in result.get_asset_check_evaluations()
                if e.asset_key == dg.AssetKey(["spells", "need_spells"]) and e.check_name == "spells"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "spells/need_spells" in built and "pseudonymised/children" in built
    on_spells = {"cohorts/analysis_dataset", "cohorts/state_intervals", "cohorts/monthly_counts"}
    assert not on_spells & built, built
    assert "cohorts/index_episodes" in built   # built on the door alone: not stopped
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "spells__need_spells" in started
    assert not {"cohorts__analysis_dataset", "cohorts__state_intervals",
                "cohorts__monthly_counts"} & started   # never started
