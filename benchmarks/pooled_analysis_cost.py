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
    .venv/bin/python benchmarks/pooled_analysis_cost.py --duckdb county20.duckdb --councils 5 --steps states

(``--councils N``: with ``--duckdb``, only the rows of the first N la_codes of the pooled tables.)

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

Survival at twenty councils (issue #20; the same copy of the 20-council DuckDB; this script's
``--one survival``, under /usr/bin/time; measured 2026-12-06 on the shared machine at load average
7-8 from other engineers' runs, so wall seconds are two to three times the CPU seconds). Each
step's process now loads only the tables its asset receives (survival: the analysis dataset), the
pooled ones through the asset's own ``pooled`` (which imports Dagster and the assets: about 170 MB
that a step process holds anyway); ``--loaded-text`` gives the inputs as before (a text object per
row, the plain sort, no Dagster import). ``input MB`` is the resident memory once the inputs are
ready, ``peak MB`` the process's peak, loading included:

    survival_analysis           cpu s   wall s   peak MB   input MB
    before (commit 4d03e80)       721    2,420    13,457     ~3,750   (all four tables loaded, as
                                                                      this script then did)
    after  (commit dcae378)       383      688     4,255      1,090   (peak: DuckDB's .df() of the
                                                                      analysis dataset; the step
                                                                      itself up to 4,083)
    after  (commit b06a513)       385      440     4,255      1,092   (peak: the same load; the
                                                                      step itself up to 3,706)

Five councils (the first five la_codes, 627,734 rows; the library called directly after the
inputs; after = commit dcae378): 156 -> 74 s CPU, peak 2,684 -> 1,332 MB, inputs 880 -> 536 MB. Default county (this
script): 25.1 -> 15.2 s CPU, 722 -> 487 MB (inputs 267 -> 360 MB: the Dagster import; the shared
text saves about 75 MB of it).

