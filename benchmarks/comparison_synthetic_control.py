"""Oxfordshire (931) synthetic control on the bundled DfE LA panel, all seven rates, with
placebo-in-space, leave-one-donor-out and in-time placebos (issue #17).

Usage: .venv/bin/python benchmarks/comparison_synthetic_control.py OUTDIR [measure ...]
Writes OUTDIR/{effects,weights,inference,placebos,leave_one_out}__<measures>.csv.
Each pysyncon fit with ~130 donors takes about 2 s (SLSQP), so the placebos for one rate take
a few minutes with the default 40-donor pool.

Measured 2026-12-06 on a loaded shared machine (two processes, 632 s and 512 s):
the Oxfordshire table is in docs/comparison_areas.md ("First results"). In brief: post/pre
RMSPE ratio and placebo p (rank/units): CLA 31 Mar 3.4, 0.68 (91/134); CLA starts 12.4, 0.18;
CPP 31 Mar 2648, 0.069; CPP starts 27885, 0.015; second+ CPP % 11.4, 0.23; referrals 153, 0.10;
re-referral % 11.9, 0.11. The huge ratios come from near-exact pre-period fits (pre-RMSPE under
0.002), and on the absolute mean post gap every p-value is 0.33 or more.
"""
import sys
import time
from pathlib import Path

from evaluation.comparison.panel import RATES, read_panel
from evaluation.comparison.synthetic import run_synthetic_control

if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    measures = sys.argv[2:] or list(RATES)
    t = time.time()
    # the settings of the figures above: no holdout, every never-adopter as a placebo unit
    # (the pipeline's defaults are holdout=2 and placebo_units="donors": assets/comparison.py)
    res = run_synthetic_control(read_panel(), measures=measures, holdout=0, placebo_units="pool")
    tag = "_".join(m.split("_")[0] + m.split("_")[1] for m in measures)
    for name, frame in res.items():
        frame.to_csv(out / f"{name}__{tag}.csv", index=False)
    print(res["inference"].to_string())
    print(f"{time.time() - t:.0f} s")
