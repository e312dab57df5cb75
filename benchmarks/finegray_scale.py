"""Fine–Gray at the scale of many councils: the scan against the finegray expansion.

Usage (from the repo root): ``.venv/bin/python benchmarks/finegray_scale.py [n_children ...]``
(default 10000 100000 1000000). For each size: simulate children with two covariates
(a 0/1 cohort and a normal score), daily-recorded times (heavily tied: ~1,800 distinct
days), three causes (the cause of interest and two competing), censoring at a uniform
reference date, delayed entry for a fifth of them and families of ~2.5 children. Each
fit runs in its own process (``resource.getrusage`` peak RSS is per process) and is timed
around the ``fine_gray`` call only; the peak RSS of the same process just before the fit
(data built) is printed too, so the fit's own memory is the difference. Fits:

* ``crr``: ``fine_gray(..., variance="crr")`` (cmprsk::crr, right-censored; scan);
* ``scan``: ``fine_gray(..., entry, cluster=family)`` — the analysis layer's model
  (finegray-weighted Cox, Breslow ties, family-robust SE, delayed entry);
* ``efron``: the same with Efron ties (coxph's default), also by the scan;
* ``expand``: the ``scan`` model through the ``survival::finegray`` expansion
  (``algorithm="expand"``), run only where the expansion has at most
  ``EXPAND_MAX_ROWS`` rows (fitting it takes ~3.5 kB a row); otherwise its row count is
  printed. Where it runs, the largest coefficient and SE differences from the scan are printed.

Target (issue #20): 1M children under 30 s and 2 GB.

Measured 2026-12-06 (10,000 rows at 06:04 UTC, the rest at 06:07 after commit bea6d1c; 2 shared cores, a full test suite running beside it; R 4.2.2 with
cmprsk 2.2.11 from Debian). Seconds are the fit alone; "peak MB" is the process's peak RSS after
the fit, "data MB" before it (Python, pandas, the simulated frame):

  children   fit      seconds  peak MB  data MB   note
  10,000     crr         0.03      173      170
  10,000     scan        0.03      174      170
  10,000     efron       0.02      174      170
  10,000     expand      3.00      566      170   fitted; scan - expansion: coef 6.0e-14, SE 8.0e-15 (rel.)
  10,000     R crr      30.87        -        -   gtol 1e-9; vs our crr: coef 1.2e-8, SE 3.0e-9 (rel.)
  100,000    crr         0.21      204      191
  100,000    scan        0.17      200      191
  100,000    efron       0.31      205      191
  100,000    expand         -        -        -   31,597,326 rows (not run: ~110 GB at 3.5 kB a row)
  100,000    R crr          -        -        -   not finished after 30 minutes (killed; an earlier run)
  1,000,000  crr         1.81      490      397
  1,000,000  scan        1.83      446      396
  1,000,000  efron       2.64      500      397
  1,000,000  expand         -        -        -   485,303,180 rows (not run)

1M children (497,339 exits of interest, 391,170 competing, 400,000 families, delayed entry for a
fifth): 1.8 s and under 0.5 GB peak RSS for the whole process (~50 MB for the fit). Target (30 s,
2 GB) met. Before bea6d1c the same script measured 2.5-3.3 s / 0.46-0.52 GB at 1M. With 25
covariates (two, 19 local-authority indicators, four normal; not part of this script) the 1M fit
took 11.0 s and 1.7 GB peak RSS for the process (1.3 GB over the data), the memory now mostly
n x p copies of the covariates.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Largest data set given to R's crr (its Fortran loops over children x failure times; at
#: 100,000 children it had not finished after 30 minutes).
R_MAX_N = 10_000
R_SCRIPT = r"""
suppressPackageStartupMessages(library(cmprsk))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
tm <- system.time(fit <- crr(d$duration, d$cause, as.matrix(d[, c("post", "score")]), failcode = "a",
                             cencode = "censored", gtol = 1e-9))
cat(sprintf('{"seconds": %.3f, "coef": [%.10f, %.10f], "se": [%.10f, %.10f]}',
            tm[["elapsed"]], fit$coef[1], fit$coef[2], sqrt(fit$var[1, 1]), sqrt(fit$var[2, 2])))
