"""``make run``: check the key, then run the pipeline's Dagster jobs on the configured input.

One ``council`` run per local authority (door, spells, cohorts; ``FSP_PARALLEL_COUNCILS`` of them
at once, by default one per core) and, beside them, one ``comparison_areas`` run (DfE's published
council statistics: it needs no council's tables; stopped if a council run fails); then one
``pooled_analysis`` run of the models and the release (the comparison areas already built), each
executed by Dagster's own executor (``assets/jobs.py``). The cores are shared between the runs
side by side: each council run gets ``FSP_MAX_CONCURRENT`` (the cores) divided by the council runs
at once as its steps at once, and where that is one, as with two councils on two cores, its steps
run one after another in its own process (a process per step costs more than it gives then); the
comparison run's steps run one after another too, and the pooled run's steps in parallel. Runs
go through the Dagster instance in ``DAGSTER_HOME``, so they appear in the UI (``make ui``) and
can be re-executed from there.
"""

from __future__ import annotations

import argparse
import contextlib
from concurrent.futures import ProcessPoolExecutor
import fcntl
import os
import re
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

# Nothing about a council's runs leaves the environment, even where DAGSTER_HOME has no
# dagster.yaml (set before Dagster is imported).
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

# Dagster is imported where it is used: ``main`` starts the executor's fork server first.
from assets.environment import KEY_CHANGE_ENV_VAR, KEY_ENV_VAR  # noqa: E402

INSTANCE_TEMPLATE = Path(__file__).resolve().parent / "instance" / "dagster.yaml"
LOCK_FILE = ".fsp-run.lock"
#: Tags on every run ``make run`` submits, so a later run can tell a killed one from a live one.
PID_TAG, HOST_TAG = "fsp/pid", "fsp/host"


def _preflight_key(use_demo_key: bool):
    from evaluation.keys import DEMO_KEY, PseudonymisationKeyError, load_key

    value = os.environ.get(KEY_ENV_VAR)
    if value is None and use_demo_key:
        os.environ[KEY_ENV_VAR] = DEMO_KEY
        print(f"==> {KEY_ENV_VAR} not set: using the public DEMO key (synthetic county only; "
              "the pipeline refuses it on any other input, and the report says it was used)")
    elif value is None or not value.strip():
        state = "is not set" if value is None else "is set but empty"
        sys.exit(f"error: {KEY_ENV_VAR} {state}. Make a key once, keep it apart from the data:\n"
                 "    python -c \"import secrets; print(secrets.token_hex(32))\"\n"
                 f"and export {KEY_ENV_VAR}=<that key> before running.")
    try:
        key = load_key(os.environ[KEY_ENV_VAR])
    except PseudonymisationKeyError as err:
        sys.exit(f"error: {err}")
    print(f"==> pseudonymisation key fingerprint {key.fingerprint}"
          + (" (the public DEMO key)" if key.is_demo else ""))
    return key


def prepare_instance_home(home: Path) -> None:
    """An owner-only instance folder with the project's dagster.yaml (telemetry off, storage
    inside it). Files created from here on are owner-only (umask 077): the run storage and the
    DuckDB file hold pseudonymised personal data."""
    os.umask(0o077)
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")


@contextlib.contextmanager
def instance_lock(home: Path):
    """Hold the instance's run lock, or exit naming who holds it (one ``make run`` at a time)."""
    path = home / LOCK_FILE
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        sys.exit(f"error: another run is using this Dagster instance ({home}; held by {holder}). "
                 "Wait for it to finish: two runs at once would overwrite each other's release.")
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def fail_abandoned_runs(instance: dg.DagsterInstance, echo=print) -> int:
    """Mark as failed the runs a killed ``make run`` left STARTED (their process is gone)."""
    import dagster as dg

    host, count = socket.gethostname(), 0
    runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED,
                                                     dg.DagsterRunStatus.STARTING]))
    for run in runs:
        pid, run_host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if pid is None or run_host != host or _alive(int(pid)):
            continue
        instance.report_run_failed(run, f"process {pid} ended without finishing the run (killed)")
        count += 1
    if count:
        echo(f"==> marked {count} run(s) left STARTED by a killed process as failed")
    return count


