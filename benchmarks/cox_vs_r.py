"""Time the family-clustered Cox fit against R's coxph on the same simulated data.

Usage (from the repo root): ``.venv/bin/python benchmarks/cox_vs_r.py [n_rows ...]``
(default 100000 1000000). For each size: simulate children in families with
weekly-recorded (heavily tied) times, delayed entry for a third and five
covariates; write a CSV; time ``cox_ph(..., entry, cluster=family, ties="efron")``
(best of 3, whole call including robust SEs); run Rscript, which times
``coxph(Surv(entry, duration, event) ~ ..., cluster = family_id)`` with
``system.time`` around the fit only; print both, the ratio and the largest
coefficient / robust-SE differences as a correctness check.

Measured 2026-12-04 (2 shared cores, R 4.2.2 with survival 3.5.3 from Debian, another benchmark running
beside it): 100,000 rows (73,548 events, 43,183 families) 0.24 s against R's 0.74 s (R/python
3.1); 1,000,000 rows (735,457 events, 432,421 families) 2.75 s against 7.58 s (2.8). Largest
relative differences from R: coefficients 6.7e-10, robust SEs 1.4e-11. Goal (no slower than R) met.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.survival.cox import cox_ph

COVARIATES = ["post", "age", "female", "da", "sm"]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
best <- Inf
for (i in 1:3) {
  tm <- system.time(fit <- coxph(Surv(entry, duration, event) ~ post + age + female + da + sm,
                                 data = d, cluster = family_id, ties = "efron"))[["elapsed"]]
  best <- min(best, tm)
}
writeLines(toJSON(list(seconds = best, coef = unname(coef(fit)), se = unname(sqrt(diag(fit$var)))),
                  digits = NA, auto_unbox = TRUE), args[2])
"""


def simulate(n_rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_families = n_rows // 2
    family = np.sort(rng.integers(0, n_families, size=n_rows))
    post = rng.random(n_families)[family] < 0.4
    da = rng.random(n_families)[family] < 0.3
    sm = rng.random(n_families)[family] < 0.2
    frailty = rng.gamma(4.0, 0.25, size=n_families)[family]
    age = np.round(rng.uniform(0, 17, size=n_rows), 1)
    female = rng.integers(0, 2, size=n_rows)
    lin = -0.3 * post + 0.02 * age - 0.1 * female + 0.3 * da + 0.2 * sm
    event_day = np.ceil(rng.exponential(400 / (frailty * np.exp(lin))) / 7) * 7
    censor_day = np.ceil(rng.uniform(30, 1500, size=n_rows) / 7) * 7
    duration = np.minimum(event_day, censor_day)
    late = rng.random(n_rows) < 0.33
    entry = np.where(late, np.floor(rng.uniform(size=n_rows) * duration / 7) * 7, 0.0)
    entry = np.minimum(entry, duration - 1)
    return pd.DataFrame({
        "family_id": family, "post": post.astype(float), "age": age, "female": female.astype(float),
        "da": da.astype(float), "sm": sm.astype(float), "entry": entry, "duration": duration,
        "event": (event_day <= censor_day).astype(int),
    })


def time_python(d: pd.DataFrame):
    best, fit = np.inf, None
    for _ in range(3):
        start = time.perf_counter()
        fit = cox_ph(d, "duration", "event", COVARIATES, entry="entry", cluster="family_id")
        best = min(best, time.perf_counter() - start)
    return best, fit


def time_r(d: pd.DataFrame, workdir: Path) -> dict:
    csv, out, script = workdir / "data.csv", workdir / "r.json", workdir / "bench.R"
    d.to_csv(csv, index=False)
    script.write_text(R_SCRIPT)
    subprocess.run(["Rscript", str(script), str(csv), str(out)], check=True)
    return json.loads(out.read_text())


def main(sizes: list[int]) -> None:
    print(f"{'rows':>9} {'events':>8} {'families':>9} {'python s':>9} {'R s':>8} {'R/python':>9} "
          f"{'max rel coef diff':>18} {'max rel SE diff':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            d = simulate(n)
            py_seconds, fit = time_python(d)
            r = time_r(d, Path(tmp))
            coef_diff = np.max(np.abs(fit.coef - r["coef"]) / np.abs(r["coef"]))
            se_diff = np.max(np.abs(fit.se_robust - r["se"]) / np.abs(r["se"]))
            print(f"{n:>9} {int(d.event.sum()):>8} {d.family_id.nunique():>9} {py_seconds:>9.2f} "
                  f"{r['seconds']:>8.2f} {r['seconds'] / py_seconds:>9.2f} {coef_diff:>18.1e} {se_diff:>16.1e}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
