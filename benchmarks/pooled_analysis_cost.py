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

Twenty councils (issue #20; benchmarks/pipeline_scale.py's synthetic councils, 784k children:
1.53M state intervals, 2.5M analysis-dataset rows; a copy of that run's DuckDB), days in state
only, measured 2026-12-06 with no pipeline running (only this work's smaller profiling runs beside
them, so wall seconds are inflated):

    days_in_state_analysis      cpu s   wall s   peak MB
    before (commit f7db6e1)     > 406    > 680    15,005   stopped at resample 80 of 200 of the IPW
                                                           bootstrap (peak: the process's VmHWM)
    after  (commit 20007dd)       572      667     6,127   (the default county's run beside it)

The inputs alone, read from DuckDB into pandas and sorted as the assets' ``pooled`` does, hold
about 4.1 GB of that process (object columns of the analysis dataset: 2.9 GB); the step itself
now adds about 2 GB on top (before: about 11 GB). Five councils (the first five la_codes of that
database, tables filtered by la_code; the library called directly): 119 -> 102 s CPU, peak 3,056
-> 1,629 MB, of which the inputs 1,239. Default county (this script, --duckdb, the 20-council run
beside it): 22.4 -> 16.4 s CPU, 819 -> 607 MB.

Where the memory went: the IPW days under the go-live censoring split every pre-FSP journey into
30-day pieces as a pandas copy of the interval table (every column, objects included) and coded
that copy again for each cohort, and the censoring weights of those pieces copied every
covariate onto every piece (``censoring_weights``); the covariates were also merged onto every
interval, and the bootstrap held all 200 resamples' draw counts per entry (B x entries floats).
Now the pieces are numeric arrays (row, start, stop, last, unit) built from each cohort's own
coding of its rows (``adjusted_states._split_design``), their weights come from each entry's
linear predictor (``censoring_weights.censoring_weight_pieces``), each journey's entry is found
once (one row per journey, not per interval), and the resamples are drawn chunk by chunk from one
generator (the same stream), each chunk serving both the IPW and the doubly robust replicates.
Where the time went: with one resample per block (the pieces outnumber the block's cell bound)
every IPW resample rebuilt the cohort's sparse per-unit matrices from the rows; they are built
once now (``multistate._Replicates``). The resampled censoring Cox model computes its
coefficients only (``censoring_weights._breslow_coefficients``: cox_ph's own steps without its
robust variance and score tests, bitwise the same coefficients), and the pseudo-observations'
influence pass skips the occupation curves' SEs it does not use.

Equality: every table of ``state_results`` bitwise identical before and after, with the same
seed's bootstrap limits, on the default county and on the five councils; tests of multistate,
weighted states, analysis states, target-trial weights/AIPW, survival, Kaplan–Meier, RMST pass.

Left in days in state: the pseudo-observations' infinitesimal-jackknife pass (every day, the
children at risk: O(days x children), about 3.5 of the 11 minutes at 20 councils) and the 200
resamples' censoring refits and weighted Aalen–Johansen (about 5 minutes: 0.7 resamples a second,
one per block, since the pieces outnumber the block's cell bound). Survival at 20 councils (285 s
in the pipeline) was not changed here: on the default county its time is the IPCW-weighted analyses (two thirds), within
them the doubly robust RMST bootstrap (31% of the step) and the Kaplan–Meier IJ variance at every
step time (``kaplan_meier.ij_variance``, 23%: O(rows x step times), the part that grows with the
councils).
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
