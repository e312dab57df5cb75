"""Days in each state with the family bootstrap: how time and memory grow with councils and replicates.

The step measured is what ``evaluation.analysis.states.state_results`` runs: follow-up cut at
730 days, then the expected-days table and the three reaching tables (CP plan, care, either),
each with its point estimates and ``n_boot`` family-bootstrap replicates. The journeys are the
state intervals of the default synthetic county (``evaluation.journeys.state_intervals``: one
council, 84,352 intervals, 27,695 children, 14,641 families), copied once per council with the
council's own ids (so families are resampled independently per council). Each measurement runs
in a fresh process (peak RSS = that process's ``ru_maxrss``); CPU seconds (``process_time``) are
the steadier figure on a shared machine, wall seconds are printed beside them.

* old: the code of ``--baseline`` (``git show``; default 311e046, before this change): per
  replicate chunk, a replicates × rows weight matrix, and point estimates that look up the risk
  set of every day among all rows;
* new: this version, the family draw counts as frequency weights on one coded table (per-family
  sparse risk-set and transition counts, times each chunk of draws), point estimates in one pass.

Both give the same numbers (tests/test_multistate.py: same seed → same draws → same estimates as
refitting on the resampled families; here the largest difference between old and new tables is
printed too).

    .venv/bin/python benchmarks/days_in_state_bootstrap.py [--councils 1 5 20] [--replicates 50 200]
                                                           [--old-max-councils 5]

Measured 2026-12-06 on the shared two-core machine (load average ~10 from other engineers' jobs,
so wall seconds are inflated and noisy; compare CPU seconds), old = 311e046, new = f5b60b1 (its
tables are bit-for-bit those of ee31f11, whose largest difference from old was 4.5e-13 days):

    code  councils  children       rows  replicates  CPU s  wall s  peak RSS MB
    old          1    27,695     77,191          50    4.8    16.8          302
    new          1    27,695     77,191          50    2.2     5.4          269
    old          1    27,695     77,191         200    7.8    48.5          398
    new          1    27,695     77,191         200    3.8    12.2          294
    old          5   138,475    385,955          50   29.9   164.8          639
    new          5   138,475    385,955          50    8.0    26.5          484
    old          5   138,475    385,955         200   37.9   120.1        1,074
    new          5   138,475    385,955         200   13.6    33.7          588
    old         20   553,900  1,543,820          50  145.9   363.9        1,855
    new         20   553,900  1,543,820          50   41.0    90.3        1,271
    old         20   553,900  1,543,820         200  193.1   511.3        3,619
    new         20   553,900  1,543,820         200   60.8   145.9        1,664

How it grows: with councils, both roughly linearly in children (200 replicates, 1 → 5 → 20
councils: old 7.8 → 37.9 → 193 CPU s, new 3.8 → 13.6 → 61); with replicates, at 20 councils old
adds 0.31 CPU s per replicate and new 0.13 (50 → 200 replicates: +47 s vs +20 s), on top of a
fixed part of about 130 s (old) and 34 s (new). The fixed part is what changed most: the old point
estimates looked up every day's risk set among all rows (rows × days) and coded each table's
intervals twice, sorting string ids; the new ones come from the same coded table as the
replicates, in one pass, on integer child codes. Peak memory at 20 councils and 200 replicates
halves (3.6 → 1.7 GB): no replicates × rows weight matrix, no children × replicates weight table.
About half of the new per-replicate cost is NumPy's multinomial draw of the families, kept so
that a seed gives the same resamples as before. What is left in the fixed part is pandas work on
string ids and the journeys' checks.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TAUS = (365, 730)
REACHING = (("cp_plan",), ("care",), ("cp_plan", "care"))


def county_intervals(folder: Path) -> pd.DataFrame:
    """The default county's state intervals (generated, ingested and built once, then cached)."""
    cache = folder / "state_intervals.parquet"
    if cache.is_file():
        return pd.read_parquet(cache)
    from evaluation.ingest import ingest_local_authority
    from evaluation.journeys import state_intervals
    from evaluation.pseudonymise import DEMO_KEY, load_key
    from evaluation.study import StudyConfig
    from evaluation.synthetic import generate_county

    tables_cache = folder / "door_tables.pkl"
    if tables_cache.is_file():
        tables = pickle.loads(tables_cache.read_bytes())
    else:
        if not (folder / "ground_truth.json").exists():
            generate_county(folder, seed=20201101, local_authorities=1, scale=1.0)
        la = sorted(p for p in folder.iterdir() if p.is_dir())[0]
        tables = ingest_local_authority(la, load_key(DEMO_KEY))
    intervals = state_intervals(tables, StudyConfig())
    intervals.to_parquet(cache)
    return intervals


