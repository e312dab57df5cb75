"""Write the small input CSVs that make_reference.R reads (fixed seed; rerun only to change them).

children.csv: ~400 children in families of 1-4 siblings, three entry cohorts, an
age-band stratum, whole-number case weights and fractional (inverse-probability
style) weights, delayed entry for about a third, and times in whole days so that
exit times are tied. flat.csv: a tiny curve lying exactly on 0.5 over a flat
stretch (median = midpoint of the stretch).

Run from the repo root: .venv/bin/python tests/reference/km/make_inputs.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
COHORTS = ("pre_fsp", "transition", "post_fsp")


def children(seed: int = 20201101) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    family = 0
    while len(rows) < 400:
        family += 1
        size = rng.choice([1, 2, 3, 4], p=[0.3, 0.35, 0.2, 0.15])
        frailty = rng.gamma(2.0, 0.5)  # shared by siblings
        for _ in range(size):
            cohort = rng.choice(COHORTS)
            age_band = rng.choice(["0-4", "5-11", "12-17"])
            scale = {"pre_fsp": 330.0, "transition": 300.0, "post_fsp": 260.0}[cohort]
            exit_day = np.ceil(rng.weibull(1.3) * scale / frailty ** 0.7)
            censor_day = np.ceil(rng.uniform(60, 1100))
            duration = min(exit_day, censor_day)
            event = int(exit_day <= censor_day)
            entry = 0.0
            if rng.uniform() < 0.35:
                entry = float(np.floor(rng.uniform(0, 0.7) * duration))
                if entry >= duration:
                    entry = 0.0
            rows.append({
                "child_id": f"C{len(rows) + 1:04d}",
                "family_id": f"F{family:03d}",
                "cohort": cohort,
                "age_band": age_band,
                "duration": float(duration),
                "event": event,
                "entry": entry,
                "case_weight": int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])),
                "ipw": round(float(rng.uniform(0.4, 2.5)), 4),
            })
    return pd.DataFrame(rows)


def flat() -> pd.DataFrame:
    # 10 subjects: events at days 1..5 take S to exactly 0.5, a censoring at 6,
    # next event at 9: median (5 + 9) / 2 = 7.
    duration = [1, 2, 3, 4, 5, 6, 9, 12, 12, 15]
    event = [1, 1, 1, 1, 1, 0, 1, 1, 0, 0]
    return pd.DataFrame({"duration": np.array(duration, float), "event": event})


if __name__ == "__main__":
    children().to_csv(HERE / "children.csv", index=False)
    flat().to_csv(HERE / "flat.csv", index=False)