Where the memory went: ``censoring_weights`` split every pre-FSP row followed to go-live into
30-day pieces as a copy of the whole design frame (every column, the text columns, the ~40
propensity covariates) and then concatenated, sorted and re-indexed that copy: 13.4 GB at the
peak (VmRSS sampled each second, py-spy dumps at each 300 MB more: every dump from 6.5 GB up was
in ``censoring_weights``, at the peak pandas' block consolidation in the copies of the pieces).
Now the pieces carry only the columns the weighted Kaplan–Meier, Cox and RMST read (``keep=``:
cohort, family, weight, strata, duration, event, the piece's start and weight), and the pieces'
weights are computed 2^18 pieces at a time (not pieces x covariates at once; in blocks of a
multiple of 64 rows OpenBLAS gives each piece's linear predictor bitwise as in one product: seen
here, and tested with 128-row blocks against one). The inputs: DuckDB's ``.df()`` makes a
separate ``str`` object for every text cell (12 text columns x 2.5M rows: about 2 GB at the default
county's bytes per cell); ``assets.analysis.pooled`` now replaces them, in place, by one object per distinct text
(``share_text``; values, dtypes and missing values unchanged, so nothing downstream can differ:
no categoricals, whose unobserved levels and ``groupby(observed=)`` would change results in
competing exits, days in state and across councils). Where the time went: the Kaplan–Meier IJ
variance was O(rows x step times) (the weighted curves on millions of pieces, one block per step
time); it is now one pass over the rows' entries and exits (``kaplan_meier.ij_variance``: per
family, the influence on log S between two of its rows' entries or exits is ``-C(k) a + b``, so the
variance at step ``k`` is ``C(k)^2 sum a^2 - 2 C(k) sum ab + sum b^2``, the sums accumulated in long
double where the families' ``a``, ``b`` change; whole families 2^17 rows at a time). On the
default county it is now 2% of the step, from 23%.

Equality: with the dense IJ sum kept as ``kaplan_meier._ij_variance_dense`` swapped in, every table
of ``survival_results`` is bitwise identical to before on the default county; with the one pass,
the Kaplan–Meier standard errors and their limits (``km_estimates``, ``km_curves``, the
``kaplan_meier_ipw`` rows of ``weighted``) differ by at most 1.04e-13 relative on the default
county and 4.2e-13 on five councils, every other table bitwise identical. The difference is the
old float64 sum's rounding: at the default county's largest difference the dense sum redone in
long double gives the one-pass value to the last bit. Competing exits, days in state and across
councils are bitwise identical with the shared text (default county). Tests: the one pass against
the dense sum on 40 random data sets (ties, delayed entry, weights, families, a last step where
n - d is a rounding residue, blocks of 7 rows) to 1e-12 relative with zeros exact; the R fixtures
of Kaplan–Meier, survival analysis, RMST, target-trial AIPW and weights, Cox pass unchanged.

Left: the peak at twenty councils is now the loading of the analysis dataset (DuckDB's ``.df()``
holds its result and the text objects of every row at once, ~4.2 GB, before ``pooled`` can share
them): under 3 GB needs the IO manager (assets/storage.py) to load text shared or as
dictionary-encoded Arrow, or in record batches. (Since done: ``assets.storage.load_frame`` reads
Arrow with one object per distinct text, 3.6 -> 1.3 GB for this load; ``pooled`` no longer shares
text itself and sorts in place, and this benchmark loads through ``load_frame``.) The step itself, sampled each second, reached
3.7 GB, of which the inputs 1.1 GB; the two dumps taken above 3 GB were in the propensity GLM (statsmodels,
``weighting.cohort_weights``) and the concatenation, sort and re-index of the IPCW pieces (now 7
columns, still three copies of them). The step's CPU is now mostly the doubly robust RMST
bootstrap (46% on the default county) and the Cox fits (16%).

Days in state at twenty councils, second pass (issue #20; measured 2026-12-06 17:00 UTC on the
shared two-core machine at load average 3-6 from other engineers' runs, so wall seconds are
inflated; the same 20-council DuckDB; before = commit 692663d's code from an archive on
PYTHONPATH, after = this commit). ``--one states`` under py-spy at 5 samples a second (which adds
little); five councils and the default county with the library called after the inputs are loaded
as here (``_inputs``, the asset's ``pooled``), CPU of the step, peak of the process:

    days_in_state_analysis          cpu s   wall s   peak MB   input MB
    20 councils  before               443      738     5,283      1,511
                 after                288      403     5,287      1,513
    5 councils   before              72.8        -     1,475          -
                 after          50.1/59.2        -     1,470          -   (two runs, load 3-5)
    default county  before/after   12.4 -> 10.6 s CPU (old and new paths in one process)

Peak memory is unchanged: it is the loading of the inputs (DuckDB's ``.df()``), not the step.

Where the time went at 20 councils before (py-spy samples of the step, wall): the resamples'
censoring refits 36% (the Cox model of the go-live day on each resample's draws 22%, of it the
QR column check 6% and Newton 15%; the censoring weights of every piece 9%: two searches of
millions of pieces per resample), the pseudo-observations' infinitesimal-jackknife pass 25%, the
doubly robust terms 10% (``doubly_robust.aipw_terms``), the four plain bootstrap tables 8% (a third
of that the families' multinomial draws, made once per table), the weighted Aalen–Johansen of the
resamples 4%. Changed:

* The IJ pass (``multistate.state_occupation`` with the child as unit, as the pseudo-observations
  use it) found the rows at risk every day among every row entered so far and added their terms by
  fancy indexing (O(days x rows)). Now each child's row at risk is followed as the days go by
  (``multistate._AtRisk``: rows enter and leave once) and the day's terms are added to every child
  at once, a child not at risk adding zero; unweighted (every weight 1), a row's term is one of the
  day's S x S vectors ``(p_o / n_o)(e_now - H[o, ])``, read by each child's code. The taus' sums of
  the influence share one array while their widths are equal (``multistate._SharedSums``). 195 s ->
  23 s of wall samples at 20 councils; on the default county's post-FSP cohort 1.17 -> 0.24 s CPU.
* A resample's censoring weights (``adjusted_states._CensoringPieces.refitted``): the marginal
  share and the Breslow baseline hazard at the units' few distinct start days (grid days and first
  days), read off per unit, instead of two searches per unit (``censoring_weights.
  marginal_censoring_survival`` and ``censoring_baseline_hazard``, split out of
  ``stabilised_censoring_weights`` / ``planned_censoring_survival`` with the same statements).
* ``censoring_model`` on a resample no longer builds a data frame it does not use and copies the
  drawn rows once.

Equality: every table of ``state_results`` bitwise identical before and after on five councils
(the first five la_codes) and the default county; ``survival_results`` bitwise identical on the
default county (censoring_weights is shared). Tests: the dense IJ pass against the indexed one
(``multistate._IJ_PASS = "indexed"``, the old loop kept as the oracle) bit for bit on the R
fixture's cohorts, the weighted fixture and six random data sets (delayed entry, ties,
back-transitions, per-child weights, taus inside, at and past the data); the refitted weights by
start day against the per-unit computation (``adjusted_states._REFIT_BY_DAY = False``) bit for bit
on six resamples of the IPCW fixture at two grids; the R fixtures pass unchanged. (A first try
that skipped the copy ``x[:, used]`` before the linear predictor moved three IPW bootstrap SEs by
one ulp at five councils: the copy's memory layout decides BLAS's order of sums; kept as it was.)

Left: the Cox refit of the censoring model on each resample is now the largest part (31% of the
step's wall samples at 20 councils: Newton 22%, the QR column check 7%, in ``cox.py``), then the
doubly robust terms (13%, ``doubly_robust``), the plain bootstrap tables (11%, a third of it the
multinomial draws made once per table: drawing once for all four would save ~15 s), the weighted
Aalen–Johansen of the resamples (5%) and the IJ pass (5%). A warm-started or collapsed Cox refit
would move the weights at Newton's tolerance (on the default county (C, x) patterns are 7,360 of
8,562 entries, so collapsing saves little).

Survival at twenty councils, second pass (issue #20; measured 2026-12-06 21:10-21:55 UTC on the
shared two-core machine at load average 2-4; the 20-council DuckDB; ``survival_results`` called
after the analysis dataset is loaded through ``load_frame`` and ``pooled``, one process per run;
before = commit 32120a0 from a git worktree, after = commit 5c80d0a; CPU of the step, peak of the
process, VmRSS sampled every 0.25 s):

    survival_analysis            cpu s   peak MB   input MB
    20 councils  before          356.5     4,750      1,580
                 after     268.6/292.6  4,328/4,439  1,594/1,499   (two runs)
    5 councils   before/after   66.9 -> 47.8 s, 1,199 -> 1,042 MB   (back to back)
    default county before/after 13.1 -> 11.9 s, 503 -> 475-485 MB

Where the time went (py-spy at 20 councils before: 485 s of samples): the same pooled frame coded
again by every model -- ``survival_data`` factorizing the text family ids (sort=True) for each
Kaplan-Meier, log-rank and RMST fit (30 s), ``cox_ph``'s np.unique of them (19 s) and two
factorizes per sandwich, ``with_adjustment_terms`` comparing strings per level (25 s) on a deep
copy of the frame; the doubly robust bootstrap's ``Patterns.of`` (np.unique over rows of floats,
30 s) and per-replicate row work. Changed: family ids coded once per outcome as int64 ranks of
the ids as text (``survival_outcomes._coded_families``: every estimator reads them only by equality
and that order, so the same codes); ``with_adjustment_terms``/``plain_strings`` shallow copies and
one factorize per categorical; ``cox_ph`` codes clusters once; ``Patterns.of`` from one integer key
per row (column ranks, most significant first) giving np.unique's rows, order and codes; a
replicate's propensity trials from the cohorts' pattern counts (whole numbers: exact in any
order), each cohort's codes taken once. Memory: the resamples' draw counts made a few at a time
from the one generator (200 x 273k families int64 was 0.44 GB on the largest outcomes), no copy of
the design in ``balance_table``/``cohort_weights`` when it holds only the two cohorts, the IPCW
pieces taken without a second copy, ``cox_ph``'s centring, residual products and column check in
place, the propensity cache without the statsmodels model and without byte copies of the design.

Equality: every table of ``survival_results`` bitwise identical before and after on the default
county, five councils and twenty councils; ``state_results`` (which shares design.py,
doubly_robust.py and censoring_weights.py) bitwise identical on the default county. Tests: the R
fixtures' files pass unchanged; tests/test_survival_exact_paths.py checks each new path against
the one it replaced bit for bit (mutations of the family coding, first-seen or numeric, change
four tables there).

Left: the peak is live memory, not the allocator (five councils with a fixed 128 KB mmap threshold
peak the same): the propensity GLM (statsmodels IRLS: its pinv/lstsq on n x p, ~1.5 GB of
temporaries on the largest outcome) and the Cox fits' n x p arrays in the differential model. A
pattern-based logistic fit (``doubly_robust.logistic_coefficients``, already used by the bootstrap)
would remove most of both the memory and its 22 s, but statsmodels stops at a deviance tolerance of
1e-8, so the weights would move by more than 1e-12: not done. The replicates' Gram matrices (logistic
Newton from the full fit's coefficients, as before; the outcome models are least squares, no
Newton) could skip patterns no row is drawn in, at rounding-level (not bitwise) differences: not done.
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
#: The stored tables each step's asset receives.
NEEDS = {"survival": ("analysis_dataset",), "states": ("state_intervals", "analysis_dataset"),
         "competing": ("analysis_dataset",), "synthetic": ("la_panel", "adopters"),
         "staggered": ("la_panel", "adopters")}
#: assets/analysis.py POOLED_ORDER: the stable order the pooled assets give their inputs
ORDER = {"analysis_dataset": ["la_code", "family_id", "child_id", "outcome"],
         "state_intervals": ["la_code", "id", "tstart"]}
SCHEMA = {"analysis_dataset": "cohorts", "state_intervals": "cohorts", "la_panel": "comparison",
          "adopters": "comparison"}


def _inputs(duckdb_path: str | None, workdir: Path, names=tuple(SCHEMA), share: bool = True,
            councils: int | None = None) -> dict:
    """The tables ``names`` (default all four), the pooled ones as the assets' ``pooled`` gives them
    (assets/analysis.py: text shared, stable order; ``share=False``: only the order, as before #20's
    survival work). ``councils``: only the rows of the first ``councils`` la_codes (of a DuckDB file's
    pooled tables, in code order), to iterate on a part of a large run."""
    if duckdb_path:
        import duckdb
        with duckdb.connect(duckdb_path, read_only=True) as con:
            def where(name):
                if councils is None or name not in ORDER:
                    return ""
                return (f" where la_code in (select distinct la_code from {SCHEMA[name]}.{name}"
                        f" order by la_code limit {int(councils)})")
            from assets.storage import load_frame   # as the IO manager loads a step's inputs
            tables = {name: load_frame(con, f"select * from {SCHEMA[name]}.{name}{where(name)}") for name in names}
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
    tables = {name: tables[name] for name in names}
    if share:   # the asset's own function (importing Dagster and the assets: ~170 MB, as in a step process)
        from assets.analysis import pooled
        return {name: pooled(name, frame) if name in ORDER else frame for name, frame in tables.items()}
    return {name: frame.sort_values(ORDER[name], kind="mergesort", ignore_index=True) if name in ORDER else frame
            for name, frame in tables.items()}


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024


def run_step(step: str, duckdb_path: str | None, workdir: Path, share: bool = True,
             councils: int | None = None) -> dict:
    """One step on its inputs, timed: its CPU and wall seconds, the process's peak memory (loading
    the inputs included) and its resident memory once the inputs are ready (``input_mb``)."""
    from evaluation.study import StudyConfig

    tables = _inputs(duckdb_path, workdir, NEEDS[step], share, councils)
    input_mb = _rss_mb()
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
    return {"step": step, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "peak_mb": round(peak),
            "input_mb": round(input_mb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb", help="DuckDB file of a run's stored tables (default: generate the county)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pooled_cost"))
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    parser.add_argument("--loaded-text", action="store_true",
                        help="inputs with a text object per row, as loaded (not shared as the assets' pooled does)")
    parser.add_argument("--councils", type=int,
                        help="with --duckdb: only the first N la_codes' rows of the pooled tables")
    parser.add_argument("--one", choices=STEPS, help=argparse.SUPPRESS)   # a child process: one step
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_step(args.one, args.duckdb, args.workdir, not args.loaded_text, args.councils)))
        return
    if not args.duckdb:
        _inputs(None, args.workdir)   # generate and cache once, outside the timed children
    print(f"{'step':<26} {'cpu s':>7} {'wall s':>7} {'peak MB':>8} {'input MB':>9}")
    for step in args.steps:
        command = [sys.executable, __file__, "--one", step, "--workdir", str(args.workdir)]
        if args.duckdb:
            command += ["--duckdb", args.duckdb]
        if args.loaded_text:
            command += ["--loaded-text"]
        if args.councils is not None:
            command += ["--councils", str(args.councils)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        result = json.loads(out)
        print(f"{ASSET[step]:<26} {result['cpu_s']:>7} {result['wall_s']:>7} {result['peak_mb']:>8} "
              f"{result['input_mb']:>9}")


if __name__ == "__main__":
    main()
