"""What the comparison areas cost (issue #20): the synthetic control's and the staggered adoption's
library calls at the assets' settings, and the ``comparison`` group's steps around them.

They read DfE's published panel only, never a council's records, so they cost the same on every
county, in every ``make run`` and in the pipeline tests that build the comparison group.

* ``synthetic``: :func:`evaluation.comparison.synthetic.run_synthetic_control` with the defaults of
  :class:`assets.comparison.SyntheticControlSettings` (Oxfordshire, 40 donors, holdout 2, placebos
  over the fitted donors, in-time shift 2, the augmented fit), as the asset calls it; with the CPU
  of the donor-weight solver and of the augmented (pysyncon AugSynth) fits beside it.
* ``staggered``: :func:`evaluation.comparison.staggered.run_staggered` as the asset calls it (every
  rate, both control groups), BLAS on one thread as in a step process (``assets/preload.py``).
* ``--job``: the group (panel, adopters, their checks, both multi-assets) materialised in this
  process into a scratch DuckDB and Great Expectations project, each step's CPU taken around
  Dagster's event generator of that step (the in-process executor runs them one after another).

CPU seconds (``time.process_time``), the least of ``--repeat`` runs (default 3) after the imports;
wall seconds are noisy on the shared machine and only printed for the job.

    .venv/bin/python benchmarks/comparison_cost.py [--repeat N] [--job | --job-only]

To measure another version, export its ``evaluation``, ``assets`` and ``checks`` (``git archive``)
and run this file with ``PYTHONPATH`` pointing there (it imports what it finds first on the path).

Measured 2026-12-06 on the shared two-core machine, load average 3-8 from other people's jobs
(CPU seconds still move by +-20% between runs of the same code); before = 4d03e80 (exported with
``git archive``, run with ``PYTHONPATH``), after = this version (the third run after also has the
placebo_gaps change); three runs of each, alternating:

    call                                         CPU before (s)       CPU after (s)
    run_synthetic_control (least of 2)          11.7 / 10.0 / 9.9    4.8 / 4.5 / 3.6
      in one more run: donor-weight QPs (465)    5.8 / 5.0 / 5.2     1.1 / 1.0 / 0.9   Synth.fit -> simplex_weights
                       augmented fits (7)        3.0 / 2.3 / 2.2     2.3 / 2.0 / 1.8   pysyncon AugSynth, not changed
                       the rest                  3.9 / 3.5 / 3.7     1.4 / 1.2 / 0.9   donors, series, tables
    run_staggered (least of 2)                   3.3 / 3.9 / 3.6     3.6 / 3.1 / 2.5   not changed

Peak memory is the imports' (~270 MB for either call, before and after). Every table of
``run_synthetic_control`` changes only by the solver (tests/test_comparison_synthetic.py: objectives
within SLSQP's ftol of pysyncon's own fits); ``run_staggered``'s are the same code.

Synthetic control: pysyncon's ``Synth.fit(custom_V=ones)`` let SLSQP difference the objective
numerically (41 objective calls per gradient for 40 donors); ``simplex_weights`` gives SLSQP the
exact gradient (same method, start and options), leaves out the redundant upper bounds, and
``fit_table`` works on plain arrays instead of pandas lookups (bitwise the same tables). Left:
pysyncon's AugSynth, now half of what remains (its cross-validation's SLSQP also differences
numerically, about 0.7 s of it; its ridge path over 21 penalties and 7 folds runs on pandas
frames, about 0.6 s), then SLSQP itself (about 2 ms a fit) and ``wide`` pivoting the panel 49
times (0.3 s).

Staggered adoption (py-spy): 82% of its CPU is inside ``differences``' ``ATTgt.fit`` (672
group-time cells, about 4 ms of pandas each), the aggregations 0.35 s, the long frames 0.1 s and
``ATTgt``'s own checks 0.1 s. Nothing on our side was worth changing: one ``ATTgt`` for both
control groups gives bitwise the same tables but saves under 0.1 s, within the noise.

The job in process (``--job-only``; one run of each, alternating, load 3.2-3.6; an earlier pair at
load 4-5 gave 15.1 -> 12.9 s in all, synthetic_control 10.0 -> 6.2 s):

    step                           CPU before (s)   CPU after (s)
    comparison__adopters                0.07            0.07
    comparison__la_panel                0.22            0.22
    comparison__la_panel_checks         0.43            0.37
    comparison__adopters_checks         0.20            0.18
    staggered_adoption                  3.03            3.11
    synthetic_control                   9.50            4.36   (wall 13.2 -> 5.0 s)
    run set-up, between steps           0.61            0.58
    total                              14.1             8.9    (wall 20.9 -> 9.7 s; peak 520 / 516 MB)

Around the two library calls (py-spy of the job after, share of its samples): the calls 75%,
Dagster's events and run set-up 9%, the IO manager's writes 8% (most of it opening a DuckDB
connection for each of the 12 outputs, and ``assets/storage.py``'s column check), loading inputs 3%
(the panel is read back from DuckDB by each of the four steps that take it), the panel and
adopters checks 4% (building the suites 2%, running them in Great Expectations 2%), reading the
bundled panel 1%. So each step's own overhead is under a second: the two calls are the cost.

Measured again on 2026-12-07, machine otherwise idle, before = 3bc0d62 (``git archive`` with
``PYTHONPATH``), after = the staggered fit's group-time comparisons from arrays made once
(``staggered.GroupTimeATT``: the library's own estimator, standard errors and aggregations) and
the augmented fits through ``synthetic.FastAugSynth`` (SLSQP given the gradient it would
difference itself, under scipy 1.17 only; the ridge path's penalty-independent work once per
fold); two pairs, alternating, least of 2 runs each; every table bitwise the same:

    call                          CPU before (s)   CPU after (s)
    run_synthetic_control           3.46 / 3.80      2.10 / 1.94
      augmented fits (7)            1.86 / 1.96      0.82 / 0.95
      donor-weight solves (465)     0.90 / 0.89      0.75 / 0.90
    run_staggered                   2.72 / 2.33      1.04 / 1.11

Earlier "nothing on our side was worth changing" for the staggered fit held for our code around
``ATTgt``; the time was the library's pandas work per group-time cell, now done on arrays.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path


def _least(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        out = fn()
        best = min(best, time.process_time() - started)
    return best, out


class _Timed:
    """Wraps a function of a module or class to add up the CPU spent inside it (for the breakdowns)."""

    def __init__(self, owner, name: str):
        self.owner, self.name, self.seconds, self.calls = owner, name, 0.0, 0
        self.inner = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.process_time()
            try:
                return self.inner(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - started
                self.calls += 1

        setattr(owner, name, timed)

    def restore(self) -> None:
        setattr(self.owner, self.name, self.inner)


def library_calls(repeat: int) -> None:
    started = time.process_time()
    from threadpoolctl import threadpool_limits

    from assets.comparison import StaggeredSettings, SyntheticControlSettings
    from evaluation.comparison import synthetic
    from evaluation.comparison.adopters import adopters
    from evaluation.comparison.panel import RATES, read_panel
    from evaluation.comparison.staggered import run_staggered
    print(f"imports: {time.process_time() - started:.2f} s CPU (the executor's fork server has them)")
    panel, table = read_panel(), adopters()
    sc = SyntheticControlSettings()
    _, transition = synthetic.treated_council(table, sc.treated, int(panel["year"].min()), sc.min_pre_years)

    def synth():
        return synthetic.run_synthetic_control(panel, treated=sc.treated, transition_year=transition,
                                               max_donors=sc.max_donors, holdout=sc.holdout,
                                               placebo_units=sc.placebo_units, in_time_shift=sc.in_time_shift,
                                               augmented=sc.augmented)

    seconds, _ = _least(synth, repeat)
    print(f"run_synthetic_control: {seconds:.2f} s CPU (least of {repeat})")
    # one more run for the breakdown (the wrappers' own cost is a few ms)
    solver = "simplex_weights" if hasattr(synthetic, "simplex_weights") else None
    parts = [_Timed(synthetic, n) for n in ("fit_augmented", solver) if n]
    if solver is None:  # before: pysyncon's Synth.fit inside fit_table
        import pysyncon
        parts.append(_Timed(pysyncon.Synth, "fit"))
    started = time.process_time()
    synth()
    total = time.process_time() - started
    print(f"  breakdown run {total:.2f} s: " + ", ".join(f"{p.name} {p.seconds:.2f} s ({p.calls} calls)"
                                                       for p in parts))
    for p in parts:
        p.restore()

    st = StaggeredSettings()
    with threadpool_limits(limits=1, user_api="blas"):
        seconds, _ = _least(lambda: run_staggered(panel, measures=list(RATES),
                                                  control_groups=tuple(st.control_groups), adopters_table=table),
                            repeat)
    print(f"run_staggered: {seconds:.2f} s CPU (least of {repeat})")


def _clock_steps(steps: dict) -> None:
    """Add each step's CPU and wall seconds to ``steps``, from Dagster's per-step event generator
    (a private function: a benchmark may lean on it, the pipeline does not). Consuming its events
    (logging, storing them) happens inside the generator's iteration and is counted with the step."""
    from dagster._core.execution.plan import execute_plan

    inner = execute_plan.dagster_event_sequence_for_step

    def clocked(step_context, *args, **kwargs):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            yield from inner(step_context, *args, **kwargs)
        finally:
            c, w = steps.get(step_context.step.key, (0.0, 0.0))
            steps[step_context.step.key] = (c + time.process_time() - cpu0, w + time.perf_counter() - wall0)

    execute_plan.dagster_event_sequence_for_step = clocked