def failure_report(result) -> list[str]:
    """What stopped a run, for the last lines of ``make run``: each failed step's own message
    (the door's names file, position, field and count) and each failed blocking check with its
    failed expectations and counts, then what to do. Never a Python traceback."""
    import dagster as dg

    lines = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            cause = error
            while cause is not None and cause.cause is not None and \
                    cause.cls_name in ("DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"):
                cause = cause.cause
            message = (cause or error).message.strip().splitlines()
            text = message[0] if message else "no message"
            text = re.sub(rf"^([\w.]+\.)?{re.escape((cause or error).cls_name)}: ", "", text)
            lines.append(f"step {event.step_key}: {text}")
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        where = "/".join(evaluation.asset_key.path)
        entry = evaluation.metadata.get("failed")
        failed = ", ".join(entry.value) if entry is not None else "see its page"
        page = evaluation.metadata.get("data_docs")
        lines.append(f"blocking check {where}:{evaluation.check_name} failed "
                     f"({evaluation.partition or 'all councils'}): {failed}"
                     + (f"; page {page.value}" if page is not None else ""))
    lines.append("What to do: an input problem names the file, position and field — fix or "
                 "replace that file and run again; a failed blocking check's page lists its "
                 "failed expectations with counts (no values).")
    return lines


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PARALLEL_ENV_VAR = "FSP_PARALLEL_COUNCILS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo-key", action="store_true",
                        help=f"use the public demo key when {KEY_ENV_VAR} is unset (synthetic data only)")
    args = parser.parse_args(argv)
    key = _preflight_key(args.demo_key)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path.cwd() / ".dagster_home")))
    prepare_instance_home(home)
    with instance_lock(home):
        # The executor's fork server imports the libraries and the pipeline (the longest wait
        # before the first step) while this process imports Dagster and the definitions: started
        # as soon as the environment and the umask are final, before Dagster is imported here.
        from assets.fork_server import fork_server_context

        fork_server_context()
        import dagster as dg

        from assets.resources import KeyChangedError, check_key_continuity

        with dg.DagsterInstance.get() as instance:
            try:
                check_key_continuity(instance, key.fingerprint,
                                     os.environ.get(KEY_CHANGE_ENV_VAR, "") in ("1", "true", "yes"))
            except KeyChangedError as err:
                sys.exit(f"error: {err}")
            fail_abandoned_runs(instance)
            return run_pipeline(instance)


def parallel_councils() -> int:
    """Council runs at once: ``FSP_PARALLEL_COUNCILS``, by default one per core
    (``FSP_MAX_CONCURRENT``, else the machine's cores)."""
    from assets.jobs import max_concurrent

    value = os.environ.get(PARALLEL_ENV_VAR, "").strip()
    if not value:
        return max_concurrent()
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"error: {PARALLEL_ENV_VAR} must be a whole number ≥ 1, not {value!r}")
    return int(value)


def steps_per_run(runs_at_once: int) -> int:
    """Steps at once in each of ``runs_at_once`` runs side by side: the steps a machine runs at
    once (``FSP_MAX_CONCURRENT``, else its cores) shared between them, at least one (then each run
    executes its steps one after another in its own process: no process started per step)."""
    from assets.jobs import max_concurrent

    return max(1, max_concurrent() // max(1, runs_at_once))


def _execution(steps: int | None) -> dict:
    """Run config choosing the local executor's steps at once (none under ``FSP_EXECUTOR=k8s``,
    whose executor has settings of its own)."""
    from assets.storage import executor_from_env

    if steps is None or executor_from_env() is not None:
        return {}
    return {"execution": {"config": {"max_concurrent": steps}}}


def _execute(job_fn, instance: dg.DagsterInstance, partition: str | None,
             asset_selection: list[dg.AssetKey] | None = None, steps: int | None = None):
    """Execute one of the code location's jobs (``assets.definitions``) through Dagster's executor,
    ``steps`` steps at once (default: the executor's own, ``assets/jobs.py``)."""
    import dagster as dg

    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(),
            **({"dagster/partition": partition} if partition else {})}
    # Nothing of Dagster's own on the console (a step's failure would print its traceback):
    # make run prints each run's outcome and, on a failure, what stopped it (failure_report);
    # every event is in the run's log (make ui).
    run_config = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
                  **_execution(steps)}
    started = time.perf_counter()
    result = dg.execute_job(dg.reconstructable(job_fn), instance=instance, tags=tags,
                            run_config=run_config, raise_on_error=False,
                            asset_selection=asset_selection)
    return result, time.perf_counter() - started


