"""A small illustrative release built from simulated children, for previews and tests.

Nothing here is real data or a result: durations are drawn at random with a
modest planted difference between cohorts, then passed through the same
disclosure control as a real run. It exercises every figure and report
section with tables of the shapes the pipeline releases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.disclosure import safe_curve, safe_model_results, suppress_counts, suppress_rates
from evaluation.disclosure.flow import release_flow
from evaluation.results import tidy

COHORTS = ("pre_fsp", "transition", "post_fsp")
COMBINATIONS = ("none", "DA", "MH", "SM", "DA+MH", "DA+SM", "MH+SM", "DA+MH+SM")
EXITS = ("step_down", "closure", "care")


def _km_steps(duration: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    times, first = np.unique(duration, return_index=True)
    n_risk = np.array([(duration >= t).sum() for t in times])
    n_event = np.array([((duration == t) & (event > 0)).sum() for t in times])
    n_censor = np.array([((duration == t) & (event == 0)).sum() for t in times])
    table = pd.DataFrame({"time": times, "n_risk": n_risk, "n_event": n_event, "n_censor": n_censor})
    for k, cause in enumerate(EXITS, start=1):
        table[f"n_event_{cause}"] = [((duration == t) & (event == k)).sum() for t in times]
    return table


def simulate_children(seed: int = 1, n: int = 900) -> pd.DataFrame:
    """Children with a cohort, a risk-factor combination, days on a plan and the exit route."""
    rng = np.random.default_rng(seed)
    cohort = rng.choice(COHORTS, n, p=[0.35, 0.4, 0.25])
    combination = rng.choice(COMBINATIONS, n, p=[0.47, 0.18, 0.1, 0.08, 0.08, 0.05, 0.03, 0.01])
    scale = np.where(cohort == "post_fsp", 260.0, np.where(cohort == "transition", 300.0, 340.0))
    days = np.ceil(rng.exponential(scale))
    censor = np.ceil(rng.uniform(60, 1100, n))
    exit_route = rng.choice([1, 2, 3], n, p=[0.5, 0.35, 0.15])
    event = np.where(days <= censor, exit_route, 0)
    return pd.DataFrame({"cohort": cohort, "combination": combination,
                         "days": np.minimum(days, censor), "exit": event})


def demo_release(seed: int = 1) -> dict[str, pd.DataFrame]:
    """Released (already safe) tables of every kind the report lays out."""
    children = simulate_children(seed)
    steps = pd.concat([_km_steps(part.days.to_numpy(), part.exit.to_numpy()).assign(cohort=name)
                       for name, part in children.groupby("cohort")])
    km = safe_curve(steps[["cohort", "time", "n_risk", "n_event", "n_censor"]], grid=91, by="cohort")
    cif = safe_curve(steps.drop(columns="n_event"), grid=91, by="cohort")

    counts = children.groupby(["cohort", "combination"]).size().rename("children").reset_index()
    full = pd.MultiIndex.from_product([COHORTS, COMBINATIONS], names=["cohort", "combination"])
    counts = counts.set_index(["cohort", "combination"]).reindex(full, fill_value=0).reset_index()
    cohort_counts = suppress_counts(counts, ["children"], ["cohort", "combination"])

    rng = np.random.default_rng(seed + 1)
    rows = []
    for combo in ("all",) + COMBINATIONS:
        part = children if combo == "all" else children[children.combination == combo]
        part = part[part.cohort.isin(["pre_fsp", "post_fsp"])]
        hr = float(np.exp(rng.normal(-0.25, 0.1)))
        se = 0.6 / np.sqrt(max(len(part), 1) / 10)
        rows.append({"outcome": "time_in_protection", "analysis": "cox", "contrast": "post_fsp vs pre_fsp",
                     "combination": combo, "term": "post_fsp", "estimate": hr,
                     "ci_lower": hr * np.exp(-1.96 * se), "ci_upper": hr * np.exp(1.96 * se),
                     "n": len(part), "events": int((part.exit > 0).sum()),
                     "method": "Cox, Efron ties, family-clustered SE"})
    hazard_ratios = safe_model_results(tidy(rows))

    rmst = safe_model_results(tidy([
        {"outcome": outcome, "analysis": "rmst", "contrast": "post_fsp vs pre_fsp", "combination": "all",
         "term": "difference", "time": 730, "estimate": est, "ci_lower": est - 40, "ci_upper": est + 40,
         "n": 600, "events": 400, "method": "RMST to 730 days"}
        for outcome, est in (("time_in_need", -90.0), ("time_in_protection", -140.0), ("time_in_care", -10.0))
    ]))

    days = pd.DataFrame([
        {"state": state, "cohort": cohort, "children": n, "mean_days": mean,
         "ci_lower": mean - 20, "ci_upper": mean + 20}
        for state, base in (("in_need", 300.0), ("protection_plan", 250.0), ("in_care", 120.0))
        for cohort, n, mean in (("pre_fsp", 310, base), ("transition", 350, base * 0.9),
                                ("post_fsp", 8, base * 0.7))
    ])
    days_in_state = suppress_rates(days, ["mean_days", "ci_lower", "ci_upper"], denominator="children")
    days_in_state = days_in_state.drop(columns="children")

    months = pd.date_range("2018-04-01", "2023-03-01", freq="MS")
    trend = 80 + 0.2 * np.arange(months.size)
    after = months >= pd.Timestamp("2020-11-01")
    level = np.where(after, -12.0, 0.0)
    observed = np.round(trend + level + rng.normal(0, 6, months.size))
    monthly = pd.DataFrame({"month": months, "count": observed, "fitted": trend + level,
                            "segment": np.where(after, "after", "before")})
    monthly["count"] = suppress_counts(monthly.assign(count=monthly["count"].astype(int)),
                                       ["count"], ["month"], margins=[])["count"].to_numpy()

    flow = release_flow(pd.DataFrame([
        (0, "start", "cin_children", "children with a CIN episode", "all", 2480, 4310),
        (1, "excluded", "no_family_link", "no family link", "all", 4, 6),
        (1, "remaining", "no_family_link", "remaining after: no family link", "all", 2476, 4304),
        (2, "excluded", "outside_window", "first referral outside the study window", "all", 1866, 3259),
        (2, "remaining", "outside_window", "remaining after: outside the window", "all", 610, 1045),
        *[(2, "remaining", "outside_window", "remaining after: outside the window", c, f, k)
          for c, f, k in (("pre_fsp", 214, 366), ("transition", 244, 417), ("post_fsp", 152, 262))],
        (3, "excluded", "no_assessment", "no assessment recorded", "all", 15, 30),
        *[(3, "excluded", "no_assessment", "no assessment recorded", c, f, k)
          for c, f, k in (("pre_fsp", 9, 16), ("transition", 4, 7), ("post_fsp", 2, 7))],
        (4, "analysed", "analysed", "families and children analysed", "all", 595, 1015),
        *[(4, "analysed", "analysed", "families and children analysed", c, f, k)
          for c, f, k in (("pre_fsp", 205, 350), ("transition", 240, 410), ("post_fsp", 150, 255))],
    ], columns=["step", "stage", "reason", "description", "cohort", "families", "children"]))
    balance = pd.DataFrame({
        "covariate": ["age_at_entry", "sex_female", "disabled", "previous_cp_plan", "domestic_abuse",
                      "mental_health", "substance_misuse", "ethnicity_white_british"],
        "smd_before": [0.21, -0.05, 0.12, 0.31, 0.18, -0.15, 0.09, 0.04],
        "smd_after": [0.03, -0.01, 0.02, 0.06, 0.04, -0.03, 0.01, 0.02],
    })
    return {
        "cohort_counts": cohort_counts,
        "km_time_in_protection": km,
        "cif_exit_from_protection": cif,
        "hazard_ratios": hazard_ratios,
        "rmst_differences": rmst,
        "days_in_state": days_in_state,
        "monthly_referrals": monthly,
        "cohort_flow": flow,
        "covariate_balance": balance,
    }
