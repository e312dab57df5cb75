"""Write the synthetic multi-state journeys that the R reference script reads.

Run from the repo root: ``.venv/bin/python tests/reference/multistate/make_inputs.py``.
Fixed seed, numpy only. Each child starts in "referral" at day 0 (or, for about
one in eight, enters late: delayed entry) and moves between referral, CIN plan,
CP plan, care and closed, with step-downs (cp_plan -> cin_plan) and re-referrals
(closed -> referral). Sojourn times are rounded to weeks so that transition
times tie with each other and with censoring; follow-up ends at a random day.
Siblings share a family frailty, and the post-FSP cohort has fewer escalations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20201101
N_FAMILIES = 190

STATES = ("referral", "cin_plan", "cp_plan", "care", "closed")

#: Daily hazards out of each state: {from: {to: rate}} (pre-FSP cohort).
HAZARDS: dict[str, dict[str, float]] = {
    "referral": {"cin_plan": 1 / 60, "cp_plan": 1 / 200, "closed": 1 / 45},
    "cin_plan": {"cp_plan": 1 / 400, "closed": 1 / 180},
    "cp_plan": {"cin_plan": 1 / 250, "care": 1 / 500, "closed": 1 / 400},
    "care": {"closed": 1 / 600},
    "closed": {"referral": 1 / 500},
}

#: Multipliers for the post-FSP cohort (fewer escalations, faster step-down).
POST_EFFECT: dict[tuple[str, str], float] = {
    ("referral", "cp_plan"): 0.6,
    ("cin_plan", "cp_plan"): 0.6,
    ("cp_plan", "care"): 0.5,
    ("cp_plan", "cin_plan"): 1.5,
}


def simulate_child(rng, start_state, entry, end, frailty, post):
    """One child's contiguous intervals from ``entry`` to censoring at ``end``."""
    rows = []
    state, t = start_state, entry
    while True:
        targets = list(HAZARDS[state])
        rates = np.array([
            HAZARDS[state][k] * (POST_EFFECT.get((state, k), 1.0) if post else 1.0)
            * (frailty if k in ("cp_plan", "care") else 1.0)
            for k in targets
        ])
        sojourn = max(7, 7 * round(rng.exponential(1 / rates.sum()) / 7))
        stop = t + sojourn
        if stop >= end:
            rows.append((t, end, state, "censored"))
            return rows
        new = targets[rng.choice(len(targets), p=rates / rates.sum())]
        rows.append((t, stop, state, new))
        state, t = new, stop


def make_intervals(seed: int = SEED) -> pd.DataFrame:
    """Return the long interval table: id, cluster, group, tstart, tstop, from_state, to_state."""
    rng = np.random.default_rng(seed)
    family_size = rng.choice([1, 1, 2, 2, 3], size=N_FAMILIES)
    group_of_family = rng.choice(["pre_fsp", "post_fsp"], size=N_FAMILIES)
    frailty_of_family = rng.gamma(2.0, 0.5, size=N_FAMILIES)
    records = []
    child = 0
    for fam, size in enumerate(family_size, start=1):
        post = group_of_family[fam - 1] == "post_fsp"
        for _ in range(size):
            child += 1
            # follow-up ends on a Monday-ish grid too, so censoring ties with events
            end = int(7 * rng.integers(15, 130))
            if rng.random() < 0.125:
                entry = int(7 * rng.integers(1, 10))
                start_state = "referral" if rng.random() < 0.6 else "cin_plan"
            else:
                entry, start_state = 0, "referral"
            for tstart, tstop, frm, to in simulate_child(
                rng, start_state, entry, end, frailty_of_family[fam - 1], post
            ):
                records.append({
                    "id": f"C{child:04d}", "cluster": f"F{fam:03d}",
                    "group": group_of_family[fam - 1], "tstart": tstart, "tstop": tstop,
                    "from_state": frm, "to_state": to,
                })
    return pd.DataFrame.from_records(records)


if __name__ == "__main__":
    frame = make_intervals()
    frame.to_csv(HERE / "intervals.csv", index=False)
    print(f"wrote {len(frame)} intervals for {frame['id'].nunique()} children "
          f"in {frame['cluster'].nunique()} families to {HERE / 'intervals.csv'}")
    print(pd.crosstab(frame["from_state"], frame["to_state"]))