def _run_in_process(job: str, partition: str | None,
                    steps: int | None) -> tuple[bool, str, float, list[str]]:
    """One run of ``job`` in a process of its own, forked from the executor's fork server (runs
    side by side: Dagster's logging deadlocks when two runs start from threads of one process)."""
    import dagster as dg

    from assets import definitions

    job_fn = {"council": definitions.council_job, "comparison_areas": definitions.comparison_job}[job]
    with dg.DagsterInstance.get() as instance:
        result, seconds = _execute(job_fn, instance, partition, steps=steps)
        return (result.success, result.run_id, seconds,
                [] if result.success else failure_report(result))


def _comparison_in_process(connection) -> None:
    """The ``comparison_areas`` run, its steps one after another in this process (it runs beside
    the council runs, which use the cores), its outcome sent back on ``connection``."""
    connection.send(_run_in_process("comparison_areas", None, 1))
    connection.close()


class ComparisonBeside:
    """The ``comparison_areas`` run in a process of its own, beside the council runs.

    :meth:`stop` interrupts it as Ctrl-C would (SIGINT: Dagster interrupts its step and records
    the run as failed): once a council has failed the pooled analysis will not run, so nobody
    waits for comparison areas it would not use."""

    def __init__(self, context):
        self._started = time.perf_counter()
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_comparison_in_process, args=(send,), daemon=False)
        self._process.start()
        send.close()
        self.stopped = False

    def stop(self) -> None:
        if self._process.is_alive() and not self.stopped:
            self.stopped = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGINT)

    def result(self) -> tuple[bool, str | None, float, list[str]]:
        """(success, run id, seconds, what stopped it) once the run has ended."""
        try:
            outcome = self._receive.recv()
        except EOFError:   # the process ended without an outcome (stopped before its run began)
            outcome = (False, None, time.perf_counter() - self._started, [])
        self._process.join()
        return outcome


def _steps_text(steps: int) -> str:
    return "the steps of each one after another" if steps == 1 else f"{steps} steps of each at once"


def _after_comparison_areas() -> list[dg.AssetKey]:
    """The assets of ``pooled_analysis`` less the comparison areas (built beside the councils)."""
    import dagster as dg

    from assets.definitions import defs
    from assets.jobs import COMPARISON_GROUPS, POOLED_GROUPS

    graph = defs.resolve_asset_graph()
    rest = [g for g in POOLED_GROUPS if g not in COMPARISON_GROUPS]
    return sorted(dg.AssetSelection.groups(*rest).resolve(graph))