def job() -> None:
    started = time.process_time()
    import dagster as dg
    from threadpoolctl import threadpool_limits

    from assets.comparison import COMPARISON_ASSETS
    from assets.storage import io_manager_from_env
    from checks.comparison import COMPARISON_CHECKS
    from checks.resources import ValidationResource
    print(f"job imports: {time.process_time() - started:.2f} s CPU")
    steps: dict[str, tuple[float, float]] = {}
    _clock_steps(steps)
    with tempfile.TemporaryDirectory(prefix="comparison_cost") as tmp:
        resources = {"io_manager": io_manager_from_env(database=str(Path(tmp) / "db.duckdb")),
                     "validation": ValidationResource(project_dir=str(Path(tmp) / "gx"),
                                                      docs_dir=str(Path(tmp) / "docs"))}
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with threadpool_limits(limits=1, user_api="blas"):  # as a step process on two cores
            result = dg.materialize([*COMPARISON_ASSETS, *COMPARISON_CHECKS],
                                    instance=dg.DagsterInstance.ephemeral(), resources=resources)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert result.success
    print(f"job in process: {cpu:.2f} s CPU, {wall:.1f} s wall, peak "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    for step, (c, w) in steps.items():
        print(f"  {step:32s} {c:6.2f} s CPU {w:6.1f} s wall")
    print(f"  {'(run set-up, between steps)':32s} {cpu - sum(c for c, _ in steps.values()):6.2f} s CPU")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--job", action="store_true", help="also materialise the comparison group in process")
    parser.add_argument("--job-only", action="store_true", help="only that (for a profiler)")
    args = parser.parse_args(argv)
    if not args.job_only:
        library_calls(args.repeat)
    if args.job or args.job_only:
        job()


if __name__ == "__main__":
    sys.exit(main())
