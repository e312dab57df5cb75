"""What starts runs in a deployed instance (the Dagster daemon evaluates these).

- ``new_extract_sensor``: a council drops each new extract (the next year's CIN census XML, SSDA903
  CSVs, an updated family table) into its folder. The sensor fingerprints every LA folder (file
  names, sizes and modification times — never contents); a new folder becomes a new partition,
  a new or changed folder gets a ``council`` run for that partition.
- ``pooled_after_councils``: when a ``council`` run succeeds and no other council run is queued or
  in progress, request one ``pooled_analysis`` run (the pooled models need every council).

Both start stopped: switch them on in the UI (Automation). ``make run`` runs the same jobs in the
same order itself (and the comparison areas beside the council runs, ``assets/run.py``).
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from assets.jobs import council_job, pooled_job
from assets.partitions import discover_local_authorities, local_authorities
from assets.resources import InputFolder

#: A council run in one of these states may still change a council's tables.
UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
              dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def folder_fingerprint(folder: Path) -> str:
    """A digest of the names, sizes and modification times of every file under ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


@dg.sensor(
    name="new_extract_sensor",
    description="Watches the input folder: a new local-authority folder becomes a partition; a "
    "new or changed extract in a folder starts a council run for that local authority.",
    minimum_interval_seconds=300,
    job=council_job,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def new_extract_sensor(context: dg.SensorEvaluationContext, input_folder: InputFolder):
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    codes = discover_local_authorities(input_folder.path)
    current = {code: folder_fingerprint(Path(input_folder.path) / code) for code in codes}
    known = set(context.instance.get_dynamic_partitions(local_authorities.name))
    new_partitions = [code for code in codes if code not in known]
    changed = [code for code in codes if previous.get(code) != current[code]]
    requests = [dg.RunRequest(run_key=f"{code}:{current[code]}", partition_key=code,
                              tags={"fsp/extract_fingerprint": current[code]})
                for code in changed]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [local_authorities.build_add_request(new_partitions)] if new_partitions else []),
        cursor=json.dumps(current, sort_keys=True),
    )


def councils_unfinished(instance: dg.DagsterInstance) -> int:
    """Council runs queued or in progress."""
    return len(instance.get_run_ids(dg.RunsFilter(job_name=council_job.name, statuses=UNFINISHED)))


@dg.run_status_sensor(
    name="pooled_after_councils",
    description="After a successful council run, once no council run is queued or in progress, "
    "run the pooled analysis and release over every council.",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[council_job],
    request_job=pooled_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def pooled_after_councils(context: dg.RunStatusSensorContext):
    waiting = councils_unfinished(context.instance)
    if waiting:
        return dg.SkipReason(f"{waiting} council run(s) still queued or in progress")
    return dg.RunRequest(run_key=f"after-{context.dagster_run.run_id}",
                         tags={"fsp/after_council_run": context.dagster_run.run_id})


SENSORS = [new_extract_sensor, pooled_after_councils]