def run_pipeline(instance: dg.DagsterInstance, echo=print) -> int:
    """Run ``council`` for every local authority and ``comparison_areas`` beside them, then
    ``pooled_analysis``; 0 on success, 1 on the first failure (with what stopped it). Inputs,
    outputs and storage come from the environment, as for the UI
    (``assets.definitions.build_resources``)."""
    from assets.definitions import build_resources, council_job, pooled_job
    from assets.fork_server import fork_server_context
    from assets.partitions import (discover_local_authorities, register_local_authorities,
                                   skipped_entries)
    from assets.resources import UnsafeOutputFolderError, check_output_folder

    resources = build_resources()
    input_dir = resources["input_folder"].path
    try:
        check_output_folder(resources["output_folder"].path, input_dir,
                            os.environ.get("DAGSTER_HOME"))
    except UnsafeOutputFolderError as err:
        echo(f"error: {err}")
        return 1
    for skipped in skipped_entries(input_dir):
        echo(f"==> skipped in {input_dir}: {skipped}")
    codes = discover_local_authorities(input_dir)
    if not codes:
        echo(f"error: no local-authority folders (three-digit LA codes) in {input_dir}")
        return 1
    register_local_authorities(instance, codes)
    workers = min(parallel_councils(), len(codes))
    steps = steps_per_run(workers)
    echo(f"==> input {input_dir}: local authorities {', '.join(codes)}")
    started = time.perf_counter()

    def report(label: str, run_id: str, lines: list[str]) -> int:
        echo(f"error: {label} failed (run {run_id}). The run's events are in the "
             "Dagster UI (make ui); what stopped it:")
        for line in lines:
            echo(f"  {line}")
        return 1

    echo(f"==> council runs (door, spells, cohorts): {len(codes)} local authorities, "
         f"{workers} at a time, {_steps_text(steps)}; comparison areas beside them ...")
    outcomes = {}
    # Runs side by side fork from the executor's fork server, which has imported everything
    # once (assets/fork_server.py): none imports the libraries again.
    context = fork_server_context()
    # A process of its own for the comparison run, apart from the councils' pool, so that the
    # councils never run more at once than FSP_PARALLEL_COUNCILS once it has finished.
    comparison = ComparisonBeside(context)

    def outcome(code, success, run_id, seconds, lines):
        outcomes[code] = (success, run_id, lines)
        echo(f"    council {code} {'done' if success else 'FAILED'} in {seconds:.1f} s")
        if not success:
            comparison.stop()

    try:
        if workers == 1:
            for code in codes:
                result, seconds = _execute(council_job, instance, code, steps=steps)
                outcome(code, result.success, result.run_id, seconds,
                        [] if result.success else failure_report(result))
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                runs = {code: pool.submit(_run_in_process, "council", code, steps) for code in codes}
                for code, future in runs.items():
                    outcome(code, *future.result())
    finally:
        compared, comparison_run, seconds, comparison_lines = comparison.result()
    echo(f"    comparison areas {'done' if compared else 'stopped' if comparison.stopped else 'FAILED'}"
         f" in {seconds:.1f} s")
    for code, (success, run_id, lines) in outcomes.items():
        if not success:
            return report(f"council {code}", run_id, lines)
    if not compared:
        return report("comparison areas", comparison_run, comparison_lines)
    echo("==> pooled analysis and release ...")
    result, seconds = _execute(pooled_job, instance, None, asset_selection=_after_comparison_areas())
    if not result.success:
        return report("pooled analysis", result.run_id, failure_report(result))
    echo(f"    pooled analysis done in {seconds:.1f} s")
    from evaluation.validation.engine import docs_index

    out = resources["output_folder"].path
    echo(f"==> all runs done in {time.perf_counter() - started:.1f} s")
    echo(f"==> report: {out}/report.html  (tables: {out}/tables/, figures: {out}/figures/, "
         f"output checker's log: {out}/results.json)")
    # The folder alone: no GX project opened (nor GX imported) in this process to print a path.
    docs = docs_index(Path(resources["validation"].docs_dir).resolve())
    if docs is not None:
        echo(f"==> validation pages (for analysts in the environment; not for release): {docs}")
    return 0


def exit_now(code: int) -> None:
    """End ``make run`` once its runs have ended: output flushed, the executor's fork server
    stopped (it serves no one now), and neither process left to collect every object the
    libraries made before it ends (Python's last collection: 2-4 s of CPU each, for nothing)."""
    import psutil

    sys.stdout.flush()
    sys.stderr.flush()
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if "multiprocessing.forkserver" in " ".join(child.cmdline()):
                child.terminate()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
