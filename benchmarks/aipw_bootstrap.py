"""Doubly robust RMST difference with its family bootstrap: what 200 resamples cost on the default county.

Measured: for every outcome of the default synthetic county (``generate_county(seed=20201101)``,
scale 1, primary design), the pre-FSP and post-FSP rows with the propensity covariates, exactly
as ``survival_results`` calls ``aipw_rmst_difference`` (taus 365 and 730): the estimate with its
influence-function SE alone (``n_boot=0``), then with the default ``AIPW_BOOTSTRAP`` = 200
resamples (draw counts of the families as frequency weights on the one table, propensity,
pseudo-observations and outcome models refitted on each). Beside it, the cost per resample of the
earlier bootstrap, which copied the resampled families' rows and refitted on the copy (timed on
``--old-replicates`` resamples of each outcome and scaled to 200); both give the same numbers
(tests/test_target_trial_aipw.py). Also the adjusted days in each state (IPW and doubly robust,
200 resamples) on the same county's journeys. Every figure is wall seconds on the shared
two-core machine (other engineers' jobs running), so read them as orders of magnitude.

    .venv/bin/python benchmarks/aipw_bootstrap.py [--workdir /tmp/aipw_bench] [--old-replicates 5]

Measured 2026-12-06 on the shared two-core machine (load average about 2.5), default county:

    outcome               rows  IF only s  200 resamples s  old per resample s  old x 200 s
    time_in_need         26390       0.18              3.0               0.155           31
    time_in_protection    1960       0.01              0.5               0.011            2
    time_to_protection   26390       0.16              2.9               0.164           33
    time_to_care         26390       0.16              4.1               0.321           64
    re_referral          22659       0.27              4.5               0.268           54
    repeat_protection     1316       0.03              1.0               0.020            4
    all outcomes: 200 resamples 16.0 s (old, extrapolated: 188 s)
    days in each state, unadjusted (200 resamples): 5.3 s
    with IPW and doubly robust (200 resamples): 11.3 s

So the default bootstrap of the doubly robust RMST differences adds about 16 s to the survival
analysis of the default county; copying the resampled rows and refitting (here with today's fitting
code; the code before, which also fitted the propensity on every row rather than on the covariate
patterns, took 134 s at a tenth of the size) would add about 3 minutes. The adjusted days in each
state add about 6 s to their asset. Not in the table: time_on_cin_plan (no pre-FSP rows under the
primary design), time_in_care (propensity of 0 or 1: the covariates separate the cohorts among
the few children in care) and care_re_entry (a cohort without events) — reported as "not
estimable" rows by survival_results, as here.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def county(workdir: Path):
    """The default county's analysis dataset and state intervals (generated and built once, cached)."""
    cache = workdir / "county.pkl"
    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    from evaluation.cohorts.analysis_dataset import analysis_dataset
    from evaluation.ingest import ingest_local_authority
    from evaluation.journeys import state_intervals
    from evaluation.pseudonymise import DEMO_KEY, load_key
    from evaluation.study import StudyConfig
    from evaluation.synthetic import generate_county

    folder = workdir / "county"
    if not (folder / "ground_truth.json").exists():
        generate_county(folder, seed=20201101)
    la = sorted(p for p in folder.iterdir() if p.is_dir())[0]
    tables = ingest_local_authority(la, load_key(DEMO_KEY))
    built = (analysis_dataset(tables, StudyConfig()), state_intervals(tables, StudyConfig()))
    cache.write_bytes(pickle.dumps(built))
    return built


def old_resample_seconds(design, covariates, entry, replicates: int) -> float:
    """Seconds per resample of the earlier bootstrap: the resampled families' rows copied, then refitted."""
    from evaluation.survival._data import survival_data
    from evaluation.survival.doubly_robust import Patterns, _estimates

    families, codes = np.unique(design["family_id"].astype(str), return_inverse=True)
    members = [np.flatnonzero(codes == k) for k in range(len(families))]
    x = np.column_stack([np.ones(len(design)), design[covariates].to_numpy(dtype=float)])
    treated = (design["cohort"] == "post_fsp").to_numpy()
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    for _ in range(replicates):
        rows = np.concatenate([members[k] for k in rng.integers(0, len(families), len(families))])
        sample = design.iloc[rows].reset_index(drop=True)
        _estimates(survival_data(sample, "duration", "event", entry=entry), treated[rows], Patterns.of(x[rows]),
                   [365.0, 730.0])
    return (time.perf_counter() - started) / replicates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aipw_bench"))
    parser.add_argument("--old-replicates", type=int, default=5)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from evaluation.analysis.design import COHORT, entry_column, outcome_rows
    from evaluation.analysis.states import state_results
    from evaluation.analysis.survival_outcomes import AIPW_BOOTSTRAP, AIPW_SEED, propensity_design
    from evaluation.cohorts.analysis_dataset import OUTCOMES
    from evaluation.errors import NotEstimable
    from evaluation.study import StudyConfig
    from evaluation.survival.doubly_robust import aipw_rmst_difference

    analysis, intervals = county(args.workdir)
    config = StudyConfig()
    rows_out = []
    for outcome in OUTCOMES:
        df = outcome_rows(analysis, outcome)
        rows = df[df[COHORT].isin(["pre_fsp", "post_fsp"])].reset_index(drop=True)
        if rows[COHORT].nunique() < 2:
            continue
        design, covariates = propensity_design(rows, config)
        entry = entry_column(rows)
        timing = {}
        try:
            for n_boot in (0, AIPW_BOOTSTRAP):
                started = time.perf_counter()
                aipw_rmst_difference(design, "duration", "event", COHORT, covariates, tau=(365, 730),
                                     reference="pre_fsp", comparison="post_fsp", cluster="family_id", n_boot=n_boot,
                                     seed=AIPW_SEED, entry=entry, outcome=outcome)
                timing[n_boot] = time.perf_counter() - started
        except NotEstimable as error:       # as survival_results reports it: a row, not a figure
            print(f"{outcome}: not estimable ({error})")
            continue
        old = old_resample_seconds(design, covariates, entry, args.old_replicates)
        rows_out.append({"outcome": outcome, "rows": len(rows), "IF only s": round(timing[0], 2),
                         f"{AIPW_BOOTSTRAP} resamples s": round(timing[AIPW_BOOTSTRAP], 1),
                         "old per resample s": round(old, 3), f"old x {AIPW_BOOTSTRAP} s": round(old * AIPW_BOOTSTRAP)})
    table = pd.DataFrame(rows_out)
    total = table.drop(columns=["outcome"]).sum(numeric_only=True)
    print(table.to_string(index=False))
    print(f"all outcomes: {AIPW_BOOTSTRAP} resamples {total[f'{AIPW_BOOTSTRAP} resamples s']:.1f} s "
          f"(old, extrapolated: {total[f'old x {AIPW_BOOTSTRAP} s']:.0f} s)")
    for label, extra in (("days in each state, unadjusted", {}), ("with IPW and doubly robust", {"analysis": analysis})):
        started = time.perf_counter()
        state_results(intervals, config, **extra)
        print(f"{label} (200 resamples): {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
