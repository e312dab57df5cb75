"""Write the synthetic monthly counts that the R reference script reads.

Run from the repo root: ``.venv/bin/python tests/reference/timeseries/make_inputs.py``.
Fixed seed, numpy only. 96 months (April 2015 – March 2023) for two local
authorities and two series: "referrals" (Poisson, child population as
exposure) and "cp_starts" (over-dispersed, gamma–Poisson, no exposure column
in the model). Both have an upward trend, seasonality (a summer dip and an
autumn peak), a dip in the first lockdown and a planted drop in level at
go-live (2020-11), with a small change of slope after it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20201101
MONTHS = pd.date_range("2015-04-01", periods=96, freq="MS")
GO_LIVE = pd.Timestamp("2020-11-01")


def make_monthly(seed: int = SEED) -> pd.DataFrame:
    """Return month, la_code, series, count, exposure."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(MONTHS))
    post = (MONTHS >= GO_LIVE).astype(float)
    since = np.where(post > 0, t - t[MONTHS == GO_LIVE][0], 0)
    season = 0.12 * np.sin(2 * np.pi * MONTHS.month / 12) - 0.08 * np.cos(2 * np.pi * MONTHS.month / 12)
    lockdown = ((MONTHS >= "2020-04-01") & (MONTHS <= "2020-06-01")).astype(float)
    records = []
    for la, base_population, base_rate in (("E10000025", 140_000, 0.0042), ("E10000016", 95_000, 0.0051)):
        population = base_population * (1 + 0.002 * t) + rng.normal(0, 200, len(t))
        log_rate = (np.log(base_rate) + 0.002 * t + season - 0.25 * lockdown
                    - 0.15 * post - 0.004 * since)
        referrals = rng.poisson(population * np.exp(log_rate))
        mean_cp = np.exp(np.log(base_rate * base_population / 12) + 0.003 * t + season - 0.3 * post - 0.2 * lockdown)
        cp_starts = rng.poisson(mean_cp * rng.gamma(25.0, 1 / 25.0, len(t)))
        for m, n_ref, n_cp, pop in zip(MONTHS, referrals, cp_starts, population):
            records.append({"month": m.date().isoformat(), "la_code": la, "series": "referrals",
                            "count": int(n_ref), "exposure": round(float(pop), 1)})
            records.append({"month": m.date().isoformat(), "la_code": la, "series": "cp_starts",
                            "count": int(n_cp), "exposure": 1.0})
    return pd.DataFrame.from_records(records)


if __name__ == "__main__":
    frame = make_monthly()
    frame.to_csv(HERE / "monthly.csv", index=False)
    print(f"wrote {len(frame)} rows to {HERE / 'monthly.csv'}")
    print(frame.groupby(["la_code", "series"])["count"].describe())
