"""Write data.csv: the test data of the child-level comparison across councils (run once).

Four councils (A and B adopt on 2020-11-01 in the common-date design; in the staggered design A
adopts on 2019-11-01 and B on 2020-11-01; C and D never), ~1,200 children in families of 1-3
with a shared frailty, council baselines, a calendar-period effect and a programme effect;
whole-day durations (tied times), some delayed entry, administrative censoring.
Run: ``.venv/bin/python tests/reference/child_level_did/make_data.py``.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.comparison.child_level import adoption_design

HERE = Path(__file__).parent
COMMON = {"A": "2020-11-01", "B": "2020-11-01", "C": None, "D": None}
STAGGERED = {"A": "2019-11-01", "B": "2020-11-01", "C": None, "D": None}


def main() -> None:
    rng = np.random.default_rng(20261206)
    rows = []
    family = 0
    for council, baseline in (("A", 1.0), ("B", 1.4), ("C", 0.8), ("D", 1.2)):
        for _ in range(150):
            family += 1
            size = rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2])
            frailty = rng.gamma(2.0, 0.5)
            day0 = pd.Timestamp("2018-04-01") + pd.Timedelta(days=int(rng.integers(0, 1800)))
            for _ in range(size):
                rows.append({"council": council, "family": f"{council}{family:04d}", "time_zero": day0,
                             "baseline": baseline, "frailty": frailty})
    df = pd.DataFrame(rows)
    common = adoption_design(df, "time_zero", "council", {k: _d(v) for k, v in COMMON.items()},
                             [pd.Timestamp("2020-11-01").date()])
    staggered = adoption_design(df, "time_zero", "council", {k: _d(v) for k, v in STAGGERED.items()},
                                [pd.Timestamp("2019-11-01").date(), pd.Timestamp("2020-11-01").date()])
    after = (df["time_zero"] >= "2020-11-01").to_numpy(dtype=float)
    covid = ((df["time_zero"] >= "2020-03-23") & (df["time_zero"] < "2021-07-01")).to_numpy(dtype=float)
    lp = (np.log(df["baseline"] * df["frailty"]) + 0.2 * after - 0.4 * covid
          + np.log(1.4) * staggered["programme"].to_numpy())
    latent = np.ceil(rng.weibull(1.2, len(df)) * 300 * np.exp(-lp / 1.2))
    end = (pd.Timestamp("2023-03-31") - df["time_zero"]).dt.days.to_numpy()
    censor = np.minimum(np.ceil(rng.uniform(30, 900, len(df))), end)
    duration = np.minimum(latent, censor)
    event = (latent <= censor).astype(int)
    entry = np.where(rng.random(len(df)) < 0.15, np.floor(duration * rng.uniform(0, 0.8, len(df))), 0)
    out = pd.DataFrame({
        "council": df["council"], "family": df["family"], "time_zero": df["time_zero"].dt.date,
        "entry": entry, "duration": duration, "event": event,
        "period": common["period"], "adopted": common["adopted"].astype(int),
        "programme": common["programme"].astype(int),
        "period_staggered": staggered["period"], "programme_staggered": staggered["programme"].astype(int),
    })
    out.to_csv(HERE / "data.csv", index=False, lineterminator="\n")


def _d(value):
    return None if value is None else pd.Timestamp(value).date()


if __name__ == "__main__":
    main()
