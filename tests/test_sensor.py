"""The new-extract sensor: new LA folders become partitions; changed folders get a run."""

from __future__ import annotations

import json
import os

import dagster as dg

from assets.partitions import local_authorities
from assets.resources import InputFolder
from assets.sensors import new_extract_sensor


def _evaluate(instance, root, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"input_folder": InputFolder(path=str(root))})
    return new_extract_sensor(context)


def test_new_folder_becomes_partition_and_is_run(tmp_path):
    (tmp_path / "931" / "cin_census").mkdir(parents=True)
    (tmp_path / "931" / "cin_census" / "cin_2024.xml").write_text("<Message/>")
    (tmp_path / "notes").mkdir()  # not an LA code: ignored
    with dg.instance_for_test() as instance:
        result = _evaluate(instance, tmp_path)
        assert [r.partition_key for r in result.run_requests] == ["931"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["931"]
        assert set(json.loads(result.cursor)) == {"931"}


def test_unchanged_folder_is_not_rerun_and_new_extract_is(tmp_path):
    folder = tmp_path / "931" / "cin_census"
    folder.mkdir(parents=True)
    (folder / "cin_2024.xml").write_text("<Message/>")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(local_authorities.name, ["931"])
        first = _evaluate(instance, tmp_path)
        again = _evaluate(instance, tmp_path, cursor=first.cursor)
        assert again.run_requests == [] and again.dynamic_partitions_requests == []
        (folder / "cin_2025.xml").write_text("<Message/>")
        os.utime(folder / "cin_2025.xml", ns=(1, 1))
        later = _evaluate(instance, tmp_path, cursor=again.cursor)
        assert [r.partition_key for r in later.run_requests] == ["931"]
        assert later.run_requests[0].run_key != first.run_requests[0].run_key


def _run(instance, job_name: str, status):
    from dagster._core.storage.dagster_run import DagsterRun

    run = DagsterRun(job_name=job_name, status=status, tags={"dagster/partition": "931"})
    instance.add_run(run)
    return run


def _after(instance, run):
    from assets.sensors import pooled_after_councils

    event = dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name=run.job_name)
    context = dg.build_run_status_sensor_context(
        sensor_name=pooled_after_councils.name, dagster_instance=instance, dagster_run=run,
        dagster_event=event)
    return pooled_after_councils(context)


def test_pooled_analysis_follows_the_last_council_run():
    """After a council run succeeds, the pooled job is requested only once no other council run
    is queued or in progress (it needs every council's tables)."""
    from assets.jobs import council_job, pooled_job
    from assets.sensors import pooled_after_councils

    with dg.instance_for_test() as instance:
        done = _run(instance, "council", dg.DagsterRunStatus.SUCCESS)
        other = _run(instance, "council", dg.DagsterRunStatus.STARTED)
        waiting = _after(instance, done)
        assert isinstance(waiting, dg.SkipReason) and "1 council run" in waiting.skip_message
        instance.report_run_failed(other)     # finished, one way or the other
        request = _after(instance, done)
        assert isinstance(request, dg.RunRequest) and done.run_id in request.run_key
    assert pooled_after_councils.job_name == pooled_job.name
    assert council_job.name == "council"
