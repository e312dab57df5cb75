"""Many local authorities at once: one Dagster run per LA partition, in parallel worker processes.

A run covers one partition, so local authorities run side by side as separate runs, each in its
own process (the runs share the Dagster instance in ``DAGSTER_HOME``). DuckDB lets one process
at a time open its file for writing, and every asset that reads or writes it is in the
``duckdb`` pool: with that pool's limit set to 1 on the instance (``dagster instance
concurrency set duckdb 1``), Dagster runs one such step at a time across all runs, so no
process meets DuckDB's file lock. What runs in parallel is everything outside the pool: run
start-up, asset checks (Great Expectations) and data generation; the pooled steps themselves
take turns. On the default SQLite instance Dagster's slot claim is not atomic across processes
(a select, then an update), so now and then two steps hold the slot at once; dagster-duckdb
retries its connection while the other process has the file, so the step waits rather than
fails. A PostgreSQL instance (``deploy/``) claims slots atomically. With ``FSP_STORAGE=parquet`` each partition is its own file, no pool is needed and
the limit can be raised (``pool_limit``) so the whole steps run in parallel.

Re-running is incremental: a partition's stage is run only when one of its assets has no
materialisation for that partition, or an upstream stage was materialised after it (a failed or
killed run therefore resumes where it stopped). ``force=True`` runs everything again.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import dagster as dg

from assets.run import HOST_TAG, PID_TAG

#: The pool every DuckDB-touching asset declares (``pool="duckdb"``).
DUCKDB_POOL = "duckdb"

_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class StageRun:
    """One stage materialised for one partition (``partition`` is None for a pooled stage)."""

    stage: str
    partition: str | None
    run_id: str | None
    success: bool
    seconds: float
    error: str | None = None


@dataclass
class ParallelReport:
    """What :func:`materialise_local_authorities` ran, and what it found up to date."""

    runs: list[StageRun] = field(default_factory=list)
    up_to_date: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(run.success for run in self.runs)

    def ran(self) -> list[tuple[str, str | None]]:
        """(stage, partition) of every run launched, in the order they finished."""
        return [(run.stage, run.partition) for run in self.runs]


def set_pool_limit(instance: dg.DagsterInstance, limit: int = 1, pool: str = DUCKDB_POOL) -> None:
    """Allow at most ``limit`` steps of ``pool`` at once across every run of ``instance``."""
    if not instance.event_log_storage.supports_global_concurrency_limits:
        raise RuntimeError("this Dagster instance's storage cannot enforce concurrency pools; "
                           "use a persistent instance (DAGSTER_HOME with SQLite or PostgreSQL storage)")
    instance.event_log_storage.set_concurrency_slots(pool, limit)


def stage_asset_keys(stage: str) -> list[dg.AssetKey]:
    """Keys of the assets in a stage (an asset group of ``assets.definitions``)."""
    from assets.definitions import ALL_ASSETS

    return sorted({key for assets_def in ALL_ASSETS for key in assets_def.keys
                   if assets_def.group_names_by_key.get(key) == stage}, key=lambda k: k.path)


def _latest_storage_id(instance: dg.DagsterInstance, key: dg.AssetKey,
                       partition: str | None) -> int | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1).records
    return records[0].storage_id if records else None


def stages_to_run(instance: dg.DagsterInstance, partition: str | None,
                  stages: Sequence[str], upstream_newest: int = 0) -> list[str]:
    """The stages (in order) a partition still needs: from the first one that is missing an asset
    or older than its upstream stage (or than ``upstream_newest``, a storage id), to the end."""
    for position, stage in enumerate(stages):
        ids = [_latest_storage_id(instance, key, partition) for key in stage_asset_keys(stage)]
        if not ids or None in ids or min(ids) < upstream_newest:
            return list(stages[position:])
        upstream_newest = max(ids)
    return []


#: What every worker needs, handed over by fork (Dagster resources and instance refs do not pickle).
_WORKER: dict = {}


def _init_worker(instance_ref, resources: dict) -> None:
    _WORKER.update(instance_ref=instance_ref, resources=resources)


def _run_in_worker(partition: str | None, stages: Sequence[str],
                   include_checks: bool) -> list[StageRun]:
    return _run_stages(_WORKER["instance_ref"], _WORKER["resources"], partition, stages,
                       include_checks)


def _run_stages(instance_ref, resources: dict, partition: str | None, stages: Sequence[str],
                include_checks: bool) -> list[StageRun]:
    """Materialise ``stages`` of one partition in order, stopping at the first failure."""
    from assets.definitions import ALL_ASSETS, ALL_CHECKS

    runs = []
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        for stage in stages:
            started = time.perf_counter()
            try:
                result = dg.materialize(
                    [*ALL_ASSETS, *(ALL_CHECKS if include_checks else [])],
                    selection=dg.AssetSelection.groups(stage), partition_key=partition,
                    instance=instance, resources=resources, raise_on_error=False,
                    tags={"fsp/stage": stage, PID_TAG: str(os.getpid()),
                          HOST_TAG: socket.gethostname()}, run_config=_QUIET)
                run = StageRun(stage, partition, result.run_id, result.success,
                               time.perf_counter() - started,
                               None if result.success else _failure_message(result))
            except Exception as err:  # a run that could not start is a failed stage, not a crash
                run = StageRun(stage, partition, None, False, time.perf_counter() - started,
                               f"{type(err).__name__}: {err}")
            runs.append(run)
            if not run.success:
                break
    return runs


def _failure_message(result) -> str:
    failures = [event for event in result.all_events if event.is_step_failure]
    if not failures:
        return "run failed"
    data = failures[0].step_failure_data
    error, messages = (data.error if data else None), []
    while error is not None:  # Dagster's wrapper first, then the exception that caused it
        messages.append(error.message.strip().splitlines()[-1])
        error = error.cause
    return f"{failures[0].step_key}: {' <- '.join(messages) or 'step failed'}"


def materialise_local_authorities(
    instance: dg.DagsterInstance,
    resources: dict | None = None,
    codes: Sequence[str] | None = None,
    workers: int = 2,
    include_checks: bool = True,
    force: bool = False,
    pool_limit: int = 1,
    pooled_stages: bool = True,
    echo: Callable[[str], None] = print,
) -> ParallelReport:
    """Materialise every stage for every local authority, ``workers`` partitions at a time.

    Per-LA stages run partition by partition in worker processes (each partition's stages in
    order); pooled stages (unless ``pooled_stages=False``) run afterwards, once, if every
    partition succeeded and they are missing or older than a partition's tables.
    ``instance`` must be persistent (its ref is handed to the workers). ``codes`` defaults to the
    LA folders of the input root; new ones are registered as partitions.
    """
    from assets.definitions import STAGES, build_resources
    from assets.partitions import discover_local_authorities, register_local_authorities

    resources = resources or build_resources()
    if codes is None:
        codes = discover_local_authorities(resources["input_folder"].path)
    codes = list(codes)
    register_local_authorities(instance, codes)
    set_pool_limit(instance, pool_limit)
    per_la = [stage for stage, partitioned in STAGES if partitioned]
    pooled = [stage for stage, partitioned in STAGES if not partitioned] if pooled_stages else []

    report = ParallelReport()
    plan = {}
    for code in codes:
        needed = list(per_la) if force else stages_to_run(instance, code, per_la)
        report.up_to_date += [(stage, code) for stage in per_la if stage not in needed]
        if needed:
            plan[code] = needed
    echo(f"==> {len(plan)} of {len(codes)} local authorities to run, {workers} at a time")
    if plan:
        # Fork: the workers inherit the resources and the instance ref rather than unpickling them
        # (each opens its own instance from the ref, so no database handle is shared).
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(workers, len(plan)), mp_context=context,
                                 initializer=_init_worker,
                                 initargs=(instance.get_ref(), resources)) as pool:
            jobs = {code: pool.submit(_run_in_worker, code, stages, include_checks)
                    for code, stages in plan.items()}
            for code, job in jobs.items():
                for run in job.result():
                    report.runs.append(run)
                    echo(f"    {run.stage} [{code}] {'done' if run.success else 'FAILED'} "
                         f"in {run.seconds:.1f} s" + (f": {run.error}" if run.error else ""))
    if not report.success:
        return report
    if pooled:
        newest = max((_latest_storage_id(instance, key, code) or 0 for code in codes
                      for stage in per_la for key in stage_asset_keys(stage)), default=0)
        needed = list(pooled) if force else stages_to_run(instance, None, pooled, newest)
        report.up_to_date += [(stage, None) for stage in pooled if stage not in needed]
        if needed:
            for run in _run_stages(instance.get_ref(), resources, None, needed, include_checks):
                report.runs.append(run)
                echo(f"    {run.stage} {'done' if run.success else 'FAILED'} in {run.seconds:.1f} s"
                     + (f": {run.error}" if run.error else ""))
    return report