"""

#: Largest expansion fitted here (the analysis layer used to stop at 1.5M rows).
EXPAND_MAX_ROWS = 3_000_000
COVARIATES = ["post", "score"]


def simulate(n: int, seed: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    post = rng.integers(0, 2, n)
    score = rng.normal(size=n)
    lp = np.stack([0.4 * post - 0.2 * score, -0.3 * post + 0.1 * score, 0.2 * score])
    base = np.array([1 / 500, 1 / 700, 1 / 1500])[:, None]
    latent = rng.exponential(1 / (base * np.exp(lp)))  # cause-specific latent times, days
    cause_index = latent.argmin(axis=0)
    exit_day = np.ceil(latent.min(axis=0))
    censor_day = np.ceil(rng.uniform(30, 1800, n))
    cause = np.array(["a", "b", "c"])[cause_index].astype(object)
    cause[censor_day < exit_day] = "censored"
    duration = np.minimum(exit_day, censor_day)
    delayed = rng.uniform(size=n) < 0.2
    entry = np.where(delayed, np.floor(rng.uniform(size=n) * duration), 0.0)
    family = np.floor(np.arange(n) / 2.5).astype(np.int64)
    return pd.DataFrame({"duration": duration, "entry": entry, "cause": cause, "post": post, "score": score,
                         "family": family})


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(n: int, kind: str) -> dict:
    """One fit in this process: seconds, peak RSS before and after, coefficients and SEs."""
    from evaluation.survival.finegray import ExpansionTooLarge, fine_gray

    df = simulate(n)
    info = {"n": n, "kind": kind, "events": int((df["cause"] == "a").sum()),
            "competing": int(df["cause"].isin(["b", "c"]).sum()), "families": int(df["family"].nunique())}
    before = _peak_mb()
    t0 = time.perf_counter()
    try:
        if kind == "crr":
            fit = fine_gray(df, "duration", "cause", "a", COVARIATES, variance="crr")
        else:
            fit = fine_gray(df, "duration", "cause", "a", COVARIATES, entry="entry", cluster="family",
                            algorithm="expand" if kind == "expand" else "scan",
                            ties="efron" if kind == "efron" else "breslow", max_rows=EXPAND_MAX_ROWS)
    except ExpansionTooLarge as error:
        return {**info, "skipped": str(error).split(";")[0]}
    seconds = time.perf_counter() - t0
    return {**info, "seconds": seconds, "peak_before_mb": before, "peak_mb": _peak_mb(),
            "coef": fit.coef.tolist(), "se": fit.se.tolist()}


def main(sizes: list[int]) -> None:
    print(f"{'n':>9} {'fit':>6} {'seconds':>8} {'peak MB':>8} {'data MB':>8}  coef / se")
    for n in sizes:
        results = {}
        for kind in ("crr", "scan", "efron", "expand"):
            out = subprocess.run([sys.executable, __file__, "--one", str(n), kind], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{n:>9} {kind:>6} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout)
            results[kind] = r
            if "skipped" in r:
                print(f"{n:>9} {kind:>6} not run: {r['skipped']}")
                continue
            print(f"{n:>9} {kind:>6} {r['seconds']:8.2f} {r['peak_mb']:8.0f} {r['peak_before_mb']:8.0f}  "
                  f"{np.round(r['coef'], 5)} / {np.round(r['se'], 5)}   (events {r['events']:,}, "
                  f"competing {r['competing']:,}, families {r['families']:,})")
        if shutil.which("Rscript") and n <= R_MAX_N:
            with tempfile.TemporaryDirectory() as tmp:
                csv = Path(tmp) / "d.csv"
                simulate(n).to_csv(csv, index=False)
                script = Path(tmp) / "crr.R"
                script.write_text(R_SCRIPT)
                try:
                    out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True,
                                         timeout=1800)
                    r = json.loads(out.stdout)
                    dc = np.max(np.abs(np.subtract(r["coef"], results["crr"]["coef"])))
                    ds = np.max(np.abs(np.divide(r["se"], results["crr"]["se"]) - 1))
                    print(f"{n:>9} {'R crr':>6} {r['seconds']:8.2f} {'':>8} {'':>8}  {np.round(r['coef'], 5)}"
                          f" / {np.round(r['se'], 5)}   (vs crr scan: coef {dc:.1e}, relative SE {ds:.1e})")
                except (subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as error:
                    print(f"{n:>9} {'R crr':>6} failed: {type(error).__name__}")
        if "seconds" in results.get("expand", {}) and "seconds" in results.get("scan", {}):
            s, e = results["scan"], results["expand"]
            dc = np.max(np.abs(np.subtract(s["coef"], e["coef"])))
            ds = np.max(np.abs(np.divide(s["se"], e["se"]) - 1))
            print(f"{'':>9} scan vs expansion: max |coef diff| {dc:.1e}, max relative SE diff {ds:.1e}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(run_one(int(sys.argv[2]), sys.argv[3])))
    else:
        main([int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000])
