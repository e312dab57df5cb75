"""Write the larger tied data set for the Fine–Gray scan's R references.

Run from the repo root: ``.venv/bin/python tests/reference/competing/make_scan_inputs.py``
then ``Rscript tests/reference/competing/make_scan_reference.R``. Fixed seed, numpy only.
3,000 children in families of one to three; three exit causes (a, b, c) and censoring;
days rounded to weeks so that exits tie with each other and with censorings; a quarter
enter late (delayed entry); a case weight of 0.5, 1 or 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20261206
N = 3000


def make_scan_children(seed: int = SEED, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    family = np.sort(rng.integers(1, n // 2 + 1, n))
    x1 = rng.integers(0, 2, n)
    x2 = np.round(rng.normal(size=n), 3)
    x3 = np.round(rng.uniform(0, 17, n), 1)
    lp = np.stack([0.5 * x1 - 0.3 * x2, -0.4 * x1 + 0.02 * x3, 0.2 * x2])
    base = np.array([1 / 400, 1 / 600, 1 / 900])[:, None]
    latent = rng.exponential(1 / (base * np.exp(lp)))
    exit_week = np.ceil(latent.min(axis=0) / 7)
    censor_week = np.ceil(rng.uniform(4, 150, n))
    cause = np.array(["a", "b", "c"])[latent.argmin(axis=0)].astype(object)
    cause[censor_week < exit_week] = "censored"
    duration = 7 * np.minimum(exit_week, censor_week)
    late = rng.uniform(size=n) < 0.25
    entry = np.where(late, 7 * np.floor(rng.uniform(size=n) * duration / 7), 0.0)
    entry = np.where(entry >= duration, 0.0, entry)
    return pd.DataFrame({"id": np.arange(1, n + 1), "family": family, "entry": entry, "duration": duration,
                         "cause": cause, "x1": x1, "x2": x2, "x3": x3,
                         "case_weight": rng.choice([0.5, 1.0, 2.0], n)})


if __name__ == "__main__":
    make_scan_children().to_csv(HERE / "scan_children.csv", index=False)
    print("wrote", HERE / "scan_children.csv")