def councils(intervals: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` copies of one council's journeys, each with its own child and family ids."""
    data = intervals[["id", "cluster", "group", "tstart", "tstop", "from_state", "to_state"]]
    data = data[data["group"].notna()].astype({"group": object})
    copies = [data.assign(id=f"c{k}:" + data["id"], cluster=f"c{k}:" + data["cluster"]) for k in range(n)]
    return pd.concat(copies, ignore_index=True)


def multistate_module(baseline: str | None):
    """This version's multistate module, or the baseline commit's (loaded from ``git show``)."""
    if baseline is None:
        from evaluation.survival import multistate
        return multistate
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{baseline}:evaluation/survival/multistate.py"],
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "multistate_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("multistate_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["multistate_baseline"] = module
    spec.loader.exec_module(module)
    return module


def days_in_state(ms, data: pd.DataFrame, n_boot: int) -> list[pd.DataFrame]:
    """The four tables state_results makes (follow-up already cut at the largest tau)."""
    tables = [ms.expected_days_table(data, taus=TAUS, n_boot=n_boot, seed=20201101)]
    for targets in REACHING:
        tables.append(ms.proportion_reaching_table(data, taus=TAUS, states=targets, n_boot=n_boot, seed=20201101))
    return tables


def measure_one(folder: Path, n_councils: int, n_boot: int, baseline: str | None, save: Path | None) -> dict:
    from evaluation.analysis.states import follow_up_to

    data = follow_up_to(councils(county_intervals(folder), n_councils), max(TAUS))
    ms = multistate_module(baseline)
    started, cpu = time.perf_counter(), time.process_time()
    tables = days_in_state(ms, data, n_boot)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if save is not None:
        save.write_bytes(pickle.dumps(tables))
    return {"councils": n_councils, "children": int(data["id"].nunique()), "rows": len(data),
            "replicates": n_boot, "seconds": seconds, "cpu_seconds": cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def in_fresh_process(folder: Path, n_councils: int, n_boot: int, baseline: str | None, save: Path) -> dict:
    command = [sys.executable, __file__, "--one", str(n_councils), str(n_boot), "--county", str(folder),
               "--save", str(save), "--baseline", baseline or "new"]
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def largest_difference(a: Path, b: Path) -> float:
    old, new = pickle.loads(a.read_bytes()), pickle.loads(b.read_bytes())
    columns = ["estimate", "ci_lower", "ci_upper", "se"]
    return max(float(np.nanmax(np.abs(x[columns].to_numpy(float) - y[columns].to_numpy(float))))
               for x, y in zip(old, new))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--county", type=Path, default=Path(tempfile.gettempdir()) / "fsp_days_in_state_county")
    parser.add_argument("--councils", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--replicates", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--baseline", default="311e046", help="commit whose multistate code is 'old'")
    parser.add_argument("--old-max-councils", type=int, default=5,
                        help="measure the old code only up to this many councils (it is slow and large)")
    parser.add_argument("--one", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        baseline = None if args.baseline == "new" else args.baseline  # "new": this version's code
        print(json.dumps(measure_one(args.county, *args.one, baseline, args.save)))
        return 0
    args.county.mkdir(parents=True, exist_ok=True)
    county_intervals(args.county)
    print(f"{'code':<6}{'councils':>9}{'children':>10}{'rows':>11}{'replicates':>11}{'CPU s':>8}{'wall s':>8}"
          f"{'peak RSS MB':>13}{'max |old-new|':>15}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for n in args.councils:
            for b in args.replicates:
                new_tables = Path(scratch) / f"new_{n}_{b}.pkl"
                runs = [("new", None, new_tables)]
                if n <= args.old_max_councils:
                    runs.insert(0, ("old", args.baseline, Path(scratch) / f"old_{n}_{b}.pkl"))
                for label, baseline, save in runs:
                    r = in_fresh_process(args.county, n, b, baseline, save)
                    diff = ""
                    if label == "new" and len(runs) == 2:
                        diff = f"{largest_difference(runs[0][2], save):.1e}"
                    print(f"{label:<6}{n:>9}{r['children']:>10,}{r['rows']:>11,}{b:>11}{r['cpu_seconds']:>8.1f}"
                          f"{r['seconds']:>8.1f}"
                          f"{r['peak_rss_mb']:>13,.0f}{diff:>15}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
