"""Write the synthetic competing-exits data that the R reference script reads.

Run from the repo root: ``.venv/bin/python tests/reference/competing/make_inputs.py``.
Fixed seed, numpy only. Durations are rounded to weeks so that event times tie
with each other and with censoring times; about a quarter of the children enter
late (delayed entry), siblings share a family id, and three cohorts differ in
their exit rates so that Gray's test has something to find.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20201101
N_FAMILIES = 260

CAUSES = ("step_down", "closure", "escalation_care", "other")


def make_children(seed: int = SEED) -> pd.DataFrame:
    """Return one row per child with duration (days), cause label, entry and covariates."""
    rng = np.random.default_rng(seed)
    family_size = rng.choice([1, 1, 1, 2, 2, 3], size=N_FAMILIES)
    family = np.repeat(np.arange(1, N_FAMILIES + 1), family_size)
    n = family.size
    cohort_of_family = rng.choice(["pre_fsp", "transition", "post_fsp"], size=N_FAMILIES, p=[0.4, 0.3, 0.3])
    cohort = cohort_of_family[family - 1]
    locality = np.where(rng.random(N_FAMILIES) < 0.5, "north", "south")[family - 1]
    domestic_abuse = (rng.random(N_FAMILIES) < 0.45).astype(int)[family - 1]
    mental_health = (rng.random(N_FAMILIES) < 0.35).astype(int)[family - 1]
    age = np.round(rng.uniform(0, 17, size=n), 1)
    post = (cohort == "post_fsp").astype(int)
    frailty = rng.gamma(4.0, 0.25, size=N_FAMILIES)[family - 1]

    # cause-specific hazards per day
    base = np.array([1 / 500, 1 / 700, 1 / 1600, 1 / 2500])
    lin = np.column_stack(
        [
            0.5 * post - 0.2 * domestic_abuse,
            0.1 * post + 0.02 * age,
            -0.6 * post + 0.5 * domestic_abuse + 0.3 * mental_health,
            0.0 * age,
        ]
    )
    rates = base * np.exp(lin) * frailty[:, None]
    latent = rng.exponential(1.0 / rates)
    event_time = latent.min(axis=1)
    which = latent.argmin(axis=1)
    censor_time = rng.uniform(60, 1100, size=n)
    duration = np.minimum(event_time, censor_time)
    cause = np.where(event_time <= censor_time, np.array(CAUSES)[which], "censored")
    duration = np.maximum(7, np.ceil(duration / 7) * 7).astype(int)

    late = rng.random(n) < 0.25
    entry = np.where(late, np.floor(rng.uniform(0, 0.8, size=n) * duration), 0).astype(int)
    entry = np.minimum(entry, duration - 1)
    risk_labels = np.where(
        domestic_abuse + mental_health == 0,
        "none",
        np.where(domestic_abuse * mental_health == 1, "DA+MH", np.where(domestic_abuse == 1, "DA", "MH")),
    )
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "family": family,
            "cohort": cohort,
            "locality": locality,
            "combination": risk_labels,
            "entry": entry,
            "duration": duration,
            "cause": cause,
            "post_fsp": post,
            "domestic_abuse": domestic_abuse,
            "mental_health": mental_health,
            "age": age,
        }
    )


def main() -> None:
    children = make_children()
    children.to_csv(HERE / "children.csv", index=False)
    print(f"wrote {len(children)} rows to {HERE / 'children.csv'}")
    print(children["cause"].value_counts().to_string())


if __name__ == "__main__":
    main()
