"""What each pooled analysis step costs on the default county: CPU seconds and peak memory (issue #20).

The five slowest steps of ``make run`` after the door, each called as its asset calls it
(assets/analysis.py, assets/comparison.py) with ``StudyConfig()`` and the assets' default settings:

    survival_analysis          evaluation.analysis.survival_outcomes.survival_results
    days_in_state_analysis     evaluation.analysis.states.state_results (with the analysis dataset)
    competing_exits_analysis   evaluation.analysis.competing_exits.competing_results
    synthetic_control          evaluation.comparison.synthetic.run_synthetic_control
    staggered_adoption         evaluation.comparison.staggered.run_staggered

Each step runs in a fresh process (so its peak resident memory is its own; inputs included) and
is timed by CPU seconds (``time.process_time``; the machine is shared, wall seconds wander with the
other jobs) and wall seconds. Inputs: the tables a run stored, from a DuckDB file (``--duckdb``, e.g.
a copy of the pipeline's database: cohorts.analysis_dataset, cohorts.state_intervals,
comparison.la_panel, comparison.adopters), else the default synthetic county generated
(``generate_county(seed=20201101)``) and built through the library as the assets do (cached
in ``--workdir``) with the bundled DfE panel.

    .venv/bin/python benchmarks/pooled_analysis_cost.py --duckdb /tmp/prof/default_county.duckdb
    .venv/bin/python benchmarks/pooled_analysis_cost.py [--workdir /tmp/pooled_cost] [--steps survival states]

Measured 2026-12-06 on the default county's stored tables (/tmp/prof/default_county.duckdb), the
code before this work (commit ad6ac8d, run with PYTHONPATH on an archive of it) and after, back to
back, on the shared two-core machine under other engineers' pipeline runs (load average 5-8:
CPU seconds are inflated by the contention too, and wander by about 20% between runs):

    step                        before          after
                                cpu s  peak MB  cpu s  peak MB
    survival_analysis            50.9     783    23.5     780
    days_in_state_analysis       10.5     634     9.8     634
    competing_exits_analysis      1.7     464     1.1     464
    synthetic_control             9.4     405     9.9     402   (code unchanged)
    staggered_adoption            3.4     456     3.2     456   (code unchanged)

With the library functions called directly, one process each (no cProfile, same load), days in
state went from 12.5 s to 8.2 s and survival from 48.1 s to 22.8 s CPU. Where it came from:

* OpenBLAS on one thread in survival_results, state_results and competing_results
  (``evaluation.analysis.guard.one_blas_thread``, as run_synthetic_control already did): on the
  loaded two-core machine its threads spin on every small product (a Cox information matrix,
  26,000 rows x 38 terms: 64 ms CPU with threads, 5.5 ms without). Survival 36 s -> 23 s.
* The doubly robust RMST bootstrap (200 resamples, every outcome) sorts each cohort once and reads
  every resample's Kaplan–Meier steps off the draw counts (``CurveGrid``), one curve for both taus,
  instead of sorting a copied subset twice per resample: 17.7 s -> 9.2 s under cProfile.
* Holm's p-values without statsmodels (whose ``multipletests`` runs ``gc.collect()``: 1.8 s);
  each cohort's Kaplan–Meier curve fitted once for ``km_estimates`` and ``km_curves`` (62 -> 38
  fits); outcomes on the same children share one propensity fit (2 of 7 GLMs).
* The Aalen–Johansen influence pass adds each child's row by indexing, not ``np.add.at``
  (days in state 12.5 s -> 10.0 s).

Equality (full output of each function on the default county, before vs after): every table of
state_results, competing_results, run_synthetic_control and run_staggered bitwise identical, as
are the doubly robust RMST rows with their bootstrap limits; the other survival_results rows
within 6e-11 relative (the order of BLAS's sums on one thread; 1e-9 was the bar), all bitwise
identical before the BLAS change.

Left: the synthetic control is pysyncon's SLSQP with finite-difference gradients (465 fits:
placebos, leave-one-out, the augmented fit), already on one BLAS thread; another optimiser path
would move the weights at the solver's tolerance, so it was not touched. In survival the rest is
the AIPW bootstrap (about 9 s: per resample a logistic Newton fit, pseudo-observations, the
outcome models), the Kaplan–Meier IJ variance at every step time (about 7 s, most on the
censoring-weighted pieces: O(rows x step times)), then Cox, censoring weights and tidy tables.
Days in state: the Aalen–Johansen influence pass over every day (3.6 s) and the two bootstraps.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

STEPS = ("survival", "states", "competing", "synthetic", "staggered")
ASSET = {"survival": "survival_analysis", "states": "days_in_state_analysis",
         "competing": "competing_exits_analysis", "synthetic": "synthetic_control",
         "staggered": "staggered_adoption"}
#: assets/analysis.py POOLED_ORDER: the stable order the pooled assets give their inputs
ORDER = {"analysis_dataset": ["la_code", "family_id", "child_id", "outcome"],
         "state_intervals": ["la_code", "id", "tstart"]}


def _inputs(duckdb_path: str | None, workdir: Path) -> dict:
    """analysis_dataset, state_intervals, la_panel, adopters."""
    if duckdb_path:
        import duckdb
        with duckdb.connect(duckdb_path, read_only=True) as con:
            tables = {name: con.sql(f"select * from {schema}.{name}").df()
                      for schema, name in [("cohorts", "analysis_dataset"), ("cohorts", "state_intervals"),
                                           ("comparison", "la_panel"), ("comparison", "adopters")]}
    else:
        cache = workdir / "county.pkl"
        if cache.is_file():
            tables = pickle.loads(cache.read_bytes())
        else:
            from evaluation.cohorts.analysis_dataset import analysis_dataset
            from evaluation.comparison.adopters import adopters
            from evaluation.comparison.panel import read_panel
            from evaluation.ingest import ingest_local_authority
            from evaluation.journeys import state_intervals
            from evaluation.pseudonymise import DEMO_KEY, load_key
            from evaluation.study import StudyConfig
            from evaluation.synthetic import generate_county

            folder = workdir / "county"
            if not (folder / "ground_truth.json").exists():
                generate_county(folder, seed=20201101)
            la = sorted(p for p in folder.iterdir() if p.is_dir())[0]
            door = ingest_local_authority(la, load_key(DEMO_KEY))
            tables = {"analysis_dataset": analysis_dataset(door, StudyConfig()),
                      "state_intervals": state_intervals(door, StudyConfig()),
                      "la_panel": read_panel(), "adopters": adopters()}
            workdir.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(pickle.dumps(tables))
    for name, keys in ORDER.items():
        tables[name] = tables[name].sort_values(keys, kind="mergesort", ignore_index=True)
    return tables


def run_step(step: str, duckdb_path: str | None, workdir: Path) -> dict:
    """One step on the inputs, timed: its CPU and wall seconds and the process's peak memory."""
    from evaluation.study import StudyConfig

    tables = _inputs(duckdb_path, workdir)
    config = StudyConfig()
    if step == "survival":
        from evaluation.analysis.survival_outcomes import survival_results
        call = lambda: survival_results(tables["analysis_dataset"], config)  # noqa: E731
    elif step == "states":
        from evaluation.analysis.states import state_results
        call = lambda: state_results(tables["state_intervals"], config,  # noqa: E731
                                     analysis=tables["analysis_dataset"])
    elif step == "competing":
        from evaluation.analysis.competing_exits import competing_results
        call = lambda: competing_results(tables["analysis_dataset"], config)  # noqa: E731
    elif step == "synthetic":
        from evaluation.comparison.synthetic import run_synthetic_control, treated_council
        panel = tables["la_panel"]
        # assets/comparison.py SyntheticControlSettings defaults
        _, transition = treated_council(tables["adopters"], "931", int(panel["year"].min()), 5)
        call = lambda: run_synthetic_control(panel, treated="931", transition_year=transition,  # noqa: E731
                                             max_donors=40, holdout=2, placebo_units="donors",
                                             in_time_shift=2, augmented=True)
    elif step == "staggered":
        from evaluation.comparison.panel import RATES
        from evaluation.comparison.staggered import CONTROL_GROUPS, run_staggered
        call = lambda: run_staggered(tables["la_panel"], measures=list(RATES),  # noqa: E731
                                     control_groups=tuple(CONTROL_GROUPS), adopters_table=tables["adopters"])
    else:
        raise ValueError(f"unknown step {step!r}; one of {STEPS}")
    cpu, wall = time.process_time(), time.perf_counter()
    call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step": step, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "peak_mb": round(peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb", help="DuckDB file of a run's stored tables (default: generate the county)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pooled_cost"))
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    parser.add_argument("--one", choices=STEPS, help=argparse.SUPPRESS)   # a child process: one step
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_step(args.one, args.duckdb, args.workdir)))
        return
    if not args.duckdb:
        _inputs(None, args.workdir)   # generate and cache once, outside the timed children
    print(f"{'step':<26} {'cpu s':>7} {'wall s':>7} {'peak MB':>8}")
    for step in args.steps:
        command = [sys.executable, __file__, "--one", step, "--workdir", str(args.workdir)]
        if args.duckdb:
            command += ["--duckdb", args.duckdb]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        result = json.loads(out)
        print(f"{ASSET[step]:<26} {result['cpu_s']:>7} {result['wall_s']:>7} {result['peak_mb']:>8}")


if __name__ == "__main__":
    main()
